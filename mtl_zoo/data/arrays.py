"""tf.data pipelines from in-memory arrays."""

import numpy as np
import tensorflow as tf

from mtl_zoo.checks import warn_if_unit_range
from mtl_zoo.data.pipeline import build_pipeline


def dataset_from_arrays(model, images, labels, batch_size=32, shuffle=False, seed=None,
                        masks=None, augmentation=None):
    """A batched dataset of `(images, {task: targets}[, masks])` for `model.fit`.

    The arrays go through `build_pipeline` (resized to the model input when
    their size differs, raw labels encoded by the model's own tasks).

    Args:
        model: a `MultiTaskModel` (its tasks encode the labels).
        images: (N, H, W, C) uint8 images.
        labels: `{task_name: raw labels with a leading N axis}` (variable
            numbers of boxes padded, e.g. with class -1).
        batch_size: examples per batch.
        shuffle: shuffle each epoch (seeded by `seed`).
        seed: shuffle and augmentation seed.
        masks: optional `{task_name: (N,) 0/1}` per-example task masks; when
            given (or when the labels leave out some of the model's tasks, or
            the augmentation masks crop-sensitive tasks in cropped views),
            batches carry `{task: (batch,) mask}` as a third element.
        augmentation: an optional `Augmentation`.

    Example:
    >>> ds = dataset_from_arrays(model, images, labels, batch_size=16)  # doctest: +SKIP
    """
    count = len(images)
    if count == 0:
        raise ValueError("dataset_from_arrays got no images.")
    warn_if_unit_range(images, "The images given to dataset_from_arrays")
    for what, value in [("labels", labels), ("masks", masks if masks is not None else {})]:
        if not isinstance(value, dict):
            raise ValueError(f"dataset_from_arrays takes {what} as a dict {{task_name: arrays}}, got "
                             f"{type(value).__name__}; e.g. {{{model.task_names[0]!r}: ...}}.")
    _check_leading_lengths(count, labels, "labels")
    _check_leading_lengths(count, masks or {}, "masks")
    elements = (images, labels) if masks is None else (images, labels, masks)
    dataset = build_pipeline(model, tf.data.Dataset.from_tensor_slices(elements), batch_size,
                             augmentation=augmentation, shuffle_buffer=count if shuffle else 0,
                             seed=seed)
    masks_crops = augmentation is not None and augmentation.masks_cropped_views
    if masks is None and set(labels) >= set(model.task_names) and not masks_crops:
        return dataset.map(lambda images, targets, masks: (images, targets))
    return dataset


def _check_leading_lengths(count, per_task, what):
    """A ValueError naming the task whose `per_task` arrays (an array, or a dict of arrays, each
    possibly a nested list) do not have `count` rows, or are ragged lists."""
    for task, values in per_task.items():
        lengths = set()
        for value in (values.values() if isinstance(values, dict) else [values]):
            try:
                lengths.add(int(np.shape(value)[0]) if np.ndim(value) else 0)
            except ValueError:  # lists of different lengths
                raise ValueError(f"The {what} of task {task!r} are not one array: pad each image's instances to "
                                 "the longest (padding rows: class -1, or visibility 0).") from None
        if lengths != {count}:
            raise ValueError(f"{count} images but {what} of task {task!r} with "
                             f"{sorted(lengths)} rows: give one entry per image.")
