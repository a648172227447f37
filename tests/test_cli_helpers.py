"""The command lines' helpers in process: config files, run folders, strategies, presets' commands."""

import contextlib
import json
import math
import re
import socket
import threading
import time
import types

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import mtl_zoo as mz
from mtl_zoo.cli import exit_on_bad_input
from mtl_zoo.cli.config_file import apply_config_file, read_config_file
from mtl_zoo.cli.model_dir import claim_model_dir, claimed_model_dir
from mtl_zoo.cli.models import load_trained_model
from mtl_zoo.cli.local_workers import free_ports
from mtl_zoo.cli.strategies import (check_global_batch, make_strategy, own_address, parse_tf_config,
                                    wait_for_workers)
from mtl_zoo.cli import train as train_cli
from mtl_zoo.cli.train import parse_sharing_options, parse_task_weights
from mtl_zoo.presets.card import training_command
from local_presets import write_preset


@contextlib.contextmanager
def _train_flags(*argv):
    """The training job's flags parsed from `argv` (with --model_dir=unused) inside the block."""
    train_cli.FLAGS(["train", *argv, "--model_dir=unused"])
    try:
        yield
    finally:
        train_cli.FLAGS.unparse_flags()


def _flag_values(*argv):
    values = flags.FlagValues()
    flags.DEFINE_integer("epochs", 8, "", lower_bound=1, flag_values=values)
    flags.DEFINE_list("tasks", None, "", flag_values=values)
    flags.DEFINE_bool("augment", True, "", flag_values=values)
    flags.DEFINE_enum("weighting", "equal", ["equal", "dwa"], "", flag_values=values)
    flags.DEFINE_multi_string("sharing_option", None, "", flag_values=values)
    flags.DEFINE_float("learning_rate", 1e-3, "", flag_values=values)
    flags.register_validator("learning_rate", math.isfinite, "--learning_rate must be a finite number.",
                             flag_values=values)
    values(["prog", *argv])
    return values


def test_a_config_file_sets_flags_and_the_command_line_wins(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("epochs: 3\ntasks: [a, b]\naugment: false\nweighting: dwa\n")
    values = _flag_values("--epochs=1")
    applied = apply_config_file(values, str(path), {"epochs", "tasks", "augment", "weighting"})
    assert sorted(applied) == ["augment", "tasks", "weighting"]
    assert (values.epochs, values.tasks, values.augment, values.weighting) == (1, ["a", "b"], False, "dwa")
    path.write_text("sharing_option: [task_experts=1, 'levels=[P3, P4]']\n")
    apply_config_file(values, str(path), {"sharing_option"})
    assert values.sharing_option == ["task_experts=1", "levels=[P3, P4]"]
    path.write_text("sharing_option: {beta: 0.5}\ntasks: {a: 1, b: 0.5}\n")  # mappings: name=value pairs
    values = _flag_values()
    apply_config_file(values, str(path), {"sharing_option", "tasks"})
    assert values.sharing_option == ["beta=0.5"] and values.tasks == ["a=1", "b=0.5"]
    path.write_text("tasks: [null, b]\n")  # a null item is empty (e.g. a dataset's default config)
    values = _flag_values()
    apply_config_file(values, str(path), {"tasks"})
    assert values.tasks == ["", "b"]
    json_path = tmp_path / "recipe.json"
    json_path.write_text(json.dumps({"epochs": 5}))
    values = _flag_values()
    apply_config_file(values, str(json_path), {"epochs"})
    assert values.epochs == 5


@pytest.mark.parametrize("content, message", [
    ("epoch: 3\n", "unknown flags ['epoch']"),
    ("epochs: 0\n", "bad value 0 for epochs"),
    ("weighting: dwb\n", "bad value 'dwb' for weighting"),
    ("- epochs\n", "must hold a mapping"),
    ("epochs: [3\n", "not valid YAML"),
    ("learning_rate: .nan\n", "recipe.yaml: flag --learning_rate=nan: --learning_rate must be a finite number"),
])
def test_bad_config_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply_config_file(_flag_values(), str(path), {"epochs", "tasks", "augment", "weighting", "learning_rate"})
    with pytest.raises(ValueError, match="does not exist"):
        read_config_file(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=r"\.json, \.yaml or \.yml"):
        read_config_file(str(tmp_path / "recipe.toml"))


def test_a_model_reference_that_holds_no_model_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"Model file .*missing.keras does not exist"):
        load_trained_model(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match=r"holds neither model.keras \(a training run's folder\) nor preset.json"):
        load_trained_model(str(tmp_path))
    (tmp_path / "m.h5").write_text("x")  # these two were taken for unknown preset names
    with pytest.raises(ValueError, match=r"m.h5 is a file but not a .keras model"):
        load_trained_model(str(tmp_path / "m.h5"))
    with pytest.raises(ValueError, match=r"runs/missing does not exist: give a .keras file"):
        load_trained_model(str(tmp_path / "runs" / "missing"))


