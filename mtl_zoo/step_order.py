"""Ordering inside a train step: the optimizer's update waits for the whole gradient.

The gradients depend on the loss, which waits for the batch's run-time checks
(`MultiTaskModel.checked_batch`); the optimizer's step counter (`iterations`, which
drives Adam's bias correction and learning-rate schedules) depends on none of them,
so TensorFlow could count a step whose batch then failed a check.
"""

import tensorflow as tf


def after_all(tensors):
    """A `tf.control_dependencies` block that makes the ops created in it wait for every
    tensor of `tensors` (None entries, the gradients of unconnected variables, are skipped).

    Example:
    >>> step = tf.Variable(0)
    >>> with after_all([tf.constant(1.0), None]):
    ...     _ = step.assign_add(1)
    >>> int(step.numpy())
    1
    """
    return tf.control_dependencies([tensor for tensor in tensors if tensor is not None])
