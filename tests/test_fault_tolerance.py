"""Fault tolerance of a MultiWorkerMirroredStrategy run (scripts/train.py --strategy=multi_worker).

The recovery path is TensorFlow's: when a worker dies, the others fail too (a collective
they wait on is aborted with UnavailableError: at once when the peer's connection resets,
else when TensorFlow's coordination service misses the dead task's heartbeats, about 10 s;
the process then takes a few to some 30 s more to exit). The whole cluster is started again
with the same TF_CONFIG, and keras.callbacks.BackupAndRestore resumes every worker from its
last completed epoch (`backup/` on the chief, `worker_<i>_backup/` on the others). Here
worker 1 is killed right after it backed up epoch 1; the chief, which needs no peer for its
own backup, saves epoch 1 too before it fails, so both resume at epoch 2.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from mtl_zoo.cli.local_workers import free_ports, tf_config

# The script, not `-m`: run from a checkout, `-m` would import the source tree, which lacks the
# installed package's mtl_zoo.dataset_builders.
TRAIN = [sys.executable, str(pathlib.Path(__file__).resolve().parents[1] / "scripts" / "train.py")]
EPOCHS = 2
SMALL = ["--dataset_config=small", "--tasks=action", "--max_train_examples=32", "--max_val_examples=4",
         "--image_size=32", "--batch_size=16", f"--epochs={EPOCHS}", "--augment=false", "--plots=false",
         "--export=false"]  # 2 steps an epoch


def _backup_epoch(folder):
    """The epoch count in a BackupAndRestore folder's metadata (0: none or half-written)."""
    try:
        with open(os.path.join(folder, "training_metadata.json")) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _start_workers(addresses, args, logs):
    return [subprocess.Popen([*TRAIN, *args, "--strategy=multi_worker", "--worker_timeout=60"],
                             env=dict(os.environ, TF_CONFIG=tf_config(addresses, index)),
                             stdout=log.open("w"), stderr=subprocess.STDOUT)
            for index, log in enumerate(logs)]


def _wait(process, deadline):
    return process.wait(timeout=max(0.1, deadline - time.monotonic()))


def _report(logs):
    return "\n".join(f"--- {log.name}:\n{log.read_text()[-2500:]}" for log in logs if log.exists())


def test_a_killed_worker_restarts_and_training_resumes(tmp_path):
    run = tmp_path / "run"
    args = [*SMALL, f"--data_dir={tmp_path / 'tfds'}", f"--model_dir={run}"]
    prepared = subprocess.run([*TRAIN, *args, "--prepare_data_only"], capture_output=True, text=True,
                              timeout=120)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    first = [tmp_path / f"first_{index}.log" for index in range(2)]
    second = [tmp_path / f"second_{index}.log" for index in range(2)]
    workers = []
    try:
        workers = _start_workers(addresses, args, first)
        deadline = time.monotonic() + 150
        while _backup_epoch(run / "worker_1_backup") < 1:  # worker 1 has backed up epoch 1
            assert all(worker.poll() is None for worker in workers), _report(first)
            assert time.monotonic() < deadline, "no backup of epoch 1 in time\n" + _report(first)
            time.sleep(0.05)
        workers[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        workers[1].wait(timeout=10)
        # the survivor fails on its next collective instead of waiting forever
        assert _wait(workers[0], killed + 90) not in (0, None), _report(first)
        assert "UnavailableError" in first[0].read_text(), _report(first)
        resumed_from = _backup_epoch(run / "backup")  # the chief saved epoch 1 before it failed
        assert resumed_from == _backup_epoch(run / "worker_1_backup") == 1, _report(first)
        assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()

        workers = _start_workers(addresses, args, second)  # the whole cluster, same TF_CONFIG
        deadline = time.monotonic() + 180
        codes = [_wait(worker, deadline) for worker in workers]
        assert codes == [0, 0], _report(second)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    chief = second[0].read_text()
    # only the epochs after the backup were trained again
    assert f"Epoch {resumed_from + 1}/{EPOCHS}" in chief and f"Epoch {resumed_from}/{EPOCHS}" not in chief
    assert "This worker is done" in second[1].read_text()
    history = json.loads((run / "metrics.json").read_text())["history"]
    # Keras's History holds the epochs of the last fit call only: those after the backup
    assert len(history["loss"]) == EPOCHS - resumed_from
    assert sorted(path.name for path in run.iterdir()) == [
        "logs", "metrics.json", "model.keras", "run.json"]  # both backups removed at the end
