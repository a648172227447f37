"""Starts a MultiWorkerMirroredStrategy training run of N worker processes on this machine.

    python scripts/local_workers.py --workers=2 -- --epochs=2 --batch_size=32 --model_dir=runs/mw

Everything after `--` goes to `scripts/train.py`. The dataset is built once first;
then each worker gets a free port on 127.0.0.1 and its own TF_CONFIG (worker 0
is the chief: it prints the progress and writes the run's files; the others log
into `<model_dir>/worker_<i>.log`). On several machines, start `scripts/train.py
--strategy=multi_worker` on each with the TF_CONFIG this script shows.
"""

import json
import os
import socket
import subprocess
import sys

from absl import flags

from mtl_zoo.cli import exit_on_bad_input, run_command

FLAGS = flags.FLAGS
flags.DEFINE_integer("workers", 2, "Worker processes to start.", lower_bound=1)
TRAIN = [sys.executable, "-m", "mtl_zoo.cli.train"]


def free_ports(count):
    """`count` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def tf_config(addresses, index):
    """The TF_CONFIG of worker `index` of a cluster of `addresses`.

    Example:
    >>> tf_config(["127.0.0.1:2000"], 0)
    '{"cluster": {"worker": ["127.0.0.1:2000"]}, "task": {"type": "worker", "index": 0}}'
    """
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def launch(train_args, workers):
    """Runs the workers to the end; returns the exit status (the first non-zero one)."""
    if any(arg.startswith("--strategy") for arg in train_args):
        raise ValueError("The launcher sets --strategy=multi_worker itself: drop --strategy.")
    model_dir = next((arg.split("=", 1)[1] for arg in train_args if arg.startswith("--model_dir=")), None)
    if model_dir is None:
        raise ValueError("Pass --model_dir=... after `--` (the workers' logs go there too).")
    prepared = subprocess.run([*TRAIN, *train_args, "--prepare_data_only"])
    if prepared.returncode:
        return prepared.returncode
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    os.makedirs(model_dir, exist_ok=True)
    processes = []
    for index in range(workers):
        env = dict(os.environ, TF_CONFIG=tf_config(addresses, index))
        log = None if index == 0 else open(os.path.join(model_dir, f"worker_{index}.log"), "w")
        processes.append(subprocess.Popen([*TRAIN, *train_args, "--strategy=multi_worker"], env=env,
                                          stdout=log, stderr=subprocess.STDOUT if log else None))
    print(f"Started {workers} workers on {addresses}; worker 0 is the chief.", flush=True)
    codes = [process.wait() for process in processes]
    return next((code for code in codes if code), 0)


def main(argv):
    code = exit_on_bad_input(lambda: launch(argv[1:], FLAGS.workers))
    sys.exit(code)


def run():
    """Console entry point (`mtl-zoo local_workers`)."""
    run_command(main)


if __name__ == "__main__":
    run()
