"""Training on several datasets that each label only some of the model's tasks (x_i per task)."""

import tensorflow as tf

from mtl_zoo.checks import check_integer
from mtl_zoo.data.pipeline import batches_per_pass, check_batch_size, deterministic_options, encoded_examples
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
    """The number of examples of each dataset: `sizes`, or each dataset's known cardinality.

    A size in `sizes` must match the dataset's cardinality where that is known.
    """
    known = [int(d.cardinality()) for d in datasets]
    if sizes is not None:
        if len(sizes) != len(datasets) or any(int(n) < 1 for n in sizes):
            raise ValueError(f"sizes must give one size >= 1 per dataset ({len(datasets)}), "
                             f"got {list(sizes)}.")
        sizes = [int(n) for n in sizes]
        for index, (given, count) in enumerate(zip(sizes, known)):
            if count >= 0 and given != count:
                raise ValueError(f"sizes[{index}] is {given}, but dataset {index} has {count} "
                                 "examples (its cardinality): give its true size, or leave "
                                 "sizes out to use the cardinalities.")
        return sizes
    unknown = [i for i, n in enumerate(known) if n < 0]
    if unknown:
        raise ValueError(f"Datasets {unknown} have an unknown or infinite size; pass sizes=[...] "
                         "(examples per dataset) for the sampler.")
    return known


def repeat_or_fail(examples, what):
    """`examples` repeated forever, and an error naming `what` if a pass over it yields nothing.

    (`repeat()` ends the stream at the first empty pass, and the samplers would
    then skip the dataset or end the mixture without a word.)
    """
    message = (f"{what} yields no examples: check its filter (a dataset of unknown size, given "
               "with sizes=[...], turned out empty), or leave it out of the mixture.")

    def fail(_):
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return tf.nest.map_structure(
                lambda spec: tf.identity(tf.zeros([d or 0 for d in spec.shape], spec.dtype)),
                examples.element_spec)

    return examples.repeat().concatenate(tf.data.Dataset.range(1).map(fail))


def filled_examples(model, datasets, augmentation=None, resize="stretch", pad_value=0.0,
                    shuffle_buffer=0, seed=None):
    """`[(examples, task names it labels)]`: each dataset's encoded examples
    `(image, {task: targets}, {task: mask})`, with zero placeholder targets (and mask 0) for
    the tasks that another dataset of the list labels and this one does not, so that all
    have one element structure."""
    encoded = [encoded_examples(model, examples, augmentation, resize, pad_value, shuffle_buffer,
                                None if seed is None else seed + index, f"dataset {index}")
               for index, examples in enumerate(datasets)]
    specs = {}
    for dataset in encoded:
        specs.update(dataset.element_spec[1])
    placeholders = {name: placeholder_targets(spec, name) for name, spec in specs.items()}

    def fill(image, targets, masks):
        return image, {name: targets.get(name, placeholders[name]) for name in specs}, masks

    return [(dataset.map(fill), list(dataset.element_spec[1])) for dataset in encoded]


def checked_dataset_list(datasets, what):
    if isinstance(datasets, tf.data.Dataset):
        raise ValueError(f"{what} takes a list of datasets, got one tf.data.Dataset: pass "
                         "[dataset], or build_pipeline(model, dataset, ...) for a single one.")
    datasets = list(datasets)
    if not datasets:
        raise ValueError(f"{what} needs at least one dataset.")
    return datasets


