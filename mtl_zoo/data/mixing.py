"""Training on several datasets that each label only some of the model's tasks (x_i per task)."""

import math

import tensorflow as tf

from mtl_zoo.data.pipeline import (check_batch_size, deterministic_options, encoded_examples)
from mtl_zoo.data.sampling import get_sampler


def placeholder_targets(spec, task_name):
    """Zero targets shaped like one encoded example of the task (`spec`: its TensorSpecs)."""
    def zeros(tensor_spec):
        if not tensor_spec.shape.is_fully_defined():
            raise ValueError(f"Task {task_name!r}: its encoded targets have shape "
                             f"{tensor_spec.shape}, not fully known, so no placeholder can stand "
                             "in for datasets without its labels.")
        return tf.zeros(tensor_spec.shape, tensor_spec.dtype)
    return tf.nest.map_structure(zeros, spec)


def dataset_sizes(datasets, sizes):
    """The number of examples of each dataset: `sizes`, or each dataset's known cardinality."""
    if sizes is not None:
        if len(sizes) != len(datasets) or any(int(n) < 1 for n in sizes):
            raise ValueError(f"sizes must give one size >= 1 per dataset ({len(datasets)}), "
                             f"got {list(sizes)}.")
        return [int(n) for n in sizes]
    known = [int(d.cardinality()) for d in datasets]
    unknown = [i for i, n in enumerate(known) if n < 0]
    if unknown:
        raise ValueError(f"Datasets {unknown} have an unknown or infinite size; pass sizes=[...] "
                         "(examples per dataset) for the sampler.")
    return known


def mix_datasets(model, datasets, batch_size=32, sampler="proportional", sizes=None,
                 augmentation=None, resize="stretch", shuffle_buffer=1024, seed=None,
                 deterministic=False, homogeneous_batches=False, pad_value=0.0):
    """An endless stream of batches `(images, {task: targets}, {task: mask})` from several datasets.

    Each dataset yields raw examples `(image, {task: raw label})` for the tasks
    it labels (a source's `load`); images may differ in size, since all go
    through the resize/letterbox step (and `augmentation`) of `build_pipeline`.
    For a task a dataset does not label, its examples carry zero targets of
    the encoded shape and mask 0, so the model adds no loss and no gradient for
    it. Every dataset is shuffled and repeated; `sampler` picks where each draw
    comes from.

    By default batches mix datasets (an example-level draw, with per-example
    masks); `homogeneous_batches=True` draws whole batches from one dataset
    (each batch then labels the same tasks).

    The stream is endless: give `model.fit` a `steps_per_epoch` (for one pass
    over the data, `math.ceil(sum(sizes) / batch_size)`, see
    `steps_per_epoch`).

    Args:
        model: a `MultiTaskModel`.
        datasets: a list of `tf.data.Dataset`s of raw examples.
        batch_size: examples per batch (>= 1).
        sampler: a `TaskSampler` (`RoundRobin()`, `Proportional()`,
            `Annealed(num_epochs)`) or the name "round_robin" / "proportional".
        sizes: examples per dataset; default: each dataset's cardinality.
        augmentation: an `Augmentation`, or None.
        resize: "stretch" or "letterbox".
        shuffle_buffer: shuffle buffer of each dataset (0: no shuffling).
        seed: seed of the shuffling, the augmentation and the sampler.
        deterministic: same seed -> identical batches across runs.
        homogeneous_batches: one dataset per batch instead of mixed batches.
        pad_value: image value of letterbox bands.

    Example:
    >>> data = mix_datasets(model, [faces, pets], 32, sampler=Annealed(num_epochs=10),
    ...                     augmentation=Augmentation(), resize="letterbox")  # doctest: +SKIP
    >>> model.fit(data, epochs=10, steps_per_epoch=steps_per_epoch([n1, n2], 32))  # doctest: +SKIP
    """
    batch_size = check_batch_size(batch_size)
    if isinstance(datasets, tf.data.Dataset):
        raise ValueError("mix_datasets takes a list of datasets, got one tf.data.Dataset: pass "
                         "[dataset], or build_pipeline(model, dataset, ...) for a single one.")
    datasets = list(datasets)
    if not datasets:
        raise ValueError("mix_datasets needs at least one dataset.")
    sampler = get_sampler(sampler)
    sizes = dataset_sizes(datasets, sizes)
    options = deterministic_options(deterministic, seed)
    encoded = [encoded_examples(model, examples, augmentation, resize, pad_value, shuffle_buffer,
                                None if seed is None else seed + index, f"dataset {index}")
               for index, examples in enumerate(datasets)]
    specs = {}
    for dataset in encoded:
        specs.update(dataset.element_spec[1])
    placeholders = {name: placeholder_targets(spec, name) for name, spec in specs.items()}

    def fill(image, targets, masks):
        return image, {name: targets.get(name, placeholders[name]) for name in specs}, masks

    streams = [dataset.map(fill).repeat() for dataset in encoded]
    if homogeneous_batches:
        streams = [stream.batch(batch_size, drop_remainder=True) for stream in streams]
        draws_per_epoch = steps_per_epoch(sizes, batch_size)
    else:
        draws_per_epoch = sum(sizes)
    mixed = sampler.combine(streams, sizes, seed=seed, draws_per_epoch=draws_per_epoch)
    if not homogeneous_batches:
        mixed = mixed.batch(batch_size, drop_remainder=True)
    return mixed.prefetch(tf.data.AUTOTUNE).with_options(options)


def steps_per_epoch(sizes, batch_size):
    """Batches in one pass over datasets of `sizes` examples.

    Example:
    >>> steps_per_epoch([100, 60], 32)
    5
    """
    return math.ceil(sum(int(n) for n in sizes) / check_batch_size(batch_size))
