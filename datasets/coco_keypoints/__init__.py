"""COCO 2017 person keypoints (TFDS builder `coco_keypoints`)."""

from mtl_zoo.dataset_builders.coco_keypoints.coco_keypoints_dataset_builder import (
    FLIP_PAIRS, KEYPOINT_NAMES, NUM_KEYPOINTS, Builder)

__all__ = ["Builder", "FLIP_PAIRS", "KEYPOINT_NAMES", "NUM_KEYPOINTS"]