def test_a_run_folder_belongs_to_one_model(tmp_path):
    run = tmp_path / "run"
    claim_model_dir(str(run), {"backbone": "tiny", "tasks": ("a",)})
    claim_model_dir(str(run), {"backbone": "tiny", "tasks": ["a"]})  # the same run resumes
    with pytest.raises(ValueError, match="backbone: 'tiny' there, 'resnet50' now"):
        claim_model_dir(str(run), {"backbone": "resnet50", "tasks": ["a"]})
    nested = tmp_path / "nested"
    claim_model_dir(str(nested), {"recipe": {"epochs": 1, "seed": 0}, "tasks": ["a"]})
    with pytest.raises(ValueError, match=r"another model or recipe \(recipe.epochs: 1 there, 2 now\): "):
        claim_model_dir(str(nested), {"recipe": {"epochs": 2, "seed": 0}, "tasks": ["a"]})
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="--model_dir .*a_file is a file: give a folder"):
        claim_model_dir(str(tmp_path / "a_file"), {"backbone": "tiny"})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="has no run.json"):
        claim_model_dir(str(tmp_path / "other"), {"backbone": "tiny"})


def test_a_run_that_fails_before_writing_anything_leaves_no_claim(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="bad option"):
        with claimed_model_dir(str(run), {"sharing_options": {"task_experts": -1}}):
            raise ValueError("bad option")
    assert not run.exists()
    with pytest.raises(ValueError, match="bad labels"):  # failed in the first epoch, before a backup
        with claimed_model_dir(str(run), {"sharing_options": {"task_experts": 1}}):
            (run / "logs" / "train").mkdir(parents=True)
            raise ValueError("bad labels")
    assert not run.exists()
    with claimed_model_dir(str(run), {"sharing_options": {"task_experts": 1}}):  # the corrected run
        (run / "backup").mkdir()
    with pytest.raises(RuntimeError):
        with claimed_model_dir(str(run), {"sharing_options": {"task_experts": 1}}):
            raise RuntimeError("killed after its first epoch")
    assert (run / "run.json").exists()  # a run with files keeps its claim, to resume
    # the same command started twice: the second stops while the first holds the folder
    # (flock locks each opening of the file, so a second one in this process stands for it)
    with claimed_model_dir(str(run), {"sharing_options": {"task_experts": 1}}):
        with pytest.raises(ValueError, match="--model_dir .*run is in use by another training job"):
            with claimed_model_dir(str(run), {"sharing_options": {"task_experts": 1}}):
                pass
        assert (run / "run.json").exists() and (run / "backup").exists()
    with claimed_model_dir(str(run), {"sharing_options": {"task_experts": 1}}):  # free again
        pass


def test_a_run_folder_on_a_filesystem_without_locks_is_used_with_a_warning(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(*_):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.warns(UserWarning, match="cannot be locked .*No locks available.*would not be stopped"):
        with claimed_model_dir(str(tmp_path / "run"), {"backbone": "tiny"}):
            (tmp_path / "run" / "backup").mkdir()
    assert (tmp_path / "run" / "run.json").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(ValueError):
        with claimed_model_dir(str(tmp_path / "kept"), {"backbone": "tiny"}):
            raise ValueError("no data")
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir())


def test_a_failed_check_of_the_data_is_one_line(capsys):
    model = mz.build_model("tiny", [mz.tasks.Classification("count", 3)], (32, 32, 3))
    model.compile(optimizer="sgd")
    with pytest.raises(SystemExit) as exit_info:
        exit_on_bad_input(lambda: model.train_on_batch(np.zeros((2, 32, 32, 3)), {"count": np.array([1, 5])}))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: The data failed a check while training or evaluating: Task 'count': class ids must lie "
        "in [0, 3) as whole numbers (or be masked out); fix the labels or num_classes.\n")

    def refuse(_):  # an error raised in code tf.data traces comes with "in user code:" lines
        raise ValueError("Task 'count': labels have shape (2, 3), expected rank 1.")

    with pytest.raises(SystemExit):
        exit_on_bad_input(lambda: tf.data.Dataset.range(2).map(refuse))
    assert capsys.readouterr().err == "error: Task 'count': labels have shape (2, 3), expected rank 1.\n"
    with pytest.raises(RuntimeError, match="not about the data"):  # other errors stay as they are
        exit_on_bad_input(lambda: (_ for _ in ()).throw(RuntimeError("not about the data")))


