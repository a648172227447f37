"""The command lines on several datasets at once (`--dataset=a,b`): each task learned and
evaluated on the images of the dataset that labels it."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import counts_source
import mtl_zoo as mz
from mtl_zoo.cli import train as train_cli
from mtl_zoo.data import raw_batches
from mtl_zoo.evaluation import evaluate_model, flatten_results

COUNTS_SOURCE = counts_source.NAME
# evaluate.py in a process of its own (its flags clash with export.py's, which other tests
# import), with the counting source registered there too
EVALUATE_WITH_COUNTS = ("import counts_source; counts_source.register(); "
                        "from mtl_zoo.cli.evaluate import run; run()")


@pytest.fixture
def counts_source_registered():
    yield counts_source.register()
    counts_source.unregister()


def _parse(*argv):
    train_cli.FLAGS.unparse_flags()
    train_cli.FLAGS(["train", *argv])


@pytest.mark.slow
def test_a_model_trains_and_evaluates_each_task_on_its_own_dataset(tmp_path, counts_source_registered, monkeypatch):
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
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["evaluated_on"] == {
        "dataset": f"mtl_shapes,{COUNTS_SOURCE}", "split": "validation", "examples": 16,
        "datasets": [{"dataset": "mtl_shapes", "split": "validation", "examples": 8},
                     {"dataset": COUNTS_SOURCE, "split": "validation", "examples": 8}]}
    assert list(metrics["evaluation"]) == ["action", "count"]
    assert len(metrics["history"]["loss"]) == 2  # 6 mixed batches an epoch: (24 + 24) / 8
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

    # evaluate.py with the same datasets reproduces the job's evaluation
    tests = pathlib.Path(__file__).resolve().parent
    result = subprocess.run([sys.executable, "-c", EVALUATE_WITH_COUNTS, "--model=run", *flags[:2],
                             "--max_examples=8", "--batch_size=8", f"--data_dir={tmp_path / 'tfds'}",
                             "--output=eval.json"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "PYTHONPATH": str(tests)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 8 mtl_shapes validation + 8 test_counts validation images" in result.stdout
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
def test_bad_dataset_lists_are_named(argv, message, counts_source_registered):
    try:
        _parse(*argv, "--model_dir=unused")
        with pytest.raises(ValueError, match=message):
            train_cli.dataset_flags.flagged_datasets()
    finally:
        train_cli.FLAGS.unparse_flags()


def test_tasks_of_a_mixture_come_each_from_one_dataset(counts_source_registered, monkeypatch, tmp_path):
    try:
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--tasks=action,count,poze", "--model_dir=unused")
        with pytest.raises(ValueError, match=r"Unknown task of dataset 'mtl_shapes,test_counts' 'poze'"):
            train_cli.architecture()
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--model_dir=unused")
        assert [task["name"] for task in train_cli.architecture()["tasks"]] == ["action", "objects", "pose",
                                                                                 "count"]
        # a second dataset with a task of the same name is refused
        monkeypatch.setattr(counts_source_registered, "tasks", lambda: [mz.tasks.Classification("action", 3)])
        with pytest.raises(ValueError, match=r"Datasets 'mtl_shapes' and 'test_counts' both have a task 'action'"):
            train_cli.architecture()
        # a dataset that labels none of the model's tasks
        monkeypatch.setattr(counts_source_registered, "tasks", lambda: [mz.tasks.Classification("count", 3)])
        _parse(f"--dataset=mtl_shapes,{COUNTS_SOURCE}", "--dataset_config=small,", "--model_dir=unused",
               f"--data_dir={tmp_path / 'tfds'}")
        with pytest.raises(ValueError, match=r"Dataset 'test_counts' labels none of the model's tasks "
                                             r"\['action'\] \(it labels \['count'\]\): drop it"):
            train_cli.dataset_flags.load_splits("train", 4, ["action"])
    finally:
        train_cli.FLAGS.unparse_flags()
