"""`GradientAggregator`: the base of the methods that combine per-task gradients."""

import keras
import tensorflow as tf

from mtl_zoo.configurable import Configurable

MODES = ("parameters", "representation")
EPSILON = 1e-8


class GradientAggregator(Configurable):
    """Combines the per-task gradients of the shared trunk into one update direction.

    `MultiTaskModel.compile(aggregator=...)` hands the aggregator a (T, N)
    matrix whose row i is the gradient of alpha_i * L_i, either with respect to
    the shared trunk's parameters (`mode="parameters"`) or with respect to the
    shared representation that the heads read (`mode="representation"`, one
    backward pass through the trunk after combining, as in MGDA-UB). Heads
    always get the gradient of their own task. With no conflict between tasks,
    every method returns (close to) the plain sum of the rows.

    Subclasses implement `aggregate(gradients, losses, step) -> (N,)` in
    TensorFlow ops, and `build(num_tasks)` when they keep state. Randomised
    methods draw from stateless generators seeded by the training step
    (`random_permutation`, `random_uniform`), so that every replica of a
    distributed run, and a single-device run, make the same draws.

    Args:
        mode: "parameters" or "representation".

    Example, a subclass that follows the task with the largest loss:
    >>> class LargestLoss(GradientAggregator):
    ...     def aggregate(self, gradients, losses, step):
    ...         return gradients[tf.argmax(losses)]
    >>> rows = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    >>> LargestLoss().aggregate(rows, tf.constant([0.3, 0.1]), step=0).numpy()
    array([1., 0.], dtype=float32)
    """

    default_mode = "parameters"
    modes = MODES  # the modes the method is defined for
    unsupported_modes_reason = ""  # why a method leaves a mode out

    def __init__(self, mode=None):
        mode = mode or self.default_mode
        if mode not in MODES:
            raise ValueError(f"{type(self).__name__}: unknown mode {mode!r}; use one of {MODES}.")
        if mode not in self.modes:
            raise ValueError(f"{type(self).__name__} works only in mode {self.modes}: "
                             f"{self.unsupported_modes_reason} Use mode={self.modes[0]!r}.")
        self.mode = mode
        self.num_tasks = None

    def build(self, num_tasks):
        if num_tasks < 2:
            raise ValueError(f"{type(self).__name__} combines the gradients of several tasks; "
                             f"the model has {num_tasks}.")
        self.num_tasks = num_tasks

    def aggregate(self, gradients, losses, step):
        raise NotImplementedError

    def __call__(self, gradients, losses=None, step=0):
        """Combines (T, N) `gradients`; `losses` (T,) is used by loss-normalised
        variants, `step` (the training step) seeds the random ones."""
        gradients = tf.convert_to_tensor(gradients, tf.float32)
        if self.num_tasks is None:
            self.build(gradients.shape[0])
        losses = tf.ones([gradients.shape[0]]) if losses is None else tf.cast(losses, tf.float32)
        return self.aggregate(gradients, losses, tf.cast(step, tf.int64))

    @staticmethod
    def random_permutation(size, step, salt):
        """A permutation of range(size) that depends only on (step, salt)."""
        keys = tf.random.stateless_uniform([size], seed=tf.stack([step, tf.cast(salt, tf.int64)]))
        return tf.argsort(keys)

    @staticmethod
    def random_uniform(shape, step, salt=0):
        """Uniform [0, 1) numbers that depend only on (step, salt)."""
        return tf.random.stateless_uniform(shape, seed=tf.stack([step, tf.cast(salt, tf.int64)]))

    def get_config(self):
        return {"mode": self.mode}



def gram_matrix(gradients):
    """G G^T, the (T, T) inner products of the task gradients."""
    return tf.matmul(gradients, gradients, transpose_b=True)


def register(cls):
    """Registers an aggregator class for Keras (de)serialization."""
    return keras.saving.register_keras_serializable(package="mtl_zoo")(cls)
