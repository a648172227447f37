"""Input pipelines: datasets of (images, {task: targets}, {task: mask}) encoded by a model's tasks.

  * `build_pipeline`: raw `(image, {task: raw label})` examples (a source's
    `load`) to training batches: resize or letterbox, joint augmentation,
    encoding, masks.
  * `mix_datasets`: several datasets that each label some tasks, drawn by a
    task sampler (`RoundRobin`, `Proportional`, `Annealed`).
  * `concatenate_datasets`: every example of such datasets once, for validation.
  * `raw_batches`: evaluation batches of padded raw labels at the model input.
  * `dataset_from_arrays`, `generate_shapes`: in-memory arrays, generated shapes.
"""

from mtl_zoo.data.arrays import dataset_from_arrays
from mtl_zoo.data.augmentation import Augmentation
from mtl_zoo.data.mixing import concatenate_datasets, mix_datasets, steps_per_epoch
from mtl_zoo.data.pipeline import ExamplePreparation, build_pipeline, raw_batches, with_labels_of
from mtl_zoo.data.sampling import SAMPLERS, Annealed, Proportional, RoundRobin, TaskSampler, get_sampler
from mtl_zoo.data.synthetic import SHAPE_CLASSES, SHAPE_FLIP_PAIRS, generate_shapes
from mtl_zoo.data.transform import RESIZE_MODES, GeometricTransform

__all__ = ["Annealed", "Augmentation", "ExamplePreparation", "GeometricTransform", "Proportional",
           "RESIZE_MODES", "RoundRobin", "SAMPLERS", "SHAPE_CLASSES", "SHAPE_FLIP_PAIRS",
           "TaskSampler", "build_pipeline", "concatenate_datasets", "dataset_from_arrays", "generate_shapes", "get_sampler",
           "mix_datasets", "raw_batches", "steps_per_epoch", "with_labels_of"]
