"""A small dataset source for the tests, `test_counts`: noise images whose one label, `count`
(a Classification task of 3 classes), is how many of three quadrants are bright.

`register()` adds it to `mtl_zoo.data.sources` in this process, for tests (and test
subprocesses) that train or evaluate on a second dataset beside mtl_shapes.
"""

import sys

import numpy as np
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.data.sources import SOURCE_MODULES

NAME = "test_counts"
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


def register():
    """Makes `mtl_zoo.data.sources.get_source(NAME)` return this module; returns it."""
    module = sys.modules[__name__]
    sys.modules[f"mtl_zoo.data.sources.{NAME}"] = module
    SOURCE_MODULES[NAME] = NAME
    return module


def unregister():
    sys.modules.pop(f"mtl_zoo.data.sources.{NAME}", None)
    SOURCE_MODULES.pop(NAME, None)
