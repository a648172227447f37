"""MultiWorkerMirroredStrategy through model.fit: two worker processes on 127.0.0.1."""

import json
import pathlib
import subprocess
import sys

import numpy as np

import mtl_zoo as mz

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "scripts"
TINY = ["--dataset_config=small", "--max_train_examples=64", "--max_val_examples=16", "--image_size=64",
        "--batch_size=16", "--epochs=2", "--plots=false", "--export=false"]


def test_two_local_workers_train_and_only_the_chief_writes(tmp_path):
    run = tmp_path / "run"
    result = subprocess.run([sys.executable, str(SCRIPTS / "local_workers.py"), "--workers=2", "--", *TINY,
                             f"--data_dir={tmp_path / 'tfds'}", f"--model_dir={run}"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:] + (run / "worker_1.log").read_text()[-2000:]
    assert "Started 2 workers" in result.stdout and "2 replica(s)" in result.stdout
    assert sorted(path.name for path in run.iterdir()) == [
        "logs", "metrics.json", "model.keras", "run.json", "worker_1.log"]  # backups removed at the end
    assert "This worker is done" in (run / "worker_1.log").read_text()
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))
    assert run.joinpath("run.json").exists()
    fresh = mz.build_model("tiny", mz.load_model(run / "model.keras").tasks, (64, 64, 3))
    trained = mz.load_model(run / "model.keras")
    assert any(not np.allclose(a, b) for a, b in zip(trained.get_weights(), fresh.get_weights()))
