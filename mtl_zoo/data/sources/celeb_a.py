"""CelebA (TFDS `celeb_a`): 40 face attributes + 5 face landmarks per aligned face.

Labels: `attributes` (MultiLabel, 40) of 1 / 0 in TFDS's attribute order;
`landmarks` (Landmarks, 5) as (x, y, 2) normalised by the image size, at the
centres of CelebA's integer landmark pixels (+0.5, so that a flip maps each
landmark onto its mirror pixel): left eye, right eye, nose, left and right mouth
corner (flip pairs: the eyes and the mouth corners). Splits: "train", "validation", "test".

Example:
>>> from mtl_zoo.data.sources import celeb_a
>>> examples = celeb_a.load("validation")  # doctest: +SKIP
"""

import functools

import tensorflow as tf

from mtl_zoo import tasks as mtl_tasks
from mtl_zoo.data.sources.tfds_labels import load_tfds, tfds_features

TFDS_NAME = "celeb_a"
LANDMARK_NAMES = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
LANDMARK_FLIP_PAIRS = ((0, 1), (3, 4))


@functools.cache
def attribute_names():
    """CelebA's 40 attribute names, in TFDS's order."""
    return tuple(tfds_features(TFDS_NAME)["attributes"].keys())


def to_example(features):
    """`(image, {"attributes", "landmarks"})` from one TFDS celeb_a example."""
    image = features["image"]
    attributes = tf.stack([tf.cast(features["attributes"][name], tf.int32)
                           for name in attribute_names()])
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    landmarks = tf.stack([
        tf.stack([(tf.cast(features["landmarks"][f"{name}_x"], tf.float32) + 0.5) / size[1],
                  (tf.cast(features["landmarks"][f"{name}_y"], tf.float32) + 0.5) / size[0],
                  2.0])
        for name in LANDMARK_NAMES])
    return image, {"attributes": attributes, "landmarks": landmarks}


def load(split, data_dir=None, download=True):
    """The `(image, labels)` examples of CelebA's `split` (see the module docstring)."""
    return load_tfds(TFDS_NAME, split, data_dir, download).map(
        to_example, num_parallel_calls=tf.data.AUTOTUNE)


def tasks():
    """MultiLabel("attributes", 40) and Landmarks("landmarks", 5)."""
    names = list(attribute_names())
    return [mtl_tasks.MultiLabel("attributes", num_labels=len(names), label_names=names),
            mtl_tasks.Landmarks("landmarks", num_landmarks=len(LANDMARK_NAMES),
                                flip_pairs=LANDMARK_FLIP_PAIRS,
                                landmark_names=list(LANDMARK_NAMES))]
