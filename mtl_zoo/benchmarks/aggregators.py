"""Gradient aggregators against the plain weighted sum: train-step time, on one
device and under MirroredStrategy over two logical CPU devices.

Each aggregator of `mtl_zoo.weighting.AGGREGATORS` (default options) compiled
into the default CPU model (`scripts/train.py`: tiny backbone, mtl_shapes
action + objects + pose, T = 3). All models of one setting are timed in turns
in one fresh process; each ratio is the median of the round-by-round ratios to
the plain sum in that process.
"""

from mtl_zoo.benchmarks.table import Table

PLAIN = "plain sum"
LOGICAL_DEVICES = 2


def measure_aggregators(strategy, image_size, batch_size, steps, names=None, tasks=None):
    """`{aggregator label: [train_on_batch seconds of each round]}`; `strategy` is "one_device" or
    "mirrored" (MirroredStrategy over 2 logical CPUs, so call it in a fresh process);
    `names`: the aggregators to time (default: all); `tasks`: mtl_shapes tasks (default: the
    job's three)."""
    import tensorflow as tf

    from mtl_zoo.benchmarks.default_model import train_step
    from mtl_zoo.benchmarks.measure import interleaved_seconds
    from mtl_zoo.weighting import AGGREGATORS

    if strategy == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * LOGICAL_DEVICES)
        distribution = tf.distribute.MirroredStrategy(
            [f"/cpu:{index}" for index in range(LOGICAL_DEVICES)])
    elif strategy == "one_device":
        distribution = tf.distribute.get_strategy()
    else:
        raise ValueError(f"strategy must be 'one_device' or 'mirrored', got {strategy!r}.")
    steps_by_label = {}
    with distribution.scope():
        chosen = [(name, AGGREGATORS[name]) for name in (names or AGGREGATORS)]
        for label, make in [(PLAIN, None), *chosen]:
            aggregator = make() if make else None
            name = label if aggregator is None else f"{label} ({aggregator.mode})"
            steps_by_label[name] = train_step(image_size, batch_size, tasks=tasks, aggregator=aggregator)[1]
    return interleaved_seconds(steps_by_label, repeats=steps, warmup=2)


def run(quick=False):
    """Times every aggregator on one device and under MirroredStrategy (`quick`, the smoke run of
    the tests: MGDA alone, on the action and objects tasks, 32 px)."""
    import numpy as np

    from mtl_zoo.benchmarks.default_model import benchmark_tasks
    from mtl_zoo.benchmarks.measure import round_ratios, run_isolated

    image_size, batch_size, steps = (32, 8, 2) if quick else (128, 32, 20)
    names, tasks = ["MGDA"] if quick else None, benchmark_tasks(quick)
    results = {strategy: run_isolated(__name__, "measure_aggregators", strategy=strategy, image_size=image_size,
                                      batch_size=batch_size, steps=steps, names=names, tasks=tasks)
               for strategy in ("one_device", "mirrored")}
    one, mirrored = results["one_device"], results["mirrored"]
    rows = [[label, np.median(one[label]) * 1000, round_ratios(one[label], one[PLAIN])[0],
             np.median(mirrored[label]) * 1000, round_ratios(mirrored[label], mirrored[PLAIN])[0]]
            for label in one]
    description = (
        f"The default model (`scripts/train.py`: tiny backbone, {image_size} px, batch {batch_size}, "
        f"Adam, T = {len(tasks)} tasks) compiled with each aggregator of `mtl_zoo.weighting` (default "
        f"options; the mode in brackets: per-task gradients of the shared parameters, or of the "
        f"shared representation). All models of a column are timed in turns in one fresh process, "
        f"one `train_on_batch` each per round, over {steps} rounds after 2 warm-up steps: `ms per "
        f"step` is the median, `vs plain sum` the median of the round-by-round ratios. Mirrored: "
        f"`MirroredStrategy` over {LOGICAL_DEVICES} logical CPU devices (the same global batch "
        f"split in two; per-task gradient rows summed over the replicas before aggregating). "
        "Both logical devices share this machine's 2 cores, so the mirrored column shows the "
        "cost of the replica bookkeeping and collectives, not a speed-up.")
    return Table("Gradient aggregators: train-step time relative to the plain sum", description,
                 ["aggregator", "ms per step", "vs plain sum", "mirrored ms per step",
                  "mirrored vs plain sum"], rows)