def test_strategies_and_global_batch_checks():
    assert make_strategy("default").num_replicas_in_sync == 1
    assert make_strategy("one_device").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="Unknown strategy 'mirored'.*'mirrored'"):
        make_strategy("mirored")
    check_global_batch(32, types.SimpleNamespace(num_replicas_in_sync=4))
    with pytest.raises(ValueError, match="global batch of 30 does not split evenly over 4 replicas"):
        check_global_batch(30, types.SimpleNamespace(num_replicas_in_sync=4))


def test_task_weights_and_training_commands():
    assert parse_task_weights(["a=1", " b = 0.5"]) == {"a": 1.0, "b": 0.5}
    with pytest.raises(ValueError, match="task=value pairs, got 'a'"):
        parse_task_weights(["a"])
    command = training_command({"epochs": 8, "augment": False, "tasks": ["a", "b"], "seed": None},
                               {"epochs": 8, "augment": True})
    assert command == "python scripts/train.py --noaugment --tasks=a,b"
    command = training_command({"sharing": "mmoe", "sharing_option": ["task_experts=1", "levels=[P3, P4]"]},
                               {"sharing": "hard", "sharing_option": None}, repeated={"sharing_option"})
    assert command == ("python scripts/train.py --sharing=mmoe --sharing_option=task_experts=1 "
                       "'--sharing_option=levels=[P3, P4]'")
    assert train_cli.repeated_flag_names() == {"sharing_option"}


def test_sharing_options_from_the_command_line():
    assert parse_sharing_options(["beta=1e-3", "levels=[P3, P4]", " task_experts = 2"]) == \
        {"beta": 1e-3, "levels": ["P3", "P4"], "task_experts": 2}
    with pytest.raises(ValueError, match="takes name=value, got 'beta'"):
        parse_sharing_options(["beta"])
    with pytest.raises(ValueError, match="not valid YAML"):
        parse_sharing_options(["levels=[P3"])
    try:
        train_cli.FLAGS(["train", "--sharing=mmoe", "--sharing_option=task_experts=1",
                         "--head_conv=separable", "--pyramid_conv=separable", "--head_channels=32",
                         "--pyramid_channels=48", "--model_dir=unused"])
        config = train_cli.architecture()
        assert config["sharing_options"] == {"task_experts": 1} and config["pyramid_conv"] == "separable"
        assert config["pyramid_channels"] == 48
        assert {task["name"]: (task.get("head_conv"), task.get("head_channels")) for task in config["tasks"]} \
            == {"action": (None, None), "objects": ("separable", 32), "pose": ("separable", 32)}
        model = mz.build_model(**config)  # what run.json and a preset hold builds the flagged model
        assert model.get_layer("pose_tower_conv1").filters == 32
        assert model.get_layer("pose_tower_conv1").input.shape[-1] == 48  # the pyramid's width
        train_cli.FLAGS.unparse_flags()
        train_cli.FLAGS(["train", "--model_dir=unused"])  # each task keeps its own width
        config = train_cli.architecture()
        assert "pyramid_channels" not in config  # the default, as older run.json files hold it
        assert [task.get("head_channels") for task in config["tasks"]] == [None, 64, 64]
        train_cli.FLAGS.unparse_flags()
        train_cli.FLAGS(["train", "--sharing=soft", "--sharing_option=task_experts=1"])
        assert train_cli.FLAGS.pyramid_conv == "standard"  # independent of --head_conv
        with pytest.raises(ValueError, match=r"Unknown sharing_options \['task_experts'\] for scheme 'soft'"):
            train_cli.architecture()
    finally:
        train_cli.FLAGS.unparse_flags()


