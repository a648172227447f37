"""Training on several datasets that each label only some of the model's tasks (x_i per task)."""

import numbers

import tensorflow as tf

from mtl_zoo.checks import check_integer
from mtl_zoo.data.pipeline import (batches_per_pass, check_batch_size, check_finite_for_epochs,
                                   checked_epoch_range, checked_preparation, deterministic_options,
                                   encoded_pass, epoch_indexed)
from mtl_zoo.data.sampling import get_sampler


def check_fully_defined(spec, task_name):
    """A ValueError unless every part of a task's encoded target `spec` has a fully known
    shape, which a placeholder for datasets without its labels needs."""
    for tensor_spec in tf.nest.flatten(spec):
        if not tensor_spec.shape.is_fully_defined():
            raise ValueError(f"Task {task_name!r}: its encoded targets have shape "
                             f"{tensor_spec.shape}, not fully known, so no placeholder can stand "
                             "in for datasets without its labels.")


def placeholder_targets(spec):
    """Zero targets shaped like one encoded example of a task (`spec`: its TensorSpecs, of
    fully known shapes, `check_fully_defined`)."""
    return tf.nest.map_structure(lambda tensor_spec: tf.zeros(tensor_spec.shape, tensor_spec.dtype), spec)


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


class FilledMixture:
    """The datasets of a mixture, checked, as encoded examples of one element structure.

    Each dataset's examples `(image, {task: targets}, {task: mask})` get zero
    placeholder targets (and mask 0) for the tasks that another dataset of the
    list labels and this one does not. The tasks and their target specs are
    read from the first passes built.

    Example:
    >>> mixture = FilledMixture(model, [faces, pets])  # doctest: +SKIP
    >>> faces_pass, pets_pass = mixture.passes(shuffle_buffer=64, seeds=[1, 2])  # doctest: +SKIP
    """

    def __init__(self, model, datasets, augmentation=None, resize="stretch", pad_value=0.0):
        self.datasets = datasets
        self.preparations = [checked_preparation(model, examples, augmentation, resize, pad_value,
                                                 f"dataset {index}")
                             for index, examples in enumerate(datasets)]
        self.labelled_tasks = None  # [task names each dataset labels], from the first passes
        self.target_specs = None  # {task: spec of its encoded targets}, from the first passes

    def passes(self, shuffle_buffer=0, seeds=None):
        """One pass over each dataset, shuffled and augmented from its seed in `seeds`."""
        seeds = seeds or [None] * len(self.datasets)
        encoded = [encoded_pass(prepare, examples, shuffle_buffer, seed)
                   for prepare, examples, seed in zip(self.preparations, self.datasets, seeds)]
        if self.target_specs is None:
            specs = [dataset.element_spec[1] for dataset in encoded]
            self.labelled_tasks = [list(spec) for spec in specs]
            self.target_specs = {name: spec for labelled in specs for name, spec in labelled.items()}
            for name, spec in self.target_specs.items():
                check_fully_defined(spec, name)
        return [dataset.map(self._fill) for dataset in encoded]

    def endless_streams(self, shuffle_buffer=0, seeds=None):
        """Each dataset's passes, repeated forever (`repeat_or_fail`)."""
        passes = self.passes(shuffle_buffer, seeds)
        return [repeat_or_fail(examples, f"dataset {index} (tasks {', '.join(tasks)})")
                for index, (examples, tasks) in enumerate(zip(passes, self.labelled_tasks))]

    def _fill(self, image, targets, masks):
        return image, {name: targets[name] if name in targets else placeholder_targets(spec)
                       for name, spec in self.target_specs.items()}, masks


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
    come from. No augmentation, no shuffling; the last batch may be smaller. When every
    dataset's size is known, so is the number of batches, which Keras then reads (unknown,
    it warns that the input "ran out of data" at the end of the first pass).

    Example:
    >>> validation = concatenate_datasets(model, [faces_val, pets_val], 32)  # doctest: +SKIP
    >>> model.fit(mixture, epochs=10, steps_per_epoch=steps, validation_data=validation)  # doctest: +SKIP
    """
    batch_size = check_batch_size(batch_size)
    datasets = checked_dataset_list(datasets, "concatenate_datasets")
    encoded = FilledMixture(model, datasets, resize=resize, pad_value=pad_value).passes()
    joined = encoded[0]
    for dataset in encoded[1:]:
        joined = joined.concatenate(dataset)
    batches = joined.batch(batch_size)
    sizes = [int(dataset.cardinality()) for dataset in datasets]
    if min(sizes) >= 0:  # the encoding unbatches chunks, which loses the count
        batches = batches.apply(tf.data.experimental.assert_cardinality(
            batches_per_pass(sum(sizes), batch_size)))
    return batches.prefetch(tf.data.AUTOTUNE)


def mix_datasets(model, datasets, batch_size=32, sampler="proportional", sizes=None,
                 augmentation=None, resize="stretch", shuffle_buffer=1024, seed=None,
                 deterministic=False, homogeneous_batches=False, pad_value=0.0,
                 steps_per_epoch=None, epochs=None, first_epoch=0):
    """A stream of batches `(images, {task: targets}, {task: mask})` drawn from several datasets.

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

    An epoch is `steps_per_epoch` batches: give `model.fit` the same
    `steps_per_epoch`. The sampler's epochs (`Annealed`, or any sampler whose
    probabilities change with the epoch) are these batches' draws. Without
    `epochs`, the stream is endless and its schedule runs from epoch 1 for each
    iterator: pass `fit` this one stream for all epochs (so that Keras keeps
    reading one iterator); a new `fit` call (a resumed run) starts the
    schedule and the sampler's draws again from epoch 1.
    With `epochs`, the stream holds epochs `first_epoch` to `epochs - 1`, each
    drawn from `seed` and its index alone (the sampler's draws and schedule, and
    each dataset's order and augmentation, which restart with each epoch: so
    `shuffle_buffer` must hold the largest dataset whole, and `RoundRobin`'s
    turns start at dataset 0 in each epoch), so a run resumed at epoch k trains
    on the batches an uninterrupted run would.

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
        epochs: None (an endless stream), or the number of epochs of an
            epoch-indexed stream (deterministic, whatever `deterministic` says);
            needs a seed, finite datasets and a `shuffle_buffer` at least the
            largest dataset's size.
        first_epoch: with `epochs`, the epoch to start from (0-based), e.g.
            `mz.SharedBackupAndRestore.backed_up_epoch()`.

    Example:
    >>> steps = steps_per_epoch([n1, n2], 32)  # doctest: +SKIP
    >>> data = mix_datasets(model, [faces, pets], 32, sampler=Annealed(num_epochs=10),
    ...                     augmentation=Augmentation(), resize="letterbox",
    ...                     steps_per_epoch=steps)  # doctest: +SKIP
    >>> model.fit(data, epochs=10, steps_per_epoch=steps)  # doctest: +SKIP
    >>> resumable = mix_datasets(model, [faces, pets], 32, sampler=Annealed(num_epochs=10),
    ...                          seed=0, epochs=10, first_epoch=backup.backed_up_epoch())  # doctest: +SKIP
    >>> model.fit(resumable, epochs=10, steps_per_epoch=steps, callbacks=[backup])  # doctest: +SKIP
    """
    batch_size = check_batch_size(batch_size)
    datasets = checked_dataset_list(datasets, "mix_datasets")
    sampler = get_sampler(sampler)
    epoch_range = checked_epoch_range(epochs, first_epoch, seed)
    if epoch_range is not None:
        for index, dataset in enumerate(datasets):
            check_finite_for_epochs(dataset, f"the examples of dataset {index}")
    sizes = dataset_sizes(datasets, sizes)
    if epoch_range is not None:
        check_whole_shuffles(sizes, shuffle_buffer)
    steps = (_one_pass_steps(sizes, batch_size) if steps_per_epoch is None
             else check_integer(steps_per_epoch, "steps_per_epoch"))
    options = deterministic_options(deterministic or epoch_range is not None, seed)
    mixture = FilledMixture(model, datasets, augmentation, resize, pad_value)
    draws_per_epoch = steps if homogeneous_batches else steps * batch_size

    def draws(dataset_seeds, sampler_seed, **schedule):
        streams = mixture.endless_streams(shuffle_buffer, dataset_seeds)
        if homogeneous_batches:
            streams = [stream.batch(batch_size, drop_remainder=True) for stream in streams]
        return sampler.combine(streams, sizes, seed=sampler_seed, draws_per_epoch=draws_per_epoch,
                               **schedule)

    if epoch_range is None:
        mixed = draws(None if seed is None else [seed + index for index in range(len(datasets))], seed)
    else:
        def one_epoch(epoch_seed, epoch):
            # distinct seeds for the sampler and each dataset's order and augmentation
            first = epoch_seed * (len(datasets) + 1)
            return draws([first + 1 + index for index in range(len(datasets))], first,
                         start_epoch=epoch + 1).take(draws_per_epoch)

        mixed = epoch_indexed(one_epoch, seed, *epoch_range, draws_per_epoch)
    if not homogeneous_batches:
        mixed = mixed.batch(batch_size, drop_remainder=True)
    return mixed.prefetch(tf.data.AUTOTUNE).with_options(options)


def check_whole_shuffles(sizes, shuffle_buffer):
    """An epoch-indexed mixture starts each dataset's stream anew in every epoch, so an epoch
    that draws fewer examples than a dataset holds would reach only the front of an order
    that a smaller shuffle buffer leaves close to the file order: a ValueError unless
    `shuffle_buffer` holds every dataset whole."""
    largest = max(sizes)
    if int(shuffle_buffer) < largest:
        raise ValueError(
            f"epochs=... starts each dataset's shuffled stream anew in every epoch, so with "
            f"shuffle_buffer={shuffle_buffer} below a dataset's size ({largest} examples) an epoch "
            "that draws fewer examples than it holds would keep training on the front of its "
            f"file order: give shuffle_buffer >= {largest}, or leave epochs out (an endless "
            "stream, whose draws restart when a run resumes).")


def steps_per_epoch(sizes, batch_size, drop_remainder=False):
    """Batches in one pass over datasets of `sizes` examples: `fit`'s `steps_per_epoch` for
    `mix_datasets`, or for `build_pipeline(..., epochs=...)` (with its `drop_remainder`).

    `sizes` is a list of dataset sizes, or one size.

    Example:
    >>> steps_per_epoch([100, 60], 32), steps_per_epoch(100, 32, drop_remainder=True)
    (5, 3)
    """
    sizes = [sizes] if isinstance(sizes, numbers.Integral) or hasattr(sizes, "numpy") else list(sizes)
    sizes = [check_integer(int(n) if hasattr(n, "numpy") else n, "a dataset size", minimum=0) for n in sizes]
    return batches_per_pass(sum(sizes), batch_size, drop_remainder)


# mix_datasets' argument of the same name hides the function there
_one_pass_steps = steps_per_epoch
