import json
import pathlib
import subprocess
import sys

import mtl_zoo as mz

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "train.py"


def _run(*flags, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *flags], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_train_script_trains_on_mtl_shapes_evaluates_and_saves(tmp_path):
    result = _run("--dataset_config=small", "--epochs=1", "--max_train_examples=48",
                  "--max_val_examples=16", "--image_size=64", "--batch_size=16",
                  f"--data_dir={tmp_path / 'tfds'}", f"--model_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| objects | AP50 |" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"action_accuracy", "objects_loss", "pose_loss"} <= set(metrics["validation"])
    assert {"AP", "AP50"} <= set(metrics["evaluation"]["objects"])
    assert 0.0 <= metrics["evaluation"]["action"]["accuracy"] <= 1.0
    assert metrics["flags"]["dataset"] == "mtl_shapes" and metrics["flags"]["epochs"] == 1
    assert list((tmp_path / "run" / "logs").iterdir()), "no TensorBoard logs"
    model = mz.load_model(tmp_path / "run" / "model.keras")
    assert model.task_names == ["action", "objects", "pose"]


def test_train_script_reports_bad_flags_in_one_line(tmp_path):
    result = _run("--backbone=resnet5", "--model_dir=x", cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Unknown backbone 'resnet5'") and "resnet50" in last
    assert "Traceback" not in result.stderr
    result = _run("--tasks=action,posture", "--model_dir=x", cwd=tmp_path)
    assert result.returncode == 2
    assert "Unknown task of dataset 'mtl_shapes' 'posture'" in result.stderr and "pose" in result.stderr
