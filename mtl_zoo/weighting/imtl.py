"""IMTL-G: impartial multi-task learning, gradient part (Liu et al. 2021, ICLR)."""

import tensorflow as tf

from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, register


@register
class IMTLG(GradientAggregator):
    """Finds weights (summing to 1) whose combined gradient has equal projections on
    every task's unit gradient: alpha_{2:T} = g_1 U^T (D U^T)^-1, alpha_1 = 1 - sum,
    with rows of D = g_1 - g_i and of U = u_1 - u_i. Returned as T * sum_i alpha_i g_i.

    Example:
    >>> [round(v, 4) for v in IMTLG()([[1.0, 0.0], [0.0, 3.0]]).numpy().tolist()]
    [1.5, 1.5]
    """

    def aggregate(self, gradients, losses, step):
        num_tasks = gradients.shape[0]
        units = gradients / (tf.norm(gradients, axis=1, keepdims=True) + EPSILON)
        differences = gradients[:1] - gradients[1:]          # D, (T-1, N)
        unit_differences = units[:1] - units[1:]             # U, (T-1, N)
        system = tf.matmul(differences, unit_differences, transpose_b=True)
        rhs = tf.linalg.matvec(unit_differences, gradients[0])
        tail = tf.linalg.matvec(tf.linalg.pinv(tf.transpose(system)), rhs)
        weights = tf.concat([[1.0 - tf.reduce_sum(tail)], tail], axis=0)
        return num_tasks * tf.linalg.matvec(gradients, weights, transpose_a=True)
