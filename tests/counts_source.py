"""A small dataset source of the tests' own, named by its import path `counts_source` as a
user's source is (tests/ is on the path of pytest's process; subprocesses get it through
PYTHONPATH): noise images whose one label, `count` (a Classification task of 3 classes), is
how many of three quadrants are bright. The tests train and evaluate on it beside mtl_shapes.
"""

import os
import pathlib

import numpy as np
import tensorflow as tf

import mtl_zoo as mz

SIZES = {"train": 24, "validation": 8}
HORIZONTAL_FLIPS = False


def load(split, data_dir=None, download=True):
    rng = np.random.default_rng(list(SIZES).index(split))
    images = rng.integers(0, 60, (SIZES[split], 40, 40, 3), dtype=np.uint8)
    counts = rng.integers(0, 3, SIZES[split])
    for image, count in zip(images, counts):
        for quadrant in range(count):
            top, left = 20 * (quadrant // 2), 20 * (quadrant % 2)
            image[top:top + 20, left:left + 20] += 150
    return tf.data.Dataset.from_tensor_slices((images, {"count": counts.astype(np.int64)}))


def tasks():
    return [mz.tasks.Classification("count", 3)]



def environment():
    """`os.environ` with this module's folder in front of PYTHONPATH: for the subprocesses (scripts,
    workers) of tests that name this source."""
    folder = str(pathlib.Path(__file__).resolve().parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")]))}
