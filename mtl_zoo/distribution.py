"""Small helpers for code that runs inside a tf.distribute replica context."""

import tensorflow as tf


def sum_over_replicas(value):
    """`value` summed over the replicas of the current strategy (itself on one device)."""
    context = tf.distribute.get_replica_context()
    if context is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)
