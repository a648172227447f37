"""COCO 2017 person keypoints (this package's TFDS builder `coco_keypoints`).

Labels:
  * `people` (Keypoints, 17 COCO keypoints with their flip pairs):
    `{"keypoints": (N, 17, 3), "boxes": (N, 4), "iscrowd": (N,), "areas": (N,)}` of every
    person annotation: people with labelled keypoints, people without any
    (all visibilities 0) and crowd regions (`iscrowd` True, no keypoints).
  * `persons` (Detection, 1 class): `{"boxes", "classes", "iscrowd", "areas"}` of
    every person annotation, crowd regions with `iscrowd` True.
  * `people_count` (Classification, 4): "none", "one", "two", "three_or_more"
    non-crowd people; an image with a crowd region counts as three or more.

`areas` are COCO's segment areas as fractions of the image area: the
evaluation's object scale (OKS) and size ranges, as in COCO's evaluation.

Crowd regions, and people without keypoints in `people`, are ignore regions:
they give no training target, and the evaluation ignores the boxes and poses
found on them, as COCO's does (pycocotools ignores crowd annotations and, for
keypoints, annotations with no keypoint). Splits: "train", "validation".
`data_dir` is TFDS's data folder; `manual_dir` a local copy of COCO to build from
(its zips, or the annotations and image folders: datasets/coco_keypoints/README.md).

Example:
>>> from mtl_zoo.data.sources import coco_keypoints
>>> examples = coco_keypoints.load("validation")  # doctest: +SKIP
"""

import tensorflow as tf

from mtl_zoo import tasks as mtl_tasks
from mtl_zoo.data.sources.tfds_labels import detection_labels, image_area_fractions, load_tfds
from mtl_zoo.dataset_builders.coco_keypoints import FLIP_PAIRS, KEYPOINT_NAMES

TFDS_NAME = "coco_keypoints"
CROP_SENSITIVE_TASKS = ("people_count",)  # a crop can leave a person out
PEOPLE_COUNT_CLASSES = ("none", "one", "two", "three_or_more")


def to_example(features):
    """`(image, {"people", "persons", "people_count"})` from one coco_keypoints example."""
    objects = features["objects"]
    crowd = objects["is_crowd"]
    persons = detection_labels(objects["bbox"], tf.zeros_like(objects["id"]), iscrowd=crowd,
                               areas=image_area_fractions(objects["area"], features["image"]))
    count = tf.minimum(tf.reduce_sum(tf.cast(tf.logical_not(crowd), tf.int32)),
                       len(PEOPLE_COUNT_CLASSES) - 1)
    has_crowd = tf.reduce_any(crowd)
    return features["image"], {
        "people": {"keypoints": objects["keypoints"], "boxes": persons["boxes"],
                   "iscrowd": persons["iscrowd"], "areas": persons["areas"]},
        "persons": persons,
        "people_count": tf.where(has_crowd, len(PEOPLE_COUNT_CLASSES) - 1, count),
    }


def load(split, data_dir=None, download=True, manual_dir=None):
    """The `(image, labels)` examples of `split` (see the module docstring); `manual_dir`
    (on the command line `--manual_dir`) builds from a local copy of COCO."""
    return load_tfds(TFDS_NAME, split, data_dir, download, manual_dir).map(
        to_example, num_parallel_calls=tf.data.AUTOTUNE)


def tasks():
    """Keypoints("people", 17), Detection("persons", 1), Classification("people_count", 4)."""
    return [mtl_tasks.Keypoints("people", num_keypoints=len(KEYPOINT_NAMES), flip_pairs=FLIP_PAIRS,
                                keypoint_names=list(KEYPOINT_NAMES)),
            mtl_tasks.Detection("persons", num_classes=1, class_names=["person"]),
            mtl_tasks.Classification("people_count", num_classes=len(PEOPLE_COUNT_CLASSES),
                                     class_names=list(PEOPLE_COUNT_CLASSES))]