def test_help_lists_the_flags_of_the_command_and_of_its_datasets():
    # absl's --help lists the main module's flags (sys.argv[0]'s): a script or an entry point,
    # which defines none; it only said "Try --helpfull"
    from mtl_zoo.cli import _show_flags_in_help

    _show_flags_in_help()  # as run_command does before app.run
    shown = flags.FLAGS.main_module_help()
    assert "--frozen_backbone_epochs" in shown and "--dataset_config" in shown and "--verbosity" not in shown


def test_a_learning_rate_that_is_not_finite_is_refused():
    # a learning rate of nan trained a model of NaN weights whose decoding then crashed
    for value in ("nan", "inf"):
        with pytest.raises(flags.IllegalFlagValueError, match="--learning_rate must be a finite number"):
            train_cli.FLAGS(["train", f"--learning_rate={value}", "--model_dir=unused"])
        train_cli.FLAGS.unparse_flags()


@pytest.mark.parametrize("argv, message", [
    (["--tasks=action,posture"], r"Unknown task of dataset 'mtl_shapes' 'posture'. Did you mean 'pose'"),
    (["--dataset=mnist"], r"Unknown dataset 'mnist'. Did you mean 'multi_mnist'"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--backbone=tiny"], r"--preset fixes the architecture"),
    (["--pretrained"], r"--pretrained loads a preset's weights: give --preset too"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--tasks=objects,segmentaton"],
     r"Unknown task of dataset 'mtl_shapes' 'segmentaton'. Did you mean 'segmentation'.* The tasks of "
     r"preset 'mtl_shapes_tiny_cls_det_pose' \(action, objects, pose\) are also valid"),
    (["--freeze_trunk"], r"--freeze_trunk keeps a preset's trained trunk as it is: give --preset and --pretrained"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--aggregator=PCGrad",
      "--weighting=gradnorm"],
     r"--freeze_trunk freezes .* whose task gradients --aggregator=PCGrad and --weighting=gradnorm would "
     r"balance: give --frozen_epochs=N .* or drop --freeze_trunk or --aggregator and --weighting\."),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--aggregator=PCGrad"],
     r"--freeze_trunk freezes the parameters that the preset's tasks share for the whole run, whose task "
     r"gradients --aggregator=PCGrad would balance: give --frozen_epochs=N .* or drop --freeze_trunk or "
     r"--aggregator\."),
    (["--frozen_epochs=2"], r"--frozen_epochs says how long --freeze_trunk keeps the trunk frozen: give --freeze_trunk"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--frozen_backbone_epochs=2"],
     r"--frozen_backbone_epochs keeps the backbone frozen longer than the rest of the trunk: give "
     r"--freeze_trunk and --frozen_epochs too"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--frozen_epochs=2",
      "--frozen_backbone_epochs=2"], r"--frozen_backbone_epochs=2 must exceed --frozen_epochs=2"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--frozen_epochs=2",
      "--frozen_backbone_epochs=8"], r"--frozen_backbone_epochs=8 leaves no epoch of --epochs=8 to train the backbone"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--unfrozen_learning_rate_factor=0.1"],
     r"--unfrozen_learning_rate_factor sets the learning rate once --frozen_epochs have passed: give "
     r"--freeze_trunk and --frozen_epochs too"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--frozen_epochs=2",
      "--unfrozen_learning_rate_factor=inf"], r"--unfrozen_learning_rate_factor must be a finite number > 0, got inf"),
    (["--preset=mtl_shapes_tiny_cls_det_pose", "--pretrained", "--freeze_trunk", "--frozen_epochs=8"],
     r"--frozen_epochs=8 leaves no epoch of --epochs=8 to train the trunk"),
])
def test_bad_model_flags_are_named(argv, message):
    with _train_flags(*argv), pytest.raises(ValueError, match=message):
        train_cli.check_freeze_trunk()  # as train() checks them, before the architecture
        train_cli.architecture()


