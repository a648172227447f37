"""COCO 2017 (TFDS `coco/2017`): object detection + image-level multi-label over 80 classes.

Labels: `objects` (Detection, 80 classes) holds the boxes of all objects,
the crowd regions with `"iscrowd"` True: they are ignore regions, not boxes
to find (no training target; COCO's evaluation ignores detections on them),
and `"areas"`, the segment areas as fractions of the image area (COCO's
size ranges use them; TFDS stores COCO's areas as whole pixels);
`labels` (MultiLabel, 80) is 1 for the classes with a non-crowd object, -1
(unknown) for classes present only as crowd regions, 0 otherwise. Splits:
"train", "validation" (TFDS's test split has no annotations).

Example:
>>> from mtl_zoo.data.sources import coco
>>> examples = coco.load("validation")  # doctest: +SKIP
"""

import tensorflow as tf

from mtl_zoo import tasks as mtl_tasks
from mtl_zoo.data.sources.tfds_labels import (classes_present, detection_labels, image_area_fractions,
                                             load_tfds)

TFDS_NAME = "coco/2017"
CROP_SENSITIVE_TASKS = ("labels",)  # class presence: a crop can leave an object out

# TFDS's class ids 0..79 are COCO's categories sorted by category id; the TFDS
# code does not name them (the names come from the downloaded annotations).
CLASS_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush")


def to_example(features):
    """`(image, {"objects", "labels"})` from one TFDS coco example."""
    objects = features["objects"]
    crowd = objects["is_crowd"]
    return features["image"], {
        "objects": detection_labels(objects["bbox"], objects["label"], iscrowd=crowd,
                                    areas=image_area_fractions(objects["area"], features["image"])),
        "labels": classes_present(objects["label"], len(CLASS_NAMES), ignored=crowd),
    }


def load(split, data_dir=None, download=True):
    """The `(image, labels)` examples of COCO 2017's `split` (see the module docstring)."""
    return load_tfds(TFDS_NAME, split, data_dir, download).map(
        to_example, num_parallel_calls=tf.data.AUTOTUNE)


def tasks():
    """Detection("objects") and MultiLabel("labels") over COCO's 80 classes."""
    names = list(CLASS_NAMES)
    return [mtl_tasks.Detection("objects", num_classes=len(names), class_names=names),
            mtl_tasks.MultiLabel("labels", num_labels=len(names), label_names=names)]
