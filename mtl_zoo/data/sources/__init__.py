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

A module of your own with the same two functions is a source too: name it by its import
path wherever a source name goes (`get_source("my_project.boats")`, `scripts/train.py
--dataset=my_project.boats`); it must be importable (installed, or on PYTHONPATH). It may
also define `EVALUATION_SPLIT`, `HORIZONTAL_FLIPS` and `CROP_SENSITIVE_TASKS` (below).

Example:
>>> from mtl_zoo.data.sources import list_sources
>>> "mtl_shapes" in list_sources()  # doctest: +SKIP
True
"""

import importlib
import inspect
import pathlib
import re

import tensorflow as tf

from mtl_zoo.naming import did_you_mean, unknown_name_error

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


_MODULE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SHIPPED_PREFIX = f"{__name__}."


def get_source(name):
    """The source module called `name` (with `load` and `tasks`): one of `list_sources()`, or
    the import path of a module of your own that has both.

    Raises:
        ValueError: `name` is neither a source here nor an importable module, or the module
            it names lacks `tasks()` or a `load` taking `split`, `data_dir` and `download`.

    Example:
    >>> get_source("multi_mnist").EVALUATION_SPLIT
    'test'
    """
    if isinstance(name, str) and name in SOURCE_MODULES:
        return importlib.import_module(f"mtl_zoo.data.sources.{SOURCE_MODULES[name]}")
    module = _own_module(name)
    _check_source(module, name)
    return module


def _own_module(name):
    """The module imported from the path `name`, or the "unknown dataset" error when no module
    has that path. An error inside the module (a dependency it lacks, say) goes up unchanged."""
    unknown = unknown_name_error("dataset", name, SOURCE_MODULES)
    if isinstance(name, str) and (name.endswith(".py") or "/" in name or "\\" in name):
        file = pathlib.PurePath(name.replace("\\", "/"))
        raise ValueError(f"{unknown} A source of your own is named by its import path, not a file: "
                         f"{file.stem!r}, with {str(file.parent)!r} on PYTHONPATH.")
    if isinstance(name, str) and name.startswith(_SHIPPED_PREFIX):
        raise ValueError(f"{unknown} Name a source shipped here by its own name, not its module path.")
    if isinstance(name, str) and _MODULE_PATH.match(name):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as error:
            parts = name.split(".")
            if error.name not in {".".join(parts[:end]) for end in range(1, len(parts) + 1)}:
                raise  # a module that the source itself imports
        example = name.replace(".", "/")
    else:
        example = "boats"
    raise ValueError(f"{unknown} Or give the import path of a module of your own with load(split, "
                     "data_dir=None, download=True) and tasks() (see mtl_zoo.data.sources), "
                     "importable from here: installed, or on PYTHONPATH (e.g. PYTHONPATH=. for "
                     f"./{example}.py).")


def _check_source(module, name):
    """Raises ValueError unless `module` has `tasks()` and a `load` that takes the arguments
    `load_examples` passes it."""
    missing = [function for function in ("load", "tasks") if not callable(getattr(module, function, None))]
    if missing:
        hint = did_you_mean(name, SOURCE_MODULES)  # a typo that names an installed package
        raise ValueError(f"Module {name!r} is not a dataset source: it has no {' and no '.join(missing)} "
                         f"function.{hint} A source defines load(split, data_dir=None, download=True), "
                         "giving (image, {task: raw label}) examples, and tasks() (see "
                         "mtl_zoo.data.sources).")
    signature = inspect.signature(module.load)
    try:  # as load_examples calls it
        signature.bind("train", data_dir=None, download=True)
    except TypeError as error:
        raise ValueError(f"Dataset source {name!r}: its load{signature} cannot be called as "
                         f"load(split, data_dir=..., download=...) ({error}); give it the signature "
                         "load(split, data_dir=None, download=True), with options of its own after "
                         "them.") from None


def load_examples(name, split, data_dir=None, download=True, **options):
    """The `(image, {task: raw label})` examples of source `name`'s `split`.

    `options` go to the source's `load` (e.g. `config="small"` for mtl_shapes).

    Example:
    >>> train = load_examples("mtl_shapes", "train")  # doctest: +SKIP
    >>> image, labels = next(iter(train))  # doctest: +SKIP
    >>> sorted(labels)  # doctest: +SKIP
    ['action', 'objects', 'pose', 'segmentation']
    """
    examples = get_source(name).load(split, data_dir=data_dir, download=download, **options)
    spec = getattr(examples, "element_spec", None)
    if not (isinstance(examples, tf.data.Dataset) and isinstance(spec, tuple) and len(spec) == 2
            and isinstance(spec[1], dict)):
        given = type(examples) if spec is None else spec
        raise ValueError(f"Dataset source {name!r}: load({split!r}) must return a tf.data.Dataset of "
                         f"(image, {{task name: raw label}}) pairs, got {given}.")
    named = [task.name for task in source_tasks(name)]
    unnamed = [label for label in spec[1] if label not in named]
    if unnamed:
        raise ValueError(f"Dataset source {name!r}: its examples label {unnamed}, which its tasks() "
                         f"does not name (it names {named}): give the labels the names of its tasks.")
    return examples


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
    from mtl_zoo.tasks import Task

    tasks = get_source(name).tasks()
    if not isinstance(tasks, (list, tuple)) or not tasks or not all(isinstance(t, Task) for t in tasks):
        raise ValueError(f"Dataset source {name!r}: tasks() must return mtl_zoo.tasks instances (e.g. "
                         f"mz.tasks.Classification('kind', 4)), named like its label keys; got {tasks!r}.")
    return list(tasks)


__all__ = ["SOURCE_MODULES", "allows_horizontal_flips", "crop_sensitive_tasks", "evaluation_split", "get_source", "list_sources", "load_examples", "source_tasks"]
