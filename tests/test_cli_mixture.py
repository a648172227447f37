"""The command lines on several datasets at once (`--dataset=a,b`): each task learned and
evaluated on the images of the dataset that labels it."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import counts_source
import mtl_zoo as mz
from mtl_zoo.cli import train as train_cli
from mtl_zoo.data import raw_batches
from mtl_zoo.evaluation import evaluate_model, flatten_results

COUNTS_SOURCE = counts_source.__name__  # a source of the tests' own, named by its import path
SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "scripts"


def _parse(*argv):
    train_cli.FLAGS.unparse_flags()
    train_cli.FLAGS(["train", *argv])


@pytest.mark.slow
def test_a_model_trains_and_evaluates_each_task_on_its_own_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    flags = [f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small,", "--tasks=action,count",
             "--max_train_examples=24", "--max_val_examples=8", "--image_size=32", "--batch_size=8",
             f"--data_dir={tmp_path / 'tfds'}"]
    try:
        _parse(*flags, "--epochs=2", "--sampler=annealed", "--export=false", "--single_task_baselines",
               "--model_dir=run")
        outcome = train_cli.train()
    finally:
        train_cli.FLAGS.unparse_flags()
    trained_on = [line.partition(") on ")[2] for line in capsys.readouterr().out.splitlines()
                  if line.startswith("Training ")]
    # the model on both datasets, each baseline on its own task's alone
    assert trained_on == [f"24 mtl_shapes train + 24 {COUNTS_SOURCE} train images; checkpoints in run.",
                          "24 mtl_shapes train images; checkpoints in run/baselines/action.",
                          f"24 {COUNTS_SOURCE} train images; checkpoints in run/baselines/count."]
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["evaluated_on"] == {
        "dataset": f"mtl_shapes,{COUNTS_SOURCE}", "split": "validation", "examples": 16,
        "datasets": [{"dataset": "mtl_shapes", "split": "validation", "examples": 8},
                     {"dataset": COUNTS_SOURCE, "split": "validation", "examples": 8}]}
    assert list(metrics["evaluation"]) == ["action", "count"]
    assert len(metrics["history"]["loss"]) == 2
    assert int(mz.load_model(run / "model.keras").optimizer.iterations.numpy()) == 12  # 2 x (24 + 24) / 8
    assert {"count_loss", "val_count_loss", "val_action_loss"} <= set(metrics["history"])
    identity = json.loads((run / "run.json").read_text())
    assert identity["dataset"] == f"mtl_shapes,{COUNTS_SOURCE}" and identity["dataset_config"] == "small,"
    assert identity["recipe"]["sampler"] == "annealed"
    assert (run / "plots" / "predictions.png").read_bytes().startswith(b"\x89PNG")
    # `count` was evaluated on the counting images alone, `action` on mtl_shapes' alone
    model = mz.load_model(run / "model.keras")
    counts = counts_source.load("validation")
    alone = evaluate_model(model, raw_batches(model, counts, 8).unbatch())
    assert alone["count"] == pytest.approx(metrics["evaluation"]["count"])
    # each single-task baseline trained on its task's dataset only
    assert set(metrics["baselines"]) == {"action", "count"}
    assert "delta_m" in outcome
    baseline = mz.load_model(run / "baselines" / "count" / "model.keras")
    assert baseline.task_names == ["count"]
    assert evaluate_model(baseline, raw_batches(baseline, counts, 8).unbatch())["count"] == pytest.approx(
        metrics["baselines"]["count"])

    # a split one of the datasets lacks is named with its dataset
    try:
        _parse(*flags)
        with pytest.raises(ValueError, match=r"Dataset 'mtl_shapes': Unknown split 'tset'"):
            train_cli.dataset_flags.load_splits("tset")
    finally:
        train_cli.FLAGS.unparse_flags()

    # evaluate.py (in a process of its own: its flags clash with export.py's, which other tests
    # import) on the datasets the run folder's run.json names reproduces the job's evaluation;
    # it finds the tests' source on PYTHONPATH, as a user's would be found
    result = subprocess.run([sys.executable, str(SCRIPTS / "evaluate.py"), "--model=run",
                             "--max_examples=8", "--batch_size=8", f"--data_dir={tmp_path / 'tfds'}",
                             "--output=eval.json"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, env=counts_source.environment())
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"The run's datasets: --dataset=mtl_shapes,{COUNTS_SOURCE} --dataset_config=small," in result.stdout
    assert "on 8 mtl_shapes validation + 8 counts_source validation images" in result.stdout
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert evaluation["split"] == "validation" and evaluation["examples"] == 16
    assert len(evaluation["datasets"]) == 2
    assert flatten_results(evaluation["evaluation"]) == pytest.approx(flatten_results(metrics["evaluation"]))


@pytest.mark.parametrize("argv, message", [
    ([f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small"],
     r"--dataset_config gives 1 configs for 2 datasets"),
    ([f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small,small"],
     rf"Dataset '{COUNTS_SOURCE}' takes no --dataset_config"),
    (["--dataset=mtl_shapes,mtl_shapes"], r"names a dataset twice"),
    ([f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--manual_dir=x"],
     rf"Datasets 'mtl_shapes', '{COUNTS_SOURCE}' take no --manual_dir"),
])
def test_bad_dataset_lists_are_named(argv, message):
    try:
        _parse(*argv, "--model_dir=unused")
        with pytest.raises(ValueError, match=message):
            train_cli.dataset_flags.flagged_datasets()
    finally:
        train_cli.FLAGS.unparse_flags()


def test_tasks_of_a_mixture_come_each_from_one_dataset(monkeypatch, tmp_path):
    try:
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--tasks=action,count,poze", "--model_dir=unused")
        with pytest.raises(ValueError, match=r"Unknown task of dataset 'mtl_shapes,counts_source' 'poze'"):
            train_cli.architecture()
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--model_dir=unused")
        assert [task["name"] for task in train_cli.architecture()["tasks"]] == ["action", "objects", "pose",
                                                                                 "count"]
        # a task that two datasets have is refused when chosen, and only then
        monkeypatch.setattr(counts_source, "tasks", lambda: [
            mz.tasks.Classification("count", 3), mz.tasks.Classification("action", 3)])
        with pytest.raises(ValueError, match=r"Tasks of several datasets: \{'action': \['mtl_shapes', "
                                             r"'counts_source'\]\}.*leave such tasks out with --tasks"):
            train_cli.architecture()
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--tasks=pose,count", "--model_dir=unused")
        assert [task["name"] for task in train_cli.architecture()["tasks"]] == ["pose", "count"]
        # a dataset that labels none of the model's tasks
        monkeypatch.setattr(counts_source, "tasks", lambda: [mz.tasks.Classification("count", 3)])
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small,", "--model_dir=unused",
               f"--data_dir={tmp_path / 'tfds'}")
        with pytest.raises(ValueError, match=r"Dataset 'counts_source' labels none of the model's tasks "
                                             r"\['action'\] \(it labels \['count'\]\): drop it"):
            train_cli.dataset_flags.load_splits("train", 4, ["action"])
        with pytest.raises(ValueError, match=r"tasks \['digit'\] are labels of none of the datasets \(they label "
                                             r"\{'mtl_shapes': \['action', 'objects', 'pose', 'segmentation'\], "
                                             r"'counts_source': \['count'\]\}\)"):
            train_cli.dataset_flags.load_splits("train", 4, ["pose", "count", "digit"])
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small,", "--model_dir=unused",
               f"--data_dir={tmp_path / 'unbuilt'}")
        with pytest.raises(ValueError, match=r"tasks \['digit'\] are labels of none"):
            train_cli.dataset_flags.load_splits("train", 4, ["pose", "digit"])
        assert not (tmp_path / "unbuilt").exists()  # refused from the sources' tasks(), before building
    finally:
        train_cli.FLAGS.unparse_flags()


def test_mixture_flags_make_the_sampler_and_refuse_what_has_no_effect():
    try:
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--sampler=annealed", "--epochs=5", "--model_dir=unused")
        sampler = train_cli.make_sampler()
        assert isinstance(sampler, mz.data.Annealed) and sampler.num_epochs == 5
        _parse("--sampler=round_robin", "--model_dir=unused")  # one dataset: nothing to sample
        with pytest.raises(ValueError, match="--sampler picks the dataset of each example among several"):
            train_cli.train()
        _parse("--dataset=mtl_shapes,", "--model_dir=unused")
        with pytest.raises(ValueError, match="--dataset=mtl_shapes, has an empty name"):
            train_cli.dataset_flags.flagged_datasets()
        with pytest.raises(ValueError, match="--dataset=mtl_shapes, has an empty name"):
            train_cli.architecture()  # which looks up the datasets' tasks first
        _parse("--tasks=action,pose,action", "--model_dir=unused")
        with pytest.raises(ValueError, match=r"--tasks names \['action'\] more than once"):
            train_cli.architecture()
    finally:
        train_cli.FLAGS.unparse_flags()


def test_a_resumed_mixture_trains_on_the_batches_of_an_uninterrupted_run(tmp_path):
    try:
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small,", "--tasks=action,count",
               "--image_size=32", "--batch_size=8", "--epochs=2", "--model_dir=unused",
               f"--data_dir={tmp_path / 'tfds'}")
        model = mz.build_model(**train_cli.architecture())
        train = train_cli.dataset_flags.load_splits("train", 16, model.task_names)
        validation = train_cli.dataset_flags.load_splits(None, 4, model.task_names)

        def stream(first_epoch):
            batches, _ = train_cli.training_streams(model, train, validation, None, first_epoch)
            return [(images.numpy(), masks["count"].numpy()) for images, _, masks in batches]

        whole, resumed = stream(0), stream(1)
    finally:
        train_cli.FLAGS.unparse_flags()
    assert len(whole) == 8 and len(resumed) == 4  # 4 batches an epoch: (16 + 16) / 8
    for (images, masks), (again, masks_again) in zip(whole[4:], resumed):
        np.testing.assert_array_equal(images, again)
        np.testing.assert_array_equal(masks, masks_again)
    assert 0 < np.concatenate([masks for _, masks in whole]).mean() < 1  # the batches mix both datasets


def test_a_bad_own_source_is_named_once_in_the_command_lines_error(monkeypatch, tmp_path):
    monkeypatch.setattr(counts_source, "load", lambda split, data_dir=None, download=True: [split])
    try:
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small,", "--model_dir=unused",
               f"--data_dir={tmp_path / 'tfds'}")
        with pytest.raises(ValueError) as error:
            train_cli.dataset_flags.load_splits("train", 4)
    finally:
        train_cli.FLAGS.unparse_flags()
    assert str(error.value) == ("Dataset source 'counts_source': load('train') must return a tf.data.Dataset "
                                "of (image, {task name: raw label}) pairs, got <class 'list'>.")
