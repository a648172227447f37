"""Fault tolerance of a MultiWorkerMirroredStrategy run (scripts/train.py --strategy=multi_worker).

The recovery path is TensorFlow's: when a worker dies, the others fail too (a collective
they wait on is aborted with UnavailableError: at once when the peer's connection resets,
else when TensorFlow's coordination service misses the dead task's heartbeats, about 10 s;
the process then takes a few to some 30 s more to exit). The whole cluster is started again
(here by scripts/local_workers.py, as a user on one machine would), and
mz.SharedBackupAndRestore resumes every worker from the last epoch in `backup/`, which only
the chief writes. Here worker 1 is killed right after the
chief backed up epoch 1 (had each worker kept its own backup, worker 1's would have been
missing or older, and the restart would have failed). The job trains on two datasets
(mtl_shapes and the tests' own `counts_source`), so the mixture's epoch-indexed stream resumes
under a restart too: the losses of every epoch match one uninterrupted process's (to round-off).
The restart checks the launcher as well: only the chief writes the run's files, the other
worker its log.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import counts_source
import mtl_zoo as mz
from mtl_zoo.cli.local_workers import free_ports, tf_config

# The script, not `-m`: run from a checkout, `-m` would import the source tree, which lacks the
# installed package's mtl_zoo.dataset_builders.
SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "scripts"
TRAIN = [sys.executable, str(SCRIPTS / "train.py")]
# the tests' own source (tests/counts_source.py), found on PYTHONPATH as a user's would be
WITH_TESTS_SOURCE = counts_source.environment()
EPOCHS = 2
# two datasets, so that a killed mixture job resumes too
SMALL = ["--dataset=mtl_shapes,counts_source", "--dataset_config=small,", "--tasks=action,count",
         "--max_train_examples=16", "--max_val_examples=4", "--image_size=32", "--batch_size=16",
         f"--epochs={EPOCHS}", "--augment=false", "--plots=false", "--export=false"]  # 2 steps an epoch


def _backup_epoch(folder):
    """The epoch count in a BackupAndRestore folder's metadata (0: none or half-written)."""
    try:
        with open(os.path.join(folder, "training_metadata.json")) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _start_workers(addresses, args_per_worker, logs):
    return [subprocess.Popen([*TRAIN, *args, "--strategy=multi_worker", "--worker_timeout=60"],
                             env=dict(WITH_TESTS_SOURCE, TF_CONFIG=tf_config(addresses, index)),
                             stdout=log.open("w"), stderr=subprocess.STDOUT)
            for index, (args, log) in enumerate(zip(args_per_worker, logs))]


def _wait(process, deadline):
    return process.wait(timeout=max(0.1, deadline - time.monotonic()))


def _report(logs):
    return "\n".join(f"--- {log.name}:\n{log.read_text()[-2500:]}" for log in logs if log.exists())


@pytest.mark.slow
def test_a_killed_worker_restarts_and_training_resumes(tmp_path):
    run = tmp_path / "run"
    args = [*SMALL, f"--data_dir={tmp_path / 'tfds'}", f"--model_dir={run}"]
    # one process's run, to compare with; it also builds the datasets for the workers
    whole = subprocess.run([*TRAIN, *args[:-1], f"--model_dir={tmp_path / 'whole'}"],
                           capture_output=True, text=True, timeout=120, env=WITH_TESTS_SOURCE)
    assert whole.returncode == 0, whole.stderr[-3000:]
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    first, apart = ([tmp_path / f"{name}_{index}.log" for index in range(2)] for name in ("first", "apart"))
    workers = []
    try:
        workers = _start_workers(addresses, [args, args], first)
        deadline = time.monotonic() + 150
        while _backup_epoch(run / "backup") < 1:  # the chief has backed up epoch 1
            assert all(worker.poll() is None for worker in workers), _report(first)
            assert time.monotonic() < deadline, "no backup of epoch 1 in time\n" + _report(first)
            time.sleep(0.05)
        workers[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        workers[1].wait(timeout=10)
        # the survivor fails on its next collective instead of waiting forever
        assert _wait(workers[0], killed + 90) not in (0, None), _report(first)
        assert "UnavailableError" in first[0].read_text(), _report(first)
        resumed_from = _backup_epoch(run / "backup")
        assert resumed_from == 1, _report(first)
        assert sorted(path.name for path in run.iterdir()) == ["backup", "logs", "run.json"]  # no worker files

        # worker 1 restarted on a folder of its own: it finds no backup, and both workers say so
        elsewhere = [*args[:-1], f"--model_dir={tmp_path / 'elsewhere'}"]
        workers = _start_workers(addresses, [args, elsewhere], apart)
        deadline = time.monotonic() + 120
        assert [_wait(worker, deadline) for worker in workers] != [0, 0], _report(apart)
        for log in apart:
            assert "The workers found backups of different epochs" in log.read_text(), _report(apart)
        assert _backup_epoch(run / "backup") == resumed_from  # left as it was
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    # the whole cluster again, as scripts/local_workers.py starts it on this machine; in a
    # session of its own, so that a timeout stops its workers too
    launcher = subprocess.Popen([sys.executable, str(SCRIPTS / "local_workers.py"), "--workers=2", "--", *args,
                                 "--worker_timeout=60"], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=WITH_TESTS_SOURCE, start_new_session=True)
    try:
        chief, errors = launcher.communicate(timeout=240)  # worker 0, the chief, prints the progress
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    worker_log = run / "worker_1.log"
    assert launcher.returncode == 0, errors[-3000:] + (worker_log.read_text()[-2000:] if worker_log.exists() else "")
    assert "Started 2 workers" in chief and "2 replica(s)" in chief
    assert "16 mtl_shapes train + 16 counts_source train images" in chief
    # only the epochs after the backup were trained again
    assert f"Epoch {resumed_from + 1}/{EPOCHS}" in chief and f"Epoch {resumed_from}/{EPOCHS}" not in chief
    assert "This worker is done" in worker_log.read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    history = metrics["history"]
    assert len(history["loss"]) == EPOCHS  # the backed-up epochs, then those trained after the restart
    assert all(np.isfinite(history["loss"] + history["val_count_loss"]))
    assert [part["dataset"] for part in metrics["evaluated_on"]["datasets"]] == ["mtl_shapes", "counts_source"]
    assert list(metrics["evaluation"]) == ["action", "count"]
    assert sorted(path.name for path in run.iterdir()) == [
        "logs", "metrics.json", "model.keras", "run.json", "worker_1.log"]  # the backup removed at the end
    trained = mz.load_model(run / "model.keras")
    assert int(trained.optimizer.iterations.numpy()) == EPOCHS * 2  # 2 global batches an epoch
    fresh = mz.build_model("tiny", trained.tasks, (32, 32, 3))
    assert any(not np.allclose(a, b) for a, b in zip(trained.get_weights(), fresh.get_weights()))

    # the resumed cluster trained on the batches of an uninterrupted run: one process, same
    # global batches (epoch-indexed mixture); only the order of the cross-worker sums differs
    uninterrupted = json.loads((tmp_path / "whole" / "metrics.json").read_text())["history"]
    # Adam on two workers leaves round-off near 1e-4 (README); other batches would differ by percents
    np.testing.assert_allclose(history["loss"], uninterrupted["loss"], rtol=5e-4)
