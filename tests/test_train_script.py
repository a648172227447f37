"""The command lines end to end on tiny settings: train, evaluate, export, resume, bad input."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "scripts"
TINY = ("--dataset_config=small", "--max_train_examples=48", "--max_val_examples=16",
        "--image_size=64", "--batch_size=16")


def _run(script, *flags, cwd, env=None):
    return subprocess.run([sys.executable, str(SCRIPTS / script), *flags], cwd=cwd,
                          capture_output=True, text=True, timeout=900, env=env)


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, last


@pytest.mark.slow
def test_train_evaluate_and_export_scripts_end_to_end(tmp_path):
    # as users run them: without the conftest's TF_ENABLE_ONEDNN_OPTS=0, so on oneDNN kernels
    users_env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    data_dir, run = f"--data_dir={tmp_path / 'tfds'}", tmp_path / "run"
    result = _run("train.py", *TINY, "--epochs=2", "--weighting=dwa", data_dir,
                  f"--model_dir={run}", cwd=tmp_path, env=users_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| objects | AP50 |" in result.stdout
    assert "I1202" not in result.stderr and "Assets written" not in result.stderr  # no INFO noise
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"action_accuracy", "objects_loss", "pose_loss"} <= set(metrics["validation"])
    assert {"AP", "AP50"} <= set(metrics["evaluation"]["objects"])
    assert metrics["flags"]["dataset"] == ["mtl_shapes"] and metrics["flags"]["epochs"] == 2
    assert len(metrics["history"]["alpha_pose"]) == 2  # DWA's weights, epoch by epoch
    assert sum(metrics["history"]["alpha_pose"][-1:] + metrics["history"]["alpha_action"][-1:]
               + metrics["history"]["alpha_objects"][-1:]) == pytest.approx(3.0, rel=1e-5)
    assert list((run / "logs").iterdir()), "no TensorBoard logs"
    for plot in ("losses", "task_weights", "predictions"):
        png = (run / "plots" / f"{plot}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
    model = mz.load_model(run / "model.keras")
    assert model.task_names == ["action", "objects", "pose"]
    assert not (run / "backup").exists()  # kept until the job's files are written

    served = tf.saved_model.load(metrics["export"])
    images = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    outputs = served.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["action_probabilities"].numpy(),
                               model.predict_decoded(images)["action"]["probabilities"], atol=1e-5)

    result = _run("export.py", f"--model={run / 'model.keras'}",
                  f"--export_dir={tmp_path / 'exports'}", "--version=7", "--resize=letterbox", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "objects_boxes" in result.stdout and "images letterboxed to the model input" in result.stdout
    reloaded = tf.saved_model.load(str(tmp_path / "exports" / "7"))
    assert set(reloaded.signatures) == {"serving_default", "serving_bytes", "serving_raw"}
    assert reloaded.resize.numpy() == b"letterbox"

    result = _run("make_preset.py", f"--run_dir={run}", f"--preset_dir={tmp_path / 'shapes_e2e'}",
                  "--description=A two-epoch test run.", "--training_data=48 small mtl_shapes images.",
                  "--limitation=Barely trained.", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    card = (tmp_path / "shapes_e2e" / "README.md").read_text()
    assert "python scripts/train.py --batch_size=16 --dataset_config=small --epochs=2" in card
    assert f"| action | accuracy | {metrics['evaluation']['action']['accuracy']:.3f} |" in card
    np.testing.assert_allclose(mz.from_preset(str(tmp_path / "shapes_e2e")).predict(images, verbose=0)[
        "action_logits"], model.predict(images, verbose=0)["action_logits"], atol=1e-6)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_epoch(tmp_path, monkeypatch, train_exit):
    # one task: what is resumed is the run, whatever its tasks
    flags = [*TINY, "--tasks=action", "--epochs=3", "--plots=false", "--export=false",
             f"--data_dir={tmp_path / 'tfds'}", f"--model_dir={tmp_path / 'run'}"]
    job = subprocess.Popen([sys.executable, "-u", str(SCRIPTS / "train.py"), *flags], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    for line in job.stdout:  # epoch 2 starts only after epoch 1's backup is written
        seen.append(line)
        if line.startswith("Epoch 2/3"):
            job.send_signal(signal.SIGKILL)
            break
    job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL, "".join(seen)
    assert not (tmp_path / "run" / "model.keras").exists()

    # the backup resumes only with the recipe it was trained with (in this process: the refusal
    # comes before any data is read; the one-line error of a process is checked below)
    monkeypatch.chdir(tmp_path)
    code, line = train_exit(*flags, "--learning_rate=0.01")
    assert code == 2 and "holds the checkpoint of another model or recipe" in line and "learning_rate" in line
    result = _run("train.py", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Epoch 1/3" not in result.stdout and "Epoch 2/3" in result.stdout
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert len(history["loss"]) == 3  # epoch 1 from the backup, then the two this run trained

    # the resumed epochs trained on the batches of an uninterrupted run (epoch-indexed data)
    whole = _run("train.py", *flags[:-1], f"--model_dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    uninterrupted = json.loads((tmp_path / "whole" / "metrics.json").read_text())["history"]
    np.testing.assert_allclose(history["loss"], uninterrupted["loss"], rtol=1e-4)


@pytest.mark.slow
def test_config_file_flags_and_single_task_baselines(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("tasks: [action, objects]\nepochs: 3\nlearning_rate: 0.003\n"
                      "task_weights: [objects=0.5]\nstrategy: mirrored\nhead_conv: separable\n"
                      "pyramid_conv: separable\n")
    result = _run("train.py", f"--config={config}", "--epochs=1", *TINY, "--plots=false",
                  "--export=false", "--single_task_baselines", f"--data_dir={tmp_path / 'tfds'}",
                  f"--model_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["flags"]["epochs"] == 1  # the command line wins over the file
    assert metrics["flags"]["learning_rate"] == 0.003 and metrics["flags"]["tasks"] == ["action", "objects"]
    assert metrics["flags"]["strategy"] == "mirrored" and "1 replica(s)" in result.stdout
    assert metrics["history"]["alpha_objects"] == [0.5]
    assert set(metrics["baselines"]) == {"action", "objects"}
    assert "accuracy" in metrics["baselines"]["action"] and "AP" in metrics["baselines"]["objects"]
    single = mz.load_model(tmp_path / "run" / "baselines" / "objects" / "model.keras")
    assert single.task_names == ["objects"]
    assert isinstance(single.get_layer("pyramid_P3_smooth_depthwise"), keras.layers.DepthwiseConv2D)
    assert not list(tmp_path.glob("run/**/backup"))
    assert isinstance(single.get_layer("objects_tower_conv1"), keras.layers.SeparableConv2D)
    # delta_m recomputed by hand from the recorded headline metrics
    action, objects = metrics["evaluation"]["action"]["accuracy"], metrics["evaluation"]["objects"]["AP"]
    base_action, base_objects = metrics["baselines"]["action"]["accuracy"], metrics["baselines"]["objects"]["AP"]
    if base_action > 0 and base_objects > 0:
        expected = ((action - base_action) / base_action + (objects - base_objects) / base_objects) / 2
        assert metrics["delta_m"] == pytest.approx(expected)
    else:  # one epoch on 48 images can leave a baseline at 0: the relative gain is undefined
        assert metrics["delta_m"] is None and "is 0" in metrics["delta_m_undefined"]
    assert "delta_m (Maninis et al. 2019)" in result.stdout
    assert f"Model and metrics written to {tmp_path / 'run'}" in result.stdout  # no plots, no export
    # `mtl-zoo evaluate` on the run folder reproduces the job's own evaluation, and gives each
    # single-task baseline the labels of its own task only
    run = tmp_path / "run"
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "mtl-zoo"), "evaluate", f"--model={run}",
                             f"--baselines={run / 'baselines' / 'action'},{run / 'baselines' / 'objects'}",
                             *TINY[:1], "--max_examples=16", "--batch_size=16", f"--data_dir={tmp_path / 'tfds'}",
                             f"--output={tmp_path / 'eval.json'}"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert evaluation["split"] == "validation" and evaluation["examples"] == 16
    flat = mz.evaluation.flatten_results
    assert flat(evaluation["evaluation"]) == pytest.approx(flat(metrics["evaluation"]))
    assert flat(evaluation["baselines"]) == pytest.approx(flat(metrics["baselines"]))
    if metrics["delta_m"] is None:  # undefined: recorded, not an error that loses the evaluation
        assert evaluation["delta_m"] is None and "is 0" in evaluation["delta_m_undefined"]
    else:
        assert evaluation["delta_m"] == pytest.approx(metrics["delta_m"])


@pytest.mark.slow
def test_scripts_report_bad_input_in_one_line(tmp_path):
    # One case per script and failure point that only a process of its own shows (absl's flag
    # checks, arguments that are not flags, loading, the `mtl-zoo` entry point); train.py's
    # failures while it runs are checked in process (test_cli_helpers), as are the messages
    # of the other checks (test_export's TFLite paths, test_presets' unknown names).
    # (the other --model errors: test_cli_helpers)
    (tmp_path / "not_a_run").mkdir()
    (tmp_path / "not_a_run" / "run.json").write_text("[]")
    _assert_one_line_error(_run("evaluate.py", f"--model={tmp_path / 'not_a_run'}", cwd=tmp_path),
                           "run.json names no datasets (it is not a training run's record): give --dataset")
    _assert_one_line_error(_run("export.py", "--model=m.keras", "--export_dir=e", "--version=abc",
                                cwd=tmp_path), "error: flag --version=abc", "`--help` lists the flags")
    _assert_one_line_error(_run("train.py", "--model_dir=x", "extra", cwd=tmp_path),
                           "Unexpected arguments: ['extra']")
    # a model whose tasks the dataset does not label
    _assert_one_line_error(_run("evaluate.py", "--model=multi_mnist_tiny_cls_det", "--dataset_config=small",
                                "--max_examples=8", f"--data_dir={tmp_path / 'tfds'}", cwd=tmp_path),
                           "tasks ['left', 'right', 'digits'] are not labels of dataset 'mtl_shapes'")
    # a bad baseline, found before the model's evaluation (it used to come after it, as an unknown preset)
    _assert_one_line_error(_run("evaluate.py", "--model=mtl_shapes_tiny_cls_det_pose", "--dataset_config=small",
                                f"--baselines={tmp_path / 'missing'}", f"--data_dir={tmp_path / 'tfds'}",
                                cwd=tmp_path), "missing does not exist: give a .keras file, a training run's folder")
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "mtl-zoo"), "trian"],
                            capture_output=True, text=True, timeout=120)
    _assert_one_line_error(result, "Unknown command 'trian'", "'train'")
    assert not (tmp_path / "x").exists() and not (tmp_path / "e").exists()
    assert not (tmp_path / "tfds").exists()  # the model was refused before its dataset was built
