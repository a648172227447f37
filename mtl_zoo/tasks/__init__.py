"""Task kinds: one module each, with head, loss, metrics, encoder and decoder.

Adding a task kind means adding one module here and listing its class in
`TASK_KINDS`.
"""

import keras

from mtl_zoo.naming import unknown_name_error
from mtl_zoo.tasks.base import Features, ImageMapping, Task
from mtl_zoo.tasks.classification import Classification
from mtl_zoo.tasks.depth import Depth
from mtl_zoo.tasks.detection import Detection
from mtl_zoo.tasks.heatmaps import HeatmapFocalLoss
from mtl_zoo.tasks.keypoints import Keypoints
from mtl_zoo.tasks.landmarks import Landmarks
from mtl_zoo.tasks.multilabel import MultiLabel
from mtl_zoo.tasks.segmentation import Segmentation

TASK_KINDS = {cls.kind: cls for cls in
              (Classification, MultiLabel, Detection, Keypoints, Landmarks, Segmentation, Depth)}


def get_task(spec):
    """A `Task` from an instance, or from a dict `{"kind": ..., "name": ..., **options}`.

    Example:
    >>> get_task({"kind": "classification", "name": "digit", "num_classes": 10})
    Classification(name='digit', num_classes=10, label_smoothing=0.0, top_k=5, class_names=None)
    """
    if isinstance(spec, Task):
        return spec
    if isinstance(spec, dict) and "kind" in spec:
        options = dict(spec)
        kind = options.pop("kind")
        if kind not in TASK_KINDS:
            raise unknown_name_error("task kind", kind, TASK_KINDS)
        try:
            return TASK_KINDS[kind](**options)
        except TypeError as error:
            raise ValueError(f"Bad options for task kind {kind!r}: {error}.") from None
    raise ValueError(
        f"A task must be a mtl_zoo.tasks.Task or a dict with a 'kind' key "
        f"(one of {sorted(TASK_KINDS)}), got {spec!r}.")


def serialize_task(task):
    """`task` as a Keras-serializable config dict (the inverse of `deserialize_task`).

    Example:
    >>> task = deserialize_task(serialize_task(Classification("digit", 10)))
    >>> task.name, task.num_classes
    ('digit', 10)
    """
    return keras.saving.serialize_keras_object(task)


def deserialize_task(config):
    """The task that `serialize_task` wrote as `config`."""
    return keras.saving.deserialize_keras_object(config)


__all__ = ["Classification", "Depth", "Detection", "Features", "HeatmapFocalLoss", "ImageMapping",
           "Keypoints", "Landmarks", "MultiLabel", "Segmentation", "TASK_KINDS", "Task", "get_task"]
