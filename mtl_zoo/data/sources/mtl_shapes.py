"""mtl_shapes (this package's TFDS builder): the embedded, generated multi-task dataset.

Labels:
  * `action` (Classification, 6): what the stick figure does (standing,
    arms_up, arms_out, waving, kicking, squatting), readable from its pose;
  * `objects` (Detection, 4): boxes of the figure (person) and of the
    rectangles, ellipses and triangles;
  * `pose` (Keypoints, 14 with left/right flip pairs): `{"keypoints": (1, 14, 3),
    "boxes": (1, 4)}`, the figure's keypoints with visibility 0 / 1 / 2;
  * `segmentation` (Segmentation, 5): (H, W) mask, 0 background, 1 person,
    2 rectangle, 3 ellipse, 4 triangle.

Splits: "train", "validation", "test". Nothing is downloaded: `load` generates
the dataset into `data_dir` (TFDS's default when None) the first time: for the
default config (3,000 / 500 / 500 images of 128x128) about 31 s of CPU time on
one core and 17 MB on disk.

Example:
>>> from mtl_zoo.data.sources import mtl_shapes
>>> examples = mtl_shapes.load("train", config="small")  # doctest: +SKIP
"""

import numpy as np
import tensorflow as tf

from mtl_zoo import tasks as mtl_tasks
from mtl_zoo.data.sources.tfds_labels import configured_builder, detection_labels
from mtl_zoo.dataset_builders.mtl_shapes import (
    ACTIONS, FLIP_PAIRS, KEYPOINT_NAMES, OBJECT_CLASSES, SEGMENTATION_CLASSES, Builder, MtlShapesConfig,
    scene)
from mtl_zoo.dataset_builders.mtl_shapes.mtl_shapes_dataset_builder import tfds_example


def to_example(features):
    """`(image, {"action", "objects", "pose", "segmentation"})` from one mtl_shapes example."""
    people = features["people"]
    return features["image"], {
        "action": tf.cast(features["action"], tf.int32),
        "objects": detection_labels(features["objects"]["bbox"], features["objects"]["label"]),
        "pose": {"keypoints": people["keypoints"], "boxes": people["bbox"]},
        "segmentation": features["segmentation"][..., 0],
    }


def load(split, data_dir=None, download=True, config="default"):
    """The `(image, labels)` examples of `split` (see the module docstring).

    Args:
      split: "train", "validation" or "test" (TFDS slicing such as "train[:10%]" works).
      data_dir: TFDS data folder (TFDS's default when None).
      download: generate the dataset first if it is not in `data_dir` yet
        (no network is involved); when False it must already be there.
      config: a config name ("default", "small") or a
        `mtl_zoo.dataset_builders.mtl_shapes.MtlShapesConfig` (any size, seed, split sizes).
    """
    builder = configured_builder(Builder, config, data_dir)
    if download:
        builder.download_and_prepare()
    return builder.as_dataset(split=split).map(to_example, num_parallel_calls=tf.data.AUTOTUNE)


def tasks():
    """Classification("action"), Detection("objects"), Keypoints("pose"), Segmentation("segmentation")."""
    return [mtl_tasks.Classification("action", num_classes=len(ACTIONS), class_names=list(ACTIONS)),
            mtl_tasks.Detection("objects", num_classes=len(OBJECT_CLASSES), class_names=list(OBJECT_CLASSES)),
            mtl_tasks.Keypoints("pose", num_keypoints=len(KEYPOINT_NAMES), flip_pairs=FLIP_PAIRS,
                                keypoint_names=list(KEYPOINT_NAMES)),
            mtl_tasks.Segmentation("segmentation", num_classes=len(SEGMENTATION_CLASSES),
                                   class_names=list(SEGMENTATION_CLASSES))]


def generate(num_examples, image_size=128, seed=0):
    """`num_examples` examples drawn like the builder's train split, in memory (no TFDS files).

    Example i equals the builder's train example i for a config with the same
    `image_size` and `seed`; handy for benchmarks and quick experiments.
    Examples are drawn as they are read (`Dataset.range` mapped through
    `tf.numpy_function`), not with `Dataset.from_generator`: TensorFlow's
    generator dataset lowers glibc's malloc thresholds for the whole process
    (its "Memory patch applied: M_TRIM_THRESHOLD" log line), after which every
    image-sized tensor is a fresh `mmap`, and the input pipeline ran 1.4x
    slower in that process (BENCHMARKS.md, input pipeline section).

    Example:
    >>> image, labels = next(iter(generate(1, image_size=64)))
    >>> sorted(labels)
    ['action', 'objects', 'pose', 'segmentation']
    """
    if num_examples < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples}.")
    MtlShapesConfig(name="generated", image_size=image_size, seed=seed)  # validates the size

    def features(i):
        arrays = tfds_example(scene.generate_example(np.random.default_rng([seed, 0, int(i)]), image_size))
        return tf.nest.map_structure(np.asarray, arrays)

    template = features(0)  # the structure, dtypes and ranks of every example
    first = tf.nest.flatten(template)

    def drawn(i):
        flat = tf.numpy_function(lambda index: tf.nest.flatten(features(index)), [i],
                                 [array.dtype for array in first], stateful=False)
        for tensor, array in zip(flat, first):
            tensor.set_shape([None] * array.ndim)
        image, labels = to_example(tf.nest.pack_sequence_as(template, flat))
        return tf.ensure_shape(image, [image_size, image_size, 3]), labels  # RGB: no check of channels when read

    return tf.data.Dataset.range(num_examples).map(drawn, num_parallel_calls=tf.data.AUTOTUNE)
