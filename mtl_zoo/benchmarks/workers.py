"""Throughput of 2 local MultiWorkerMirroredStrategy workers against 1 process.

The default CPU model (`scripts/train.py`: tiny backbone, mtl_shapes action +
objects + pose) trained with `model.fit` on the same global batches: once in a
single process, once as 2 worker processes on 127.0.0.1 (TF_CONFIG, each
worker one replica, its share of every global batch through
`distribute_global_batches`). On one machine the workers share its cores, so
this measures the cost of the collectives, not a speed-up.
"""

import json
import os
import subprocess
import sys
import tempfile

from mtl_zoo.benchmarks.table import Table

RESULT = "RESULT "


def measure_training(image_size, batch_size, steps, epochs=3, tasks=None):
    """Images per second of `fit` under this process's strategy (TF_CONFIG: multi-worker).

    The median over epochs 2..`epochs` (the first traces) of `steps` steps each; `tasks`:
    mtl_shapes tasks (default: the job's three).
    """
    import keras
    import tensorflow as tf

    from mtl_zoo.benchmarks.multi_lenet_training import EpochTimer
    from mtl_zoo.cli.strategies import make_strategy
    from mtl_zoo.data import with_labels_of
    from mtl_zoo.cli.train import build_job_model
    from mtl_zoo.data import build_pipeline
    from mtl_zoo.data.sources import mtl_shapes
    from mtl_zoo.distribution import distribute_global_batches

    strategy = make_strategy("multi_worker" if "TF_CONFIG" in os.environ else "default", worker_timeout=120)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_job_model(tasks=tasks, image_size=image_size)
        model.compile(optimizer="adam")
    examples = with_labels_of(mtl_shapes.generate(batch_size * steps, image_size, seed=0), model.task_names)
    data = distribute_global_batches(strategy, build_pipeline(model, examples, batch_size).repeat(), batch_size)
    timer = EpochTimer()
    model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    seconds = sorted(timer.seconds[1:])[len(timer.seconds[1:]) // 2]
    return {"images_per_second": batch_size * steps / seconds, "replicas": strategy.num_replicas_in_sync,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}


def run_workers(count, **settings):
    """Runs `measure_training` as `count` local workers (1: a plain process); worker 0's result."""
    from mtl_zoo.cli.local_workers import free_ports

    code = ("import json, sys; from mtl_zoo.benchmarks.workers import measure_training as f; "
            f"print({RESULT!r} + json.dumps(f(**json.loads(sys.argv[1]))))")
    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    processes = []
    for index in range(count):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        if count > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses},
                                           "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen([sys.executable, "-c", code, json.dumps(settings)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          env=env, cwd=tempfile.gettempdir()))
    outputs = [process.communicate(timeout=1800) for process in processes]
    failed = [(index, process.returncode, err[-2000:]) for index, (process, (_, err))
              in enumerate(zip(processes, outputs)) if process.returncode]
    if failed:
        raise RuntimeError(f"Benchmark workers failed: {failed}")
    lines = [line for line in outputs[0][0].splitlines() if line.startswith(RESULT)]
    return json.loads(lines[-1][len(RESULT):])


def run(quick=False):
    """One process against 2 local workers on the same global batches (`quick`, the smoke run
    of the tests: the action and objects tasks, 32 px)."""
    from mtl_zoo.benchmarks.default_model import benchmark_tasks

    image_size, batch_size, steps = (32, 8, 2) if quick else (128, 32, 8)
    tasks = benchmark_tasks(quick)
    single = run_workers(1, image_size=image_size, batch_size=batch_size, steps=steps, tasks=tasks)
    double = run_workers(2, image_size=image_size, batch_size=batch_size, steps=steps, tasks=tasks)
    rows = [["1 process (default strategy)", single["replicas"], single["images_per_second"], 1.0],
            ["2 local workers (MultiWorkerMirroredStrategy)", double["replicas"], double["images_per_second"],
             double["images_per_second"] / single["images_per_second"]]]
    description = (
        f"The default model (`scripts/train.py`: tiny backbone, {image_size} px, Adam, T = {len(tasks)} tasks), "
        f"`model.fit` on global batches of {batch_size}, {steps} steps an epoch; images/s is the "
        f"median over epochs 2 and 3 (the first traces), read on worker 0. Both workers run on "
        f"this one machine with TensorFlow's default threads "
        f"({double['intra_op_threads'] or 'all cores'} intra-op per process), so they share its "
        "cores: the ratio shows what the collectives and the split batch cost, not what a "
        "second machine would add.")
    return Table("Multi-worker throughput: 2 local workers vs 1 process", description,
                 ["setup", "replicas", "images/s", "vs 1 process"], rows)
