"""Serving latency: the exported SavedModel against the Keras model, and one 3-task model
against three single-task models (what sharing the trunk saves at inference)."""

import tempfile

import numpy as np
import tensorflow as tf

from mtl_zoo.benchmarks.measure import median_seconds
from mtl_zoo.benchmarks.table import Table


def _exported(model, folder):
    from mtl_zoo.export import saved_model

    return tf.saved_model.load(saved_model(model, folder)).signatures


def run(quick=False):
    """Median latency per batch, as ratios to the Keras model's forward pass `model(x)`.

    The default model of `scripts/train.py` (tiny backbone; mtl_shapes action,
    objects, pose) at 128 px (32 px with `quick`), batches 1 and 32 (1 and 4).
    """
    import mtl_zoo as mz
    from mtl_zoo.cli.train import build_job_model

    size, batches, repeats = (32, (1, 4), 2) if quick else (128, (1, 32), 20)
    model = build_job_model(image_size=size)
    singles = [mz.build_model("tiny", [task], (size, size, 3), name=f"only_{task.name}")
               for task in model.tasks]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        signatures = _exported(model, f"{folder}/shared")
        single_signatures = [_exported(m, f"{folder}/{m.name}") for m in singles]
        for batch in batches:
            images = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), np.uint8)
            tensor = tf.constant(images)
            floats = tf.constant(images.astype(np.float32))
            timings = {
                "Keras `model(x)` (raw)": lambda: model(floats, training=False),
                "Keras `predict_decoded`": lambda: model.predict_decoded(images),
                "SavedModel `serving_raw`": lambda: signatures["serving_raw"](images=tensor),
                "SavedModel `serving_default` (decoded)":
                    lambda: signatures["serving_default"](images=tensor),
                "3 single-task SavedModels, `serving_default` each": lambda: [
                    s["serving_default"](images=tensor) for s in single_signatures],
            }
            seconds = {name: median_seconds(f, repeats=repeats) for name, f in timings.items()}
            baseline = seconds["Keras `model(x)` (raw)"]
            rows += [[name, batch, 1000 * value, value / baseline] for name, value in seconds.items()]
    description = (
        f"The default 3-task model of `scripts/train.py` (tiny backbone, {size} px; action, "
        "objects, pose), random weights, uint8 input at the model size. Median wall time "
        f"per batch over {repeats} calls after 2 warm-up calls; `ratio` is to the Keras "
        "forward pass `model(x)` at the same batch. The last row runs three single-task "
        "models (same backbone, one head each) on the same images: its ratio against the "
        "decoded 3-task SavedModel is what sharing one trunk saves at inference.")
    return Table("Serving latency: SavedModel vs Keras, one 3-task model vs three",
                 description, ["what", "batch", "ms per batch", "ratio to model(x)"], rows)
