"""MultiMNIST (this package's TFDS builder `multi_mnist`): two overlapping digits per image.

Labels (Sener & Koltun 2018): `left` and `right` (Classification, 10), the
top-left and bottom-right digits, and `digits` (Detection, 10), both digits'
boxes with their classes. Images are the 36x36 canvases repeated to 3 channels
(uint8 (36, 36, 3)); backbones need sides that are multiples of 32, so the
input pipeline resizes them, e.g. to 32x32 or 64x64.

Splits: "train", "test". Config "full" (default) pairs MNIST train into train
and MNIST test into test; "test_set_only" builds from the MNIST test set alone
(digits 0-7999 train, 8000-9999 test). The MNIST files are downloaded, or read
from `manual_dir` (checked against their official sha256).

Example:
>>> from mtl_zoo.data.sources import multi_mnist
>>> examples = multi_mnist.load("test", config="test_set_only",
...                             manual_dir="path/to/mnist")  # doctest: +SKIP
"""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from mtl_zoo import tasks as mtl_tasks
from mtl_zoo.data.sources.tfds_labels import configured_builder, detection_labels
from mtl_zoo.dataset_builders.multi_mnist import DIGIT_NAMES, Builder
from mtl_zoo.dataset_builders.multi_mnist.multi_mnist_dataset_builder import MNIST_FILES


EVALUATION_SPLIT = "test"  # the dataset has no validation split
HORIZONTAL_FLIPS = False  # a mirrored digit is no digit, and left and right would swap

def to_example(features):
    """`(image, {"left", "right", "digits"})` from one multi_mnist example."""
    return tf.image.grayscale_to_rgb(features["image"]), {
        "left": tf.cast(features["left"], tf.int32),
        "right": tf.cast(features["right"], tf.int32),
        "digits": detection_labels(features["digits"]["bbox"], features["digits"]["label"]),
    }


def load(split, data_dir=None, download=True, config="full", manual_dir=None):
    """The `(image, labels)` examples of `split` (see the module docstring).

    Args:
      split: "train" or "test" (TFDS slicing such as "train[:10%]" works).
      data_dir: TFDS data folder (TFDS's default when None).
      download: build the dataset first if it is not in `data_dir` yet,
        downloading MNIST unless `manual_dir` holds it; when False it must
        already be built.
      config: "full", "test_set_only" or a `MultiMnistConfig`.
      manual_dir: a folder with the official MNIST .gz files, for building offline.
    """
    builder = configured_builder(Builder, config, data_dir)
    if manual_dir is not None and not (os.path.isdir(manual_dir) and os.listdir(manual_dir)):
        needed = sorted(MNIST_FILES[key] for key in builder.builder_config.file_keys)
        raise FileNotFoundError(f"multi_mnist: manual_dir {manual_dir} does not exist or is empty; put "
                                f"the official MNIST files {needed} there, or leave manual_dir unset "
                                f"to download them.")
    if download:
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder.as_dataset(split=split).map(to_example, num_parallel_calls=tf.data.AUTOTUNE)


def tasks():
    """Classification("left", 10), Classification("right", 10), Detection("digits", 10)."""
    names = list(DIGIT_NAMES)
    return [mtl_tasks.Classification("left", num_classes=10, class_names=names),
            mtl_tasks.Classification("right", num_classes=10, class_names=names),
            mtl_tasks.Detection("digits", num_classes=10, class_names=names)]