@pytest.mark.parametrize("text, message", [
    ("{cluster", "not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
    ('{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}}', "job types ['ps']"),
    ('{"cluster": {"worker": ["h"]}, "task": {"type": "worker", "index": 0}}', "'host:port' strings"),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}', "not one of"),
])
def test_malformed_tf_config_is_named(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_tf_config(text)
    assert parse_tf_config('{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, '
                           '"task": {"type": "worker", "index": 0}}') == (["a:1", "b:2"], "worker", 0)


def test_workers_wait_for_each_other_in_any_start_order():
    addresses = [f"127.0.0.1:{port}" for port in free_ports(3)]
    errors, servers, done = [], [], threading.Event()

    def worker(index, delay):
        time.sleep(delay)
        try:
            wait_for_workers(addresses, addresses[index], timeout=20)
        except ValueError as error:
            errors.append(error)
        with socket.socket() as server:  # stands in for TensorFlow's server, which takes the port next
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", int(addresses[index].rpartition(":")[2])))
            server.listen()
            servers.append(index)
            done.wait(30)

    threads = [threading.Thread(target=worker, args=(index, delay)) for index, delay in enumerate((0, 1.0, 0.5))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(servers) + len(errors) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    for thread in threads:
        thread.join(30)
    assert not errors and sorted(servers) == [0, 1, 2]  # each port was free again for its server


def test_a_worker_that_never_comes_up_is_a_timeout_error():
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    start = time.monotonic()
    with pytest.raises(ValueError, match=re.escape(f"Workers ['{addresses[1]}'] did not come up within 1 s")):
        wait_for_workers(addresses, addresses[0], timeout=1)
    assert time.monotonic() - start < 10
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        holder.listen()
        with pytest.raises(ValueError, match=f"address {taken} .*cannot be bound"):
            wait_for_workers([taken, addresses[1]], taken, timeout=1)
    assert own_address(["c:1", "w:2", "w:3"], "worker", 1, has_chief=True) == "w:3"
    assert own_address(["w:2", "w:3"], "worker", 1, has_chief=False) == "w:3"
    assert own_address(["c:1", "w:2"], "chief", 0, has_chief=True) == "c:1"


def test_train_reports_bad_input_in_one_line_wherever_it_is_found(tmp_path, monkeypatch, train_exit):
    """Bad input found at each stage of a training job (flag checks, data, the run folder,
    model building, the cluster) ends it with one `error: ...` line and exit 2 and leaves
    nothing behind; test_train_script checks the same line in a process of its own."""
    monkeypatch.chdir(tmp_path)
    tfds_dir = f"--data_dir={tmp_path / 'tfds'}"
    code, line = train_exit("--epoch=3")
    assert (code, line) == (2, "error: Unknown command line flag 'epoch'. Did you mean --epochs? `--help` lists "
                               "the flags.")
    code, line = train_exit("--backbone=resnet5", "--model_dir=x")
    assert code == 2 and line.startswith("error: Unknown backbone 'resnet5'") and "resnet50" in line
    code, line = train_exit("--task_weights=pose=0.5", "--weighting=dwa", "--model_dir=x")
    assert code == 2 and line.startswith("error: --task_weights sets fixed alphas, which --weighting=dwa "
                                         "replaces as it trains")
    (tmp_path / "empty").mkdir()
    code, line = train_exit("--dataset=multi_mnist", "--dataset_config=test_set_only",
                             f"--manual_dir={tmp_path / 'empty'}", tfds_dir, "--model_dir=m")
    assert code == 2 and line.startswith("error: ") and "t10k-images-idx3-ubyte.gz" in line
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"dataset": "mtl_shapes", "dataset_config": None,
                                                "preset": None, "architecture": {"backbone": "resnet50"},
                                                "uncertainty_weighting": False}))
    code, line = train_exit(f"--model_dir={other}")
    assert code == 2 and "holds the checkpoint of another model" in line and "architecture" in line
    # found only while building the model: the folder it had claimed is released
    code, line = train_exit("--sharing=mmoe", "--sharing_option=task_experts=-1",
                             "--dataset_config=small", "--max_train_examples=16", "--max_val_examples=8",
                             "--image_size=32", tfds_dir, "--model_dir=built")
    assert code == 2 and "task_experts must be an integer >= 0" in line
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": workers},
                                                "task": {"type": "worker", "index": 0}}))
    code, line = train_exit("--strategy=multi_worker", "--worker_timeout=1",
                             "--model_dir=mw")
    assert code == 2 and "did not come up within 1 s" in line and "--worker_timeout" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "other", "tfds"]
    assert [path.name for path in other.iterdir()] == ["run.json"]


def test_prepare_data_only_builds_the_datasets_and_trains_nothing(tmp_path, monkeypatch, train_exit):
    # what scripts/local_workers.py runs before it starts the workers, which would otherwise
    # all build the same dataset at once
    monkeypatch.chdir(tmp_path)
    code, line = train_exit("--prepare_data_only", "--dataset_config=small", f"--data_dir={tmp_path / 'tfds'}",
                            "--model_dir=run")
    assert code is None, line
    assert "mtl_shapes train: 600 examples ready." in train_exit.stdout  # the small config's splits
    assert "mtl_shapes validation: 100 examples ready." in train_exit.stdout
    assert list((tmp_path / "tfds").iterdir()) and not (tmp_path / "run").exists()


