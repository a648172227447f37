"""UPGrad: unconflicting projection of gradients
(Quinton & Rey 2024, "Jacobian Descent for Multi-Objective Optimization")."""

import tensorflow as tf

from mtl_zoo.checks import check_integer
from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, gram_matrix, register


def dual_cone_weights(gram, iterations=50):
    """For each task i, the weights w >= e_i minimising w^T gram w (projected coordinate
    descent): G^T w is g_i projected onto the dual cone {v : G v >= 0}."""
    num_tasks = gram.shape[0]
    diagonal = tf.maximum(tf.linalg.diag_part(gram), EPSILON)
    lower = tf.eye(num_tasks)                    # row i: the bound e_i

    def sweep(weights):
        for k in range(num_tasks):
            gradient_k = tf.linalg.matvec(weights, gram[k])          # (gram w)_k per row
            updated = tf.maximum(lower[:, k], weights[:, k] - gradient_k / diagonal[k])
            weights = tf.concat([weights[:, :k], updated[:, None], weights[:, k + 1:]], axis=1)
        return weights

    return tf.while_loop(lambda w: True, lambda w: [sweep(w)], [lower],
                         maximum_iterations=iterations)[0]


@register
class UPGrad(GradientAggregator):
    """Projects each task gradient onto the dual cone of all task gradients (the
    directions that hurt no task) and sums the projections; non-conflicting
    gradients are left as they are.

    Args:
        mode: "parameters" (default) or "representation".
        iterations: coordinate-descent sweeps of the projection.

    Example:
    >>> UPGrad()([[1.0, 0.0], [-1.0, 1.0]]).numpy().round(4).tolist()
    [0.5, 1.5]
    """

    def __init__(self, mode=None, iterations=50):
        super().__init__(mode)
        self.iterations = check_integer(iterations, "iterations", owner="UPGrad")

    def aggregate(self, gradients, losses, step):
        weights = tf.reduce_sum(dual_cone_weights(gram_matrix(gradients), self.iterations), axis=0)
        return tf.linalg.matvec(gradients, weights, transpose_a=True)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations}
