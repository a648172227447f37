"""Task samplers: which dataset the next example (or batch) of a mixture comes from.

Each sampler turns the datasets of a mixture (each repeated forever) into one
stream with `tf.data.Dataset.choose_from_datasets` /
`sample_from_datasets`. An "epoch" of the stream is `draws_per_epoch` draws:
`mix_datasets` makes it the draws of the `steps_per_epoch` batches that
`model.fit` takes per epoch (by default the summed dataset sizes).
"""

import keras
import numpy as np
import tensorflow as tf

from mtl_zoo.configurable import Configurable
from mtl_zoo.naming import unknown_name_error


class TaskSampler(Configurable):
    """Base of the samplers: `probabilities(sizes, epoch)` and `combine(...)`.

    A subclass defines `probabilities`; `combine` then draws each example
    (or batch) with the probabilities of the epoch it falls in.
    `schedule_epochs` says how long they change: with E, the probabilities of
    epochs 1..E are computed up front and later epochs keep epoch E's; with
    None (the default) `probabilities` is asked anew at each epoch (in Python,
    once per epoch, as the stream reaches it).

    Example, a sampler that draws every dataset alike:
    >>> class Uniform(TaskSampler):
    ...     schedule_epochs = 1
    ...     def probabilities(self, sizes, epoch=1):
    ...         return np.full(len(sizes), 1 / len(sizes))
    >>> Uniform().probabilities([100, 900]).tolist()
    [0.5, 0.5]

    and one that draws only the smallest dataset in epoch 1, then by size:
    >>> class SmallFirst(TaskSampler):
    ...     def probabilities(self, sizes, epoch=1):
    ...         sizes = np.asarray(sizes, np.float64)
    ...         return (sizes == sizes.min()) * 1.0 if epoch == 1 else sizes / sizes.sum()
    >>> mixture = SmallFirst().combine([tf.data.Dataset.from_tensors(i).repeat() for i in (0, 1)],
    ...                                [1, 3], seed=0, draws_per_epoch=4)
    >>> [int(i) for i in mixture.take(4)]
    [0, 0, 0, 0]
    """

    name = None
    schedule_epochs = None

    def probabilities(self, sizes, epoch=1):
        """The probability of drawing from each dataset during `epoch` (1-based)."""
        raise NotImplementedError

    def checked_probabilities(self, sizes, epoch):
        """`probabilities(sizes, epoch)` as float64, checked and normalized to sum 1."""
        p = np.asarray(self.probabilities(sizes, epoch), np.float64)
        if p.shape != (len(sizes),) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"{self!r}.probabilities(sizes, epoch={epoch}) must give one "
                             f"probability >= 0 per dataset ({len(sizes)}), not all 0, got "
                             f"{p.tolist()}.")
        return p / p.sum()

    def combine(self, datasets, sizes, seed=None, draws_per_epoch=None, start_epoch=1):
        """One stream drawing from the (infinite) `datasets`, with the probabilities of
        epoch start_epoch + k during draws k * draws_per_epoch ... (k + 1) * draws_per_epoch - 1.

        `start_epoch` (1-based; a Python or int64 scalar) is where the schedule starts, e.g.
        each epoch of an epoch-indexed mixture (`mix_datasets(..., epochs=...)`)."""
        draws_per_epoch = int(draws_per_epoch or sum(sizes))
        if self.schedule_epochs is not None and int(self.schedule_epochs) < 1:
            raise ValueError(f"{self!r}: schedule_epochs must be None or >= 1, got "
                             f"{self.schedule_epochs}.")
        if self.schedule_epochs == 1:
            weights = [float(p) for p in self.checked_probabilities(sizes, 1)]
        elif self.schedule_epochs is not None:
            table = tf.constant(np.stack([self.checked_probabilities(sizes, e)
                                          for e in range(1, int(self.schedule_epochs) + 1)]),
                                tf.float32)
            last = int(self.schedule_epochs) - 1
            weights = tf.data.Dataset.counter().map(lambda draw: tf.gather(
                table, tf.minimum(draw // draws_per_epoch + tf.cast(start_epoch, tf.int64) - 1, last)))
        else:
            self.checked_probabilities(sizes, 1)  # a bad sampler fails here, not in the stream

            def epoch_probabilities(epoch):
                return self.checked_probabilities(sizes, int(epoch)).astype(np.float32)

            weights = tf.data.Dataset.counter(start=tf.cast(start_epoch, tf.int64)).map(
                lambda epoch: tf.ensure_shape(tf.numpy_function(
                    epoch_probabilities, [epoch], tf.float32, stateful=False), [len(sizes)])
            ).flat_map(lambda p: tf.data.Dataset.from_tensors(p).repeat(draws_per_epoch))
        return tf.data.Dataset.sample_from_datasets(datasets, weights, seed=seed,
                                                    stop_on_empty_dataset=True)

    def get_config(self):
        return {}


@keras.saving.register_keras_serializable(package="mtl_zoo")
class RoundRobin(TaskSampler):
    """Datasets take turns: 0, 1, ..., n-1, 0, 1, ... (each gets 1/n of the draws exactly).

    Example:
    >>> RoundRobin().probabilities([100, 300]).tolist()
    [0.5, 0.5]
    """

    name = "round_robin"
    schedule_epochs = 1

    def probabilities(self, sizes, epoch=1):
        return np.full(len(sizes), 1.0 / len(sizes))

    def combine(self, datasets, sizes, seed=None, draws_per_epoch=None, start_epoch=1):
        turns = tf.data.Dataset.range(len(datasets)).repeat()
        return tf.data.Dataset.choose_from_datasets(datasets, turns, stop_on_empty_dataset=True)


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Proportional(TaskSampler):
    """Draws dataset i with probability N_i / sum_j N_j (each example seen about once per epoch).

    Example:
    >>> Proportional().probabilities([100, 300]).tolist()
    [0.25, 0.75]
    """

    name = "proportional"
    schedule_epochs = 1

    def probabilities(self, sizes, epoch=1):
        sizes = np.asarray(sizes, np.float64)
        return sizes / sizes.sum()


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Annealed(TaskSampler):
    """Annealed sampling (Stickland & Murray 2019, "BERT and PALs", section 4).

    p_i proportional to N_i^alpha with alpha = 1 - 0.8 (e - 1) / (E - 1) at
    epoch e of E: size-proportional in the first epoch, moving towards uniform
    (alpha = 0.2 in the last epoch), so small datasets get more draws late in
    training while large ones dominate early.

    An epoch is the draws of the `steps_per_epoch` batches `mix_datasets` was
    given (default: one pass over the data): train with
    `model.fit(mixture, epochs=E, steps_per_epoch=...)` on that one stream, so
    that Keras keeps reading it across epochs; each new iterator over it (a
    new `fit` call) starts again at epoch 1, unless the mixture is
    epoch-indexed (`mix_datasets(..., epochs=E, first_epoch=k)` starts at
    epoch k + 1).

    Args:
        num_epochs: E, the number of training epochs (>= 1); later epochs keep
            the last epoch's probabilities.

    Example:
    >>> sampler = Annealed(num_epochs=5)
    >>> sampler.probabilities([100, 900], epoch=1).round(3).tolist()
    [0.1, 0.9]
    >>> sampler.probabilities([100, 900], epoch=5).round(3).tolist()
    [0.392, 0.608]
    """

    name = "annealed"

    def __init__(self, num_epochs):
        if int(num_epochs) < 1:
            raise ValueError(f"Annealed sampling needs num_epochs >= 1, got {num_epochs}.")
        self.num_epochs = int(num_epochs)

    @property
    def schedule_epochs(self):
        return self.num_epochs

    def alpha(self, epoch):
        """The exponent of epoch `epoch` (1-based)."""
        if self.num_epochs == 1:
            return 1.0
        epoch = min(max(int(epoch), 1), self.num_epochs)
        return 1.0 - 0.8 * (epoch - 1) / (self.num_epochs - 1)

    def probabilities(self, sizes, epoch=1):
        powered = np.asarray(sizes, np.float64) ** self.alpha(epoch)
        return powered / powered.sum()

    def get_config(self):
        return {"num_epochs": self.num_epochs}


SAMPLERS = {cls.name: cls for cls in (RoundRobin, Proportional, Annealed)}


def get_sampler(spec):
    """A `TaskSampler` from an instance, or a name ("round_robin", "proportional").

    Example:
    >>> get_sampler("proportional")
    Proportional()
    """
    if isinstance(spec, TaskSampler):
        return spec
    if spec not in SAMPLERS:
        raise unknown_name_error("task sampler", spec, SAMPLERS)
    try:
        return SAMPLERS[spec]()
    except TypeError:
        raise ValueError(f"The {spec!r} sampler needs arguments: pass an instance, e.g. "
                         "mtl_zoo.data.Annealed(num_epochs=10).") from None
