"""Input pipelines: datasets of (images, {task: targets}) encoded by a model's tasks."""

from mtl_zoo.data.arrays import dataset_from_arrays
from mtl_zoo.data.synthetic import SHAPE_CLASSES, SHAPE_FLIP_PAIRS, generate_shapes

__all__ = ["SHAPE_CLASSES", "SHAPE_FLIP_PAIRS", "dataset_from_arrays", "generate_shapes"]
