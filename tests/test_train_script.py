import json
import pathlib
import subprocess
import sys

import mtl_zoo as mz

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "train.py"


def _run(*flags, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *flags], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_train_script_trains_saves_and_reports(tmp_path):
    result = _run("--epochs=1", "--num_train=48", "--num_val=16", "--image_size=64",
                  "--batch_size=16", f"--model_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Validation count accuracy" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"count_accuracy", "shapes_loss", "extremes_loss"} <= set(metrics["validation"])
    model = mz.load_model(tmp_path / "run" / "model.keras")
    assert model.task_names == ["count", "shapes", "extremes"]


def test_train_script_reports_bad_flags_in_one_line(tmp_path):
    result = _run("--backbone=resnet5", "--model_dir=x", cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Unknown backbone 'resnet5'") and "resnet50" in last
    assert "Traceback" not in result.stderr