def concatenate_datasets(model, datasets, batch_size=32, resize="stretch", pad_value=0.0):
    """Every example of several datasets once, in order, as batches `(images, {task: targets},
    {task: mask})`: for `validation_data` / `model.evaluate` of a model trained with
    `mix_datasets`, where an endless random mixture would validate on other examples each
    epoch. Tasks a dataset does not label get zero targets and mask 0, so each task's
    validation loss and metrics are over the examples that label it, whichever dataset they
    come from. No augmentation, no shuffling; the last batch may be smaller.

    Example:
    >>> validation = concatenate_datasets(model, [faces_val, pets_val], 32)  # doctest: +SKIP
    >>> model.fit(mixture, epochs=10, steps_per_epoch=steps, validation_data=validation)  # doctest: +SKIP
    """
    batch_size = check_batch_size(batch_size)
    datasets = checked_dataset_list(datasets, "concatenate_datasets")
    encoded = [dataset for dataset, _ in filled_examples(model, datasets, resize=resize,
                                                         pad_value=pad_value)]
    joined = encoded[0]
    for dataset in encoded[1:]:
        joined = joined.concatenate(dataset)
    return joined.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def mix_datasets(model, datasets, batch_size=32, sampler="proportional", sizes=None,
                 augmentation=None, resize="stretch", shuffle_buffer=1024, seed=None,
                 deterministic=False, homogeneous_batches=False, pad_value=0.0,
                 steps_per_epoch=None):
    """An endless stream of batches `(images, {task: targets}, {task: mask})` from several datasets.

    Each dataset yields raw examples `(image, {task: raw label})` for the tasks
    it labels (a source's `load`); images may differ in size, since all go
    through the resize/letterbox step (and `augmentation`) of `build_pipeline`.
    For a task a dataset does not label, its examples carry zero targets of
    the encoded shape and mask 0, so the model adds no loss and no gradient for
    it. Every dataset is shuffled and repeated; `sampler` picks where each draw
    comes from. A dataset that yields no examples (one of unknown size, given
    with `sizes`, that a filter emptied) stops the stream with an error naming
    it, rather than being left out of the mixture.

    By default batches mix datasets (an example-level draw, with per-example
    masks); `homogeneous_batches=True` draws whole batches from one dataset
    (each batch then labels the same tasks).

    The stream is endless: give `model.fit` a `steps_per_epoch`, the same as
    here. The sampler's epochs (`Annealed`, or any sampler whose probabilities
    change with the epoch) are `steps_per_epoch` batches of the stream, the
    steps Keras takes per epoch while it keeps reading one iterator; so pass
    `fit` this one stream for all epochs (a new `fit` call starts the schedule
    again at epoch 1).

    Args:
        model: a `MultiTaskModel`.
        datasets: a list of `tf.data.Dataset`s of raw examples.
        batch_size: examples per batch (>= 1).
        sampler: a `TaskSampler` (`RoundRobin()`, `Proportional()`,
            `Annealed(num_epochs)`) or the name "round_robin" / "proportional".
        sizes: examples per dataset; default: each dataset's cardinality (a
            given size must match a known cardinality).
        augmentation: an `Augmentation`, or None.
        resize: "stretch" or "letterbox".
        shuffle_buffer: shuffle buffer of each dataset (0: no shuffling).
        seed: seed of the shuffling, the augmentation and the sampler.
        deterministic: same seed -> identical batches across runs.
        homogeneous_batches: one dataset per batch instead of mixed batches.
        pad_value: image value of letterbox bands.
        steps_per_epoch: batches per epoch, as passed to `model.fit`; default:
            one pass over the data, `steps_per_epoch(sizes, batch_size)`.

    Example:
    >>> steps = steps_per_epoch([n1, n2], 32)  # doctest: +SKIP
    >>> data = mix_datasets(model, [faces, pets], 32, sampler=Annealed(num_epochs=10),
    ...                     augmentation=Augmentation(), resize="letterbox",
    ...                     steps_per_epoch=steps)  # doctest: +SKIP
    >>> model.fit(data, epochs=10, steps_per_epoch=steps)  # doctest: +SKIP
    """
    batch_size = check_batch_size(batch_size)
    datasets = checked_dataset_list(datasets, "mix_datasets")
    sampler = get_sampler(sampler)
    sizes = dataset_sizes(datasets, sizes)
    steps = (one_pass_steps(sizes, batch_size) if steps_per_epoch is None
             else check_integer(steps_per_epoch, "steps_per_epoch"))
    options = deterministic_options(deterministic, seed)
    encoded = filled_examples(model, datasets, augmentation, resize, pad_value, shuffle_buffer, seed)
    streams = [repeat_or_fail(dataset, f"dataset {index} (tasks {', '.join(tasks)})")
               for index, (dataset, tasks) in enumerate(encoded)]
    if homogeneous_batches:
        streams = [stream.batch(batch_size, drop_remainder=True) for stream in streams]
        draws_per_epoch = steps
    else:
        draws_per_epoch = steps * batch_size
    mixed = sampler.combine(streams, sizes, seed=seed, draws_per_epoch=draws_per_epoch)
    if not homogeneous_batches:
        mixed = mixed.batch(batch_size, drop_remainder=True)
    return mixed.prefetch(tf.data.AUTOTUNE).with_options(options)


def one_pass_steps(sizes, batch_size, drop_remainder=False):
    """Batches in one pass over datasets of `sizes` examples (the last one partial, or
    dropped)."""
    return batches_per_pass(sum(int(n) for n in sizes), batch_size, drop_remainder)


def steps_per_epoch(sizes, batch_size, drop_remainder=False):
    """Batches in one pass over datasets of `sizes` examples: `fit`'s `steps_per_epoch` for
    `mix_datasets`, or for `build_pipeline(..., epochs=...)` (with its `drop_remainder`).

    Example:
    >>> steps_per_epoch([100, 60], 32), steps_per_epoch([100], 32, drop_remainder=True)
    (5, 3)
    """
    return one_pass_steps(sizes, batch_size, drop_remainder)
