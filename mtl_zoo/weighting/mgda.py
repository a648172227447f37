"""MGDA-UB: the minimum-norm point of the task gradients' convex hull
(Sener & Koltun 2018, "Multi-Task Learning as Multi-Objective Optimization")."""

import tensorflow as tf

from mtl_zoo.checks import check_integer
from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, gram_matrix, register

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


def min_norm_weights(gram, iterations=1000, tolerance=1e-7):
    """Frank-Wolfe for argmin_{w in simplex} w^T gram w (Sener & Koltun 2018, Algorithm 2),
    stopped when the weights move less than `tolerance`."""
    num_tasks = gram.shape[0]
    squared_norms = tf.linalg.diag_part(gram)

    def frank_wolfe_step(weights, _):
        gram_w = tf.linalg.matvec(gram, weights)
        vertex = tf.argmin(gram_w)
        v1 = tf.tensordot(weights, gram_w, 1)        # |g_w|^2
        # rows by tf.gather, not indexing, so that XLA compiles once (GradientAggregator)
        v2 = tf.gather(squared_norms, vertex)         # |g_t|^2
        v12 = tf.gather(gram_w, vertex)               # g_w . g_t
        step = tf.clip_by_value((v1 - v12) / tf.maximum(v1 + v2 - 2 * v12, EPSILON), 0.0, 1.0)
        updated = (1 - step) * weights + step * tf.one_hot(vertex, num_tasks)
        return [updated, tf.reduce_sum(tf.abs(updated - weights))]

    start = [tf.fill([num_tasks], 1.0 / num_tasks), tf.constant(1.0)]
    return tf.while_loop(lambda _, change: change > tolerance, frank_wolfe_step, start,
                         maximum_iterations=iterations)[0]


@register
class MGDA(GradientAggregator):
    """Multiple-gradient descent: the common descent direction of least norm.

    By default on representation gradients (the "upper bound" of MGDA-UB, one
    backward pass through the trunk). The weights sum to T (not 1), so that
    identical task gradients give their plain sum.

    Args:
        mode: "representation" (MGDA-UB, default) or "parameters" (MGDA).
        normalization: gradient normalisation before solving, as in the
            paper's code: "none", "l2", "loss" or "loss+" (both).
        iterations: most Frank-Wolfe iterations (it stops earlier once converged).

    Example:
    >>> MGDA()([[1.0, 0.0], [0.0, 1.0]]).numpy().tolist()
    [1.0, 1.0]
    """

    default_mode = "representation"

    def __init__(self, mode=None, normalization="none", iterations=1000):
        super().__init__(mode)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"MGDA: unknown normalization {normalization!r}; use one of {NORMALIZATIONS}.")
        self.normalization = normalization
        self.iterations = check_integer(iterations, "iterations", owner="MGDA")

    def aggregate(self, gradients, losses, step):
        scale = tf.ones([gradients.shape[0]])
        norms = tf.norm(gradients, axis=1)
        if self.normalization == "l2":
            scale = norms
        elif self.normalization == "loss":
            scale = losses
        elif self.normalization == "loss+":
            scale = losses * norms
        normalized = gradients / tf.maximum(scale, EPSILON)[:, None]
        weights = min_norm_weights(gram_matrix(normalized), self.iterations)
        return gradients.shape[0] * tf.linalg.matvec(normalized, weights, transpose_a=True)

    def get_config(self):
        return {**super().get_config(), "normalization": self.normalization,
                "iterations": self.iterations}
