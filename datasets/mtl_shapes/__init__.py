"""mtl_shapes: the embedded multi-task dataset (generated stick figures and shapes)."""

# Imported by its installed name so that the builder registers once, however this folder is reached.
from mtl_zoo.dataset_builders.mtl_shapes.mtl_shapes_dataset_builder import (
    ACTIONS, FLIP_PAIRS, KEYPOINT_NAMES, OBJECT_CLASSES, SEGMENTATION_CLASSES, Builder, MtlShapesConfig)

__all__ = ["ACTIONS", "Builder", "FLIP_PAIRS", "KEYPOINT_NAMES", "MtlShapesConfig", "OBJECT_CLASSES",
           "SEGMENTATION_CLASSES"]