def _uncertainty_preset(folder, weighting=True):
    """A preset whose config trains with uncertainty `weighting` (True or a dict), with
    weights whose learned log-variances are 0.5 (shape) and -0.25 (color) where it has them."""
    tasks = [{"kind": "classification", "name": "shape", "num_classes": 3},
             {"kind": "classification", "name": "color", "num_classes": 2}]

    def trained(model):
        first_conv = model.get_layer("tiny_backbone").weights[0]
        first_conv.assign(np.full(first_conv.shape, 0.01, "float32"))
        for name, value in [("shape", 0.5), ("color", -0.25)]:
            if name in model._log_variances:
                model._log_variances[name].assign(value)

    return write_preset(folder, "uw", {"backbone": "tiny", "input_shape": [32, 32, 3], "tasks": tasks,
                                       "uncertainty_weighting": weighting}, trained)


def _log_variances(model):
    return {name: round(float(variable.numpy()), 4) for name, variable in model._log_variances.items()}


def test_a_preset_config_with_uncertainty_weighting_builds_as_the_flags_say(tmp_path):
    preset = _uncertainty_preset(tmp_path / "uw")
    first_conv = mz.from_preset(preset).get_layer("tiny_backbone").weights[0].numpy()
    for given, expected in [([], {"color": 0.0, "shape": 0.0}), (["--weighting=equal"], {}),
                            # --pretrained: the trained weights, and the log-variances when kept
                            (["--pretrained"], {"color": -0.25, "shape": 0.5}),
                            (["--pretrained", "--weighting=equal"], {}),
                            (["--pretrained", "--tasks=color"], {"color": -0.25})]:
        weighting = "--weighting=equal" if "--weighting=equal" in given else "--weighting=uncertainty"
        with _train_flags(f"--preset={preset}", weighting, *given):
            model = train_cli.build_flagged_model(train_cli.architecture())
        assert _log_variances(model) == expected, given
        trunk = model.get_layer("tiny_backbone").weights[0].numpy()
        assert np.array_equal(trunk, first_conv) == ("--pretrained" in given), given
    # a preset that learned the weight of one task: under --weighting=uncertainty every task
    # learns its weight, as without a preset, whichever tasks --tasks keeps
    one = _uncertainty_preset(tmp_path / "one", {"shape": "classification"})
    for given, expected in [([], {"color": 0.0, "shape": 0.5}), (["--tasks=color"], {"color": 0.0})]:
        with _train_flags(f"--preset={one}", "--pretrained", "--weighting=uncertainty", *given):
            model = train_cli.build_flagged_model(train_cli.architecture())
        assert _log_variances(model) == expected, given


