"""Dataset sources: named datasets of multi-task examples `(image, {task_name: raw label})`.

A source is a module of this package with two functions:

  * `load(split, data_dir=None, download=True)`: a `tf.data.Dataset` of
    `(image, labels)` pairs: `image` uint8 (H, W, 3) (sizes may differ between
    examples) and `labels` a dict keyed by task name holding each task's raw
    label in the format its encoder takes (README "Tasks" table); variable-length
    annotations (boxes, keypoint instances) keep their own length N per example.
  * `tasks()`: the `mtl_zoo.tasks` instances, named like the label keys, whose
    raw formats these labels are.

`mtl_zoo.data` turns such examples into training batches for a model.

Example:
>>> from mtl_zoo.data.sources import list_sources
>>> "mtl_shapes" in list_sources()  # doctest: +SKIP
True
"""

import importlib

from mtl_zoo.naming import unknown_name_error

# name -> module under mtl_zoo.data.sources
SOURCE_MODULES = {
    "celeb_a": "celeb_a",
    "coco": "coco",
    "coco_keypoints": "coco_keypoints",
    "mtl_shapes": "mtl_shapes",
    "multi_mnist": "multi_mnist",
    "oxford_iiit_pet": "oxford_iiit_pet",
    "voc": "voc",
}


def list_sources():
    """The names of the dataset sources."""
    return sorted(SOURCE_MODULES)


def get_source(name):
    """The source module called `name` (with `load` and `tasks`)."""
    if name not in SOURCE_MODULES:
        raise unknown_name_error("dataset", name, SOURCE_MODULES)
    return importlib.import_module(f"mtl_zoo.data.sources.{SOURCE_MODULES[name]}")


def load_examples(name, split, data_dir=None, download=True, **options):
    """The `(image, {task: raw label})` examples of source `name`'s `split`.

    `options` go to the source's `load` (e.g. `config="small"` for mtl_shapes).

    Example:
    >>> train = load_examples("mtl_shapes", "train")  # doctest: +SKIP
    >>> image, labels = next(iter(train))  # doctest: +SKIP
    >>> sorted(labels)  # doctest: +SKIP
    ['action', 'objects', 'pose', 'segmentation']
    """
    return get_source(name).load(split, data_dir=data_dir, download=download, **options)


def evaluation_split(name):
    """The split that validates models trained on source `name`: "validation", or the
    source's `EVALUATION_SPLIT` ("test") where the dataset has no validation split.

    Example:
    >>> evaluation_split("multi_mnist")
    'test'
    """
    return getattr(get_source(name), "EVALUATION_SPLIT", "validation")


def allows_horizontal_flips(name):
    """Whether mirroring an example of source `name` keeps its labels right (False for
    multi_mnist: mirrored digits are not digits, and left and right would swap).

    Example:
    >>> allows_horizontal_flips("mtl_shapes"), allows_horizontal_flips("multi_mnist")
    (True, False)
    """
    return getattr(get_source(name), "HORIZONTAL_FLIPS", True)


def crop_sensitive_tasks(name):
    """The tasks of source `name` whose labels a crop can make wrong (counts, class presence):
    `Augmentation(crop_sensitive_tasks=...)` masks them in cropped views.

    Example:
    >>> crop_sensitive_tasks("coco_keypoints"), crop_sensitive_tasks("mtl_shapes")
    (('people_count',), ())
    """
    return tuple(getattr(get_source(name), "CROP_SENSITIVE_TASKS", ()))


def source_tasks(name):
    """The tasks matching source `name`'s labels, named like its label keys.

    Example:
    >>> [(task.name, task.kind) for task in source_tasks("multi_mnist")]
    [('left', 'classification'), ('right', 'classification'), ('digits', 'detection')]
    """
    return get_source(name).tasks()


__all__ = ["SOURCE_MODULES", "allows_horizontal_flips", "crop_sensitive_tasks", "evaluation_split", "get_source", "list_sources", "load_examples", "source_tasks"]
