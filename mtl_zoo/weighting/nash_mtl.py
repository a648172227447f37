"""Nash-MTL: gradient combination as a bargaining game (Navon et al. 2022, ICML)."""

import tensorflow as tf

from mtl_zoo.checks import check_integer, check_number
from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, gram_matrix, register


def nash_weights(gram, iterations=20):
    """Solves (G G^T) alpha = 1 / alpha for alpha > 0.

    This is the stationary point of the strictly convex
    phi(alpha) = 1/2 alpha^T M alpha - sum_i log(alpha_i); Newton's method with a
    step that keeps alpha positive and a backtracking line search on phi finds it
    (our own small solver, in place of the paper's cvxpy sequence of convex problems).
    """
    num_tasks = gram.shape[0]
    gram = gram + EPSILON * tf.eye(num_tasks)

    def objective(alpha):
        return 0.5 * tf.tensordot(alpha, tf.linalg.matvec(gram, alpha), 1) - tf.reduce_sum(tf.math.log(alpha))

    def newton_step(alpha):
        gradient = tf.linalg.matvec(gram, alpha) - 1.0 / alpha
        hessian = gram + tf.linalg.diag(1.0 / alpha ** 2)
        step = -tf.linalg.solve(hessian, gradient[:, None])[:, 0]
        # largest step in (0, 1] keeping alpha > 0, then halve until phi decreases
        shrinking = step < 0
        limit = tf.reduce_min(tf.where(shrinking, -0.99 * alpha / tf.where(shrinking, step, -1.0), 1.0))
        size = tf.minimum(1.0, limit)
        current = objective(alpha)
        for _ in range(10):
            size = tf.where(objective(alpha + size * step) <= current, size, size / 2)
        return tf.maximum(alpha + size * step, EPSILON)

    start = 1.0 / tf.sqrt(tf.linalg.diag_part(gram))
    return tf.while_loop(lambda a: True, lambda a: [newton_step(a)], [start],
                         maximum_iterations=iterations)[0]


@register
class NashMTL(GradientAggregator):
    """The Nash bargaining solution: d = sum_i alpha_i g_i with alpha solving
    (G G^T) alpha = 1 / alpha, so that every task's improvement g_i . d equals
    1 / alpha_i. Scale-invariant: scaling all gradients leaves d unchanged, so use
    the optimizer's learning rate to set the step (the paper also clips |d|).
    Parameters mode only, as in LibMTL: with |d|^2 = T whatever the gradients'
    size, a direction over the per-example representation, back-propagated through
    the trunk, has no sensible scale (training diverges).

    Args:
        mode: "parameters" (the only one).
        iterations: Newton iterations.
        max_norm: if > 0, d is clipped to this norm.

    Example:
    >>> NashMTL()([[1.0, 0.0], [0.0, 2.0]]).numpy().round(4).tolist()
    [1.0, 1.0]
    """

    modes = ("parameters",)
    unsupported_modes_reason = (
        "its direction has a fixed size (|d|^2 = T, the number of tasks) whatever the gradients' "
        "size, which over the per-example representation gives an update of no sensible scale "
        "(training diverges).")

    def __init__(self, mode=None, iterations=20, max_norm=0.0):
        super().__init__(mode)
        self.iterations = check_integer(iterations, "iterations", owner="NashMTL")
        self.max_norm = check_number(max_norm, "max_norm", low=0.0, owner="NashMTL")

    def aggregate(self, gradients, losses, step):
        weights = nash_weights(gram_matrix(gradients), self.iterations)
        direction = tf.linalg.matvec(gradients, weights, transpose_a=True)
        if self.max_norm > 0:
            direction = tf.clip_by_norm(direction, self.max_norm)
        return direction

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "max_norm": self.max_norm}