def test_a_pretrained_preset_takes_other_tasks_of_the_dataset_on_its_trunk():
    preset = "mtl_shapes_tiny_cls_det_pose"
    with _train_flags(f"--preset={preset}", "--pretrained", "--tasks=objects,segmentation", "--image_size=64"):
        config = train_cli.architecture()
        model = train_cli.build_flagged_model(config)
    preset_config = mz.presets.load_preset(preset)[0]["config"]
    assert config["tasks"][0] == preset_config["tasks"][1]  # the preset's objects task
    assert config["tasks"][1]["kind"] == "segmentation" and config["backbone"] == "tiny"
    assert model.input_shape == (None, 64, 64, 3)
    assert json.loads(json.dumps(config)) == config  # run.json holds it as it is
    trained = mz.from_preset(preset)
    for layer in ("tiny_backbone", "pyramid_P3_smooth", "objects_heatmap"):
        for new, old in zip(model.get_layer(layer).get_weights(), trained.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(new, old)
    assert model.task_names == ["objects", "segmentation"]


def test_freeze_trunk_on_a_preset_it_cannot_split_is_refused_before_anything_loads(tmp_path):
    preset = write_preset(tmp_path / "one", "one", {"backbone": "tiny", "input_shape": [32, 32, 3], "tasks": [
        {"kind": "classification", "name": "digit", "num_classes": 10}]})
    with _train_flags(f"--preset={preset}", "--pretrained", "--freeze_trunk"), pytest.raises(
            ValueError, match=r"has one task \('digit'\): its trunk cannot be told from its head, so "
                              r"--freeze_trunk has nothing to freeze\. Drop --freeze_trunk"):
        train_cli.check_freeze_trunk()
    tasks = [{"kind": "classification", "name": "digit", "num_classes": 10},
             {"kind": "classification", "name": "parity", "num_classes": 2}]
    mtan = write_preset(tmp_path / "mtan", "mtan", {"backbone": "tiny", "input_shape": [32, 32, 3], "tasks": tasks,
                                                    "sharing": "mtan"})
    with _train_flags(f"--preset={mtan}", "--pretrained", "--freeze_trunk", "--frozen_epochs=1",
                      "--frozen_backbone_epochs=2"), pytest.raises(
            ValueError, match=r"--frozen_backbone_epochs unfreezes the backbone layer of the preset's model, which "
                              r"mtan sharing has not \(it holds the backbone's stages or copies\)"):
        train_cli.check_freeze_trunk()


def test_task_balancing_flags_balance_the_job_model_and_leave_baselines_out():
    with _train_flags("--aggregator=PCGrad", "--weighting=gradnorm"):
        aggregator, callbacks = train_cli.task_balancing(baseline=False)
        assert isinstance(aggregator, mz.weighting.PCGrad) and [type(c) for c in callbacks] == [mz.weighting.GradNorm]
        assert train_cli.task_balancing(baseline=True) == (None, [])  # one loss: nothing to balance
    with _train_flags("--aggregator=PCgrad"), pytest.raises(ValueError, match="Did you mean 'PCGrad'"):
        train_cli.task_balancing(baseline=False)


def test_freeze_trunk_freezes_the_preset_trunk_of_the_model_and_of_its_baselines():
    preset = "mtl_shapes_tiny_cls_det_pose"
    with _train_flags(f"--preset={preset}", "--pretrained", "--freeze_trunk", "--frozen_epochs=3",
                      "--tasks=action,segmentation", "--aggregator=PCGrad", "--weighting=gradnorm",
                      "--unfrozen_learning_rate_factor=0.1"):
        train_cli.check_freeze_trunk()  # the aggregator and GradNorm balance the trunk once it is unfrozen
        config = train_cli.architecture()
        model = train_cli.build_flagged_model(config)
        baseline = train_cli.build_flagged_model(config, tasks=[config["tasks"][1]])
        identity = train_cli.run_identity(config)
    trained = mz.from_preset(preset)
    # segmentation reads a new P2 level of the pyramid, fresh and trained (not P3_smooth)
    trunk = ["tiny_backbone", "pyramid_P5_lateral", "pyramid_P4_lateral", "pyramid_P3_lateral"]
    for built in (model, baseline):  # the baseline (segmentation alone) starts from the preset's trunk too
        assert [layer.name for layer in built.layers if layer.weights and not layer.trainable] == trunk
        assert built.get_layer("pyramid_P2_smooth").trainable
        for new, old in zip(built.get_layer("tiny_backbone").get_weights(),
                            trained.get_layer("tiny_backbone").get_weights()):
            np.testing.assert_array_equal(new, old)
    assert baseline.task_names == ["segmentation"]
    assert identity["recipe"]["freeze_trunk"] is True and identity["recipe"]["frozen_epochs"] == 3
    assert identity["recipe"]["unfrozen_learning_rate_factor"] == 0.1


def test_frozen_backbone_epochs_unfreeze_the_rest_of_the_trunk_first_then_the_backbone():
    preset = "mtl_shapes_tiny_cls_det_pose"
    with _train_flags(f"--preset={preset}", "--pretrained", "--freeze_trunk", "--frozen_epochs=2",
                      "--frozen_backbone_epochs=4", "--unfrozen_learning_rate_factor=0.1", "--tasks=action,pose"):
        train_cli.check_freeze_trunk()
        config = train_cli.architecture()
        stages = {}
        for tasks in (None, config["tasks"][:1]):  # the job's model, and the action baseline
            model = train_cli.build_flagged_model(config, tasks)
            model.compile(optimizer="adam")
            stages[model.task_names[-1]] = [(stage.layers, stage.epoch, stage.lowers_rate)
                                            for stage in train_cli.unfreezing_stages(model)]
        identity = train_cli.run_identity(config)
    pyramid = ["pyramid_P5_lateral", "pyramid_P4_lateral", "pyramid_P3_lateral", "pyramid_P3_smooth"]
    # the rest of the trunk at epoch 2, with the lower rate, then the backbone at epoch 4
    assert stages["pose"] == [(pyramid, 2, True), (["tiny_backbone"], 4, False)]
    # the classification baseline's frozen trunk is its backbone: its rate drops when it trains
    assert stages["action"] == [(["tiny_backbone"], 4, True)]
    assert identity["recipe"]["frozen_backbone_epochs"] == 4


def test_a_preset_task_that_the_dataset_labels_otherwise_gets_a_fresh_head(capsys):
    preset = "mtl_shapes_tiny_cls_det_pose"
    with _train_flags(f"--preset={preset}", "--dataset=coco", "--tasks=objects,labels"):
        config = train_cli.architecture()
    with _train_flags(f"--preset={preset}", "--tasks=objects,objects"), pytest.raises(
            ValueError, match=r"--tasks names \['objects'\] more than once"):
        train_cli.architecture()
    assert [(task["name"], task["kind"]) for task in config["tasks"]] == [("objects", "detection"),
                                                                         ("labels", "multilabel")]
    assert config["tasks"][0]["num_classes"] == 80  # COCO's, not the preset's 4
    assert ("Task 'objects': preset mtl_shapes_tiny_cls_det_pose has {'kind': 'detection', 'num_classes': 4}, "
            "--dataset=coco {'kind': 'detection', 'num_classes': 80}: it gets a fresh head.") in capsys.readouterr().out
    assert train_cli.preset_arguments(mz.presets.load_preset(preset)[0], config)["tasks"] == config["tasks"]


def test_a_preset_task_whose_classes_the_dataset_names_otherwise_gets_a_fresh_head(tmp_path, monkeypatch, capsys):
    # a source of one's own with an "action" task of the preset's 6 classes, other ones
    (tmp_path / "dances_source.py").write_text(
        "import mtl_zoo as mz\n"
        "def tasks():\n"
        "    return [mz.tasks.Classification('action', 6, class_names=['waltz', 'tango', 'salsa', "
        "'polka', 'samba', 'rumba'])]\n"
        "def load(split, data_dir=None, download=True):\n"
        "    raise AssertionError('not loaded')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    preset = "mtl_shapes_tiny_cls_det_pose"
    with _train_flags(f"--preset={preset}", "--dataset=dances_source", "--tasks=action"):
        config = train_cli.architecture()
    assert config["tasks"][0]["class_names"][0] == "waltz"
    assert ("Task 'action': preset mtl_shapes_tiny_cls_det_pose has class_names ['standing', 'arms_up', "
            "'arms_out', 'waving', 'kicking', 'squatting'], --dataset=dances_source class_names ['waltz', "
            "'tango', 'salsa', 'polka', 'samba', 'rumba']: it gets a fresh head.") in capsys.readouterr().out
    assert train_cli.preset_arguments(mz.presets.load_preset(preset)[0], config)["tasks"] == config["tasks"]


def test_the_command_lines_refuse_output_paths_that_are_not_local(tmp_path):
    from mtl_zoo.cli import export as export_cli
    from mtl_zoo.cli import make_preset as make_preset_cli

    local_only = r"is not a local path; only local paths are supported: .*copy the result afterwards"
    cases = [(train_cli.train, ["--model_dir=gs://bucket/runs/a"], "--model_dir 'gs://bucket/runs/a'"),
             (export_cli.export_flagged_model, ["--model=m.keras", "--export_dir=s3://bucket/e"],
              "--export_dir 's3://bucket/e'"),
             (export_cli.export_flagged_model, ["--model=m.keras", f"--export_dir={tmp_path}",
                                                "--tflite=hdfs://host/m.tflite"], "--tflite 'hdfs://host/m.tflite'"),
             (make_preset_cli.make_preset, ["--run_dir=r", "--preset_dir=gs://b/p", "--description=d",
                                            "--training_data=t"], "--preset_dir 'gs://b/p'")]
    for job, argv, named in cases:
        try:
            train_cli.FLAGS(["prog", *argv])
            with pytest.raises(ValueError, match=re.escape(named) + " " + local_only):
                job()  # before anything is loaded or written (m.keras and r do not exist)
        finally:
            train_cli.FLAGS.unparse_flags()
    assert list(tmp_path.iterdir()) == []
