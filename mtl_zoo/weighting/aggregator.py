"""`GradientAggregator`: the base of the methods that combine per-task gradients."""

from typing import NamedTuple

import keras
import tensorflow as tf

from mtl_zoo.configurable import Configurable

MODES = ("parameters", "representation")
EPSILON = 1e-8


class Activations(NamedTuple):
    """The shared representation beside the gradient columns of representation mode.

    What a method that reads the activations (`uses_activations`, e.g. GradDrop's
    sign(A)) gets besides the (T, N) gradient matrix; `representation_activations`
    in `mtl_zoo.weighting.task_gradients` builds it from the representation tensors.

    Attributes:
        values: (N,) the representation's values, in the order of the gradient columns.
        features: (N,) int32, which feature of one example each column holds: the columns
            of one feature in the examples of the batch share it.
        num_features: how many features one example has (a scalar int32 tensor).

    Example, two examples of three features:
    >>> a = Activations(tf.constant([1.0, -2.0, 0.5, 3.0, 0.0, -1.0]),
    ...                 tf.constant([0, 1, 2, 0, 1, 2]), tf.constant(3))
    >>> tf.math.unsorted_segment_sum(a.values, a.features, a.num_features).numpy()
    array([ 4. , -2. , -0.5], dtype=float32)
    """

    values: tf.Tensor
    features: tf.Tensor
    num_features: tf.Tensor


class GradientAggregator(Configurable):
    """Combines the per-task gradients of the shared trunk into one update direction.

    `MultiTaskModel.compile(aggregator=...)` hands the aggregator a (T, N)
    matrix whose row i is the gradient of alpha_i * L_i, either with respect to
    the shared trunk's parameters (`mode="parameters"`) or with respect to the
    shared representation that the heads read (`mode="representation"`, one
    backward pass through the trunk after combining, as in MGDA-UB). Heads
    always get the gradient of their own task. Where no pair of rows conflicts
    (no negative dot product), PCGrad, UPGrad and GradVac (at its initial targets)
    return the plain sum of the rows, and GradDrop does where every coordinate's
    gradients share a sign; MGDA, CAGrad, IMTL-G, Nash-MTL and Aligned-MTL reweight
    or rescale them even then. Only for identical rows do all point along the sum.

    Subclasses implement `aggregate(gradients, losses, step) -> (N,)` in
    TensorFlow ops, and `build(num_tasks)` when they keep state. A method
    that also reads the representation's values sets `uses_activations` and
    takes a fourth argument, the `Activations` of representation mode (None
    in parameter mode and when called on a bare matrix). Randomised
    methods draw from stateless generators seeded by the training step
    (`random_permutation`, `random_uniform`), so that every replica of a
    distributed run, and a single-device run, make the same draws. Pick
    rows with `tf.gather`, not `gradients[index]` with a tensor index: XLA
    (`compile(jit_compile=True)`) folds what a slice's start depends on into
    the program as constants, and would compile the step anew for every index.

    Args:
        mode: "parameters" or "representation".

    Example, a subclass that follows the task with the largest loss:
    >>> class LargestLoss(GradientAggregator):
    ...     def aggregate(self, gradients, losses, step):
    ...         return tf.gather(gradients, tf.argmax(losses))
    >>> rows = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    >>> LargestLoss().aggregate(rows, tf.constant([0.3, 0.1]), step=0).numpy()
    array([1., 0.], dtype=float32)
    """

    default_mode = "parameters"
    modes = MODES  # the modes the method is defined for
    unsupported_modes_reason = ""  # why a method leaves a mode out
    uses_activations = False  # whether `aggregate` takes the representation's `Activations`

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

    @property
    def state_variables(self):
        """The variables a stateful method keeps across steps (made by `build`); the model
        saves and restores them with its weights. None here."""
        return []

    def __call__(self, gradients, losses=None, step=0, activations=None):
        """Combines (T, N) `gradients`; `losses` (T,) is used by loss-normalised
        variants, `step` (the training step) seeds the random ones, and
        `activations` (an `Activations` of the N columns, or None) goes to the
        methods that read them."""
        gradients = tf.convert_to_tensor(gradients, tf.float32)
        if self.num_tasks is None:
            self.build(gradients.shape[0])
        losses = tf.ones([gradients.shape[0]]) if losses is None else tf.cast(losses, tf.float32)
        step = tf.cast(step, tf.int64)
        if self.uses_activations:
            return self.aggregate(gradients, losses, step, activations)
        return self.aggregate(gradients, losses, step)

    @classmethod
    def random_permutation(cls, size, step, salt):
        """A permutation of range(size) that depends only on (step, salt)."""
        return tf.argsort(cls.random_uniform([size], step, salt))

    @staticmethod
    def random_uniform(shape, step, salt=0):
        """Uniform [0, 1) numbers that depend only on (step, salt). XLA draws other numbers
        than TensorFlow's kernels from the same seed, so a run compiled
        with `jit_compile=True` follows other draws than one without."""
        return tf.random.stateless_uniform(shape, seed=tf.stack([step, tf.cast(salt, tf.int64)]))

    def get_config(self):
        return {"mode": self.mode}



def gram_matrix(gradients):
    """G G^T, the (T, T) inner products of the task gradients."""
    return tf.matmul(gradients, gradients, transpose_b=True)


def register(cls):
    """Registers an aggregator class for Keras (de)serialization."""
    return keras.saving.register_keras_serializable(package="mtl_zoo")(cls)
