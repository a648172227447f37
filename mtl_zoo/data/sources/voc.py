"""PASCAL VOC 2012 (TFDS `voc/2012`): object detection + image-level multi-label.

Labels: `objects` (Detection, 20 classes) holds the boxes of all objects,
the difficult ones with `"iscrowd"` True; `labels` (MultiLabel, 20) is 1 for
the classes with a non-difficult object, -1 (unknown) for classes present
only as difficult objects, 0 otherwise. Difficult objects thus add no loss
either way, and the evaluation ignores detections on them as VOC's does; it
treats them as COCO crowd regions, which pycocotools matches by intersection
over the detection's area (IoA) rather than by IoU as VOC does, an
approximation of VOC's rule. Splits: "train", "validation" (TFDS's test
split has no annotations).

Example:
>>> from mtl_zoo.data.sources import voc
>>> examples = voc.load("validation")  # doctest: +SKIP
"""

import functools

import tensorflow as tf

from mtl_zoo import tasks as mtl_tasks
from mtl_zoo.data.sources.tfds_labels import classes_present, detection_labels, load_tfds, tfds_features

TFDS_NAME = "voc/2012"
CROP_SENSITIVE_TASKS = ("labels",)  # class presence: a crop can leave an object out


@functools.cache
def class_names():
    """VOC's 20 class names, in TFDS's class-id order."""
    return tuple(tfds_features(TFDS_NAME)["objects"]["label"].names)


def to_example(features):
    """`(image, {"objects", "labels"})` from one TFDS voc example."""
    objects = features["objects"]
    difficult = objects["is_difficult"]
    return features["image"], {
        "objects": detection_labels(objects["bbox"], objects["label"], iscrowd=difficult),
        "labels": classes_present(objects["label"], len(class_names()), ignored=difficult),
    }


def load(split, data_dir=None, download=True):
    """The `(image, labels)` examples of VOC 2012's `split` (see the module docstring)."""
    return load_tfds(TFDS_NAME, split, data_dir, download).map(
        to_example, num_parallel_calls=tf.data.AUTOTUNE)


def tasks():
    """Detection("objects") and MultiLabel("labels") over VOC's 20 classes."""
    names = list(class_names())
    return [mtl_tasks.Detection("objects", num_classes=len(names), class_names=names),
            mtl_tasks.MultiLabel("labels", num_labels=len(names), label_names=names)]
