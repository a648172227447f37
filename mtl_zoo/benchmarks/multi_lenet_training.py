"""Trains MultiLeNet on the MultiMNIST digit arrays with one task-balancing method.

Shared by the `multi_mnist` (quality over seeds) and `libmtl` (side by side
with LibMTL) benchmarks. Methods are named as LibMTL names them, so both
libraries' rows line up; `METHODS` says what each is in mtl_zoo.

Step time is measured as in the LibMTL harness (`libmtl_runner.py`): the wall
time of each training epoch after the first (which traces the step), divided
by the steps of an epoch; the median over those epochs.

Example:
>>> result = train_multi_lenet("/tmp/digits.npz", "PCGrad", seed=0, epochs=2)  # doctest: +SKIP
>>> sorted(result)  # doctest: +SKIP
['left_accuracy', 'method', 'right_accuracy', 'seed', 'step_ms', 'steps_per_epoch', 'train_seconds']
"""

import math
import time

import keras
import numpy as np

# LibMTL's name -> what mtl_zoo trains for it, with LibMTL 1.1.5's default hyper-parameters.
METHODS = {
    "EW": "equal weights: the plain sum of task losses",
    "UW": "build_multi_lenet(uncertainty_weighting=...), Kendall et al.'s regression form (as LibMTL)",
    "DWA": "DynamicWeightAverage(temperature=2) callback",
    "GradNorm": "GradNorm(alpha=1.5) callback, norms on the shared trunk",
    "GLS": "GeometricLossStrategy callback",
    "RLW": "RandomLossWeighting callback",
    "MGDA": "MGDA aggregator on the shared parameters",
    "MGDA-UB": "MGDA aggregator on the shared representation (Sener & Koltun's upper bound)",
    "PCGrad": "PCGrad aggregator",
    "CAGrad": "CAGrad(c=0.5) aggregator",
    "GradVac": "GradVac(beta=0.5) aggregator",
    "IMTL": "IMTL-G aggregator (LibMTL's IMTL also learns loss scales, IMTL-L)",
    "GradDrop": "GradDrop aggregator on the shared representation",
}
SINGLE_TASK = "single-task"


class EpochTimer(keras.callbacks.Callback):
    """Collects the wall time of each training epoch in `seconds`."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def method_setup(method, task_names):
    """`(model_options, aggregator, callbacks)` that make MultiLeNet train with `method`."""
    from mtl_zoo import weighting
    from mtl_zoo.naming import unknown_name_error

    if method not in METHODS:
        raise unknown_name_error("method", method, METHODS)
    options, aggregator, callbacks = {}, None, []
    if method == "UW":
        options["uncertainty_weighting"] = {name: "regression" for name in task_names}
    callback = {"DWA": lambda: weighting.DynamicWeightAverage(temperature=2.0),
                "GradNorm": lambda: weighting.GradNorm(alpha=1.5),
                "GLS": weighting.GeometricLossStrategy,
                "RLW": weighting.RandomLossWeighting}.get(method)
    if callback:
        callbacks.append(callback())
    make_aggregator = {"MGDA": lambda: weighting.MGDA(mode="parameters"),
                       "MGDA-UB": lambda: weighting.MGDA(mode="representation"),
                       "PCGrad": weighting.PCGrad,
                       "CAGrad": lambda: weighting.CAGrad(c=0.5),
                       "GradVac": lambda: weighting.GradVac(beta=0.5),
                       "IMTL": weighting.IMTLG,
                       "GradDrop": lambda: weighting.GradDrop(mode="representation")}.get(method)
    if make_aggregator:
        aggregator = make_aggregator()
    return options, aggregator, callbacks


def train_multi_lenet(data, method, seed, epochs, batch_size=256, learning_rate=1e-3, threads=None,
                      tasks=("left", "right"), jit_compile=False):
    """Trains MultiLeNet with `method` on the digits .npz `data`; returns its results.

    Args:
        data: a digits .npz (`mtl_zoo.benchmarks.digits`).
        method: a key of `METHODS`, or "single-task" (one task, plain loss).
        seed: the seed of weights and shuffling.
        epochs: training epochs (Adam, `learning_rate`, batches of `batch_size`).
        threads: TensorFlow's intra-op threads (inter-op 1); None leaves
            TensorFlow's default. Call in a fresh process: TF fixes them at start.
        tasks: the tasks to train, a subset of ("left", "right").
        jit_compile: compile the train step with XLA (`MultiTaskModel.compile`).

    Returns:
        `{"method", "seed", "step_ms", "steps_per_epoch", "train_seconds",
        "<task>_accuracy"}` with test-split accuracies.
    """
    import tensorflow as tf

    import mtl_zoo as mz
    from mtl_zoo.benchmarks.digits import load_digit_arrays

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if epochs < 2:
        raise ValueError(f"epochs must be >= 2 (the first epoch is left out of the step time), got {epochs}.")
    arrays = load_digit_arrays(data)
    tasks = list(tasks)
    if method == SINGLE_TASK:
        options, aggregator, callbacks = {}, None, []
    else:
        options, aggregator, callbacks = method_setup(method, tasks)
    keras.utils.set_random_seed(seed)
    model = mz.build_multi_lenet([mz.tasks.Classification(name, 10) for name in tasks], **options)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), aggregator=aggregator,
                  jit_compile=jit_compile)
    timer = EpochTimer()
    images = arrays["x_train"][..., None]
    labels = {name: arrays[f"{name}_train"] for name in tasks}
    start = time.perf_counter()
    model.fit(images, labels, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=callbacks + [timer])
    train_seconds = time.perf_counter() - start
    steps = math.ceil(len(images) / batch_size)
    logits = model.predict(arrays["x_test"][..., None], batch_size=1024, verbose=0)
    result = {"method": method, "seed": seed, "steps_per_epoch": steps, "train_seconds": train_seconds,
              "step_ms": float(np.median(timer.seconds[1:])) / steps * 1000}
    for name in tasks:
        predicted = np.argmax(logits[f"{name}_logits"], axis=-1)
        result[f"{name}_accuracy"] = float(np.mean(predicted == arrays[f"{name}_test"]))
    return result
