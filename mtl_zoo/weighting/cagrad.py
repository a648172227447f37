"""CAGrad: conflict-averse gradient descent (Liu et al. 2021, NeurIPS)."""

import tensorflow as tf

from mtl_zoo.checks import check_integer
from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, gram_matrix, register


@register
class CAGrad(GradientAggregator):
    """Maximises the worst local improvement of any task within a ball around the
    average gradient g0: d = g0 + (sqrt(phi) / |g_w|) g_w, phi = c^2 |g0|^2, where
    w on the simplex minimises g_w . g0 + sqrt(phi) |g_w| (solved on the T x T Gram
    matrix by 20 steps of momentum gradient descent over softmax logits, as in the
    authors' code). Returned as T * d / (1 + c^2) (the paper's rescaling, summed
    over tasks).

    Args:
        c: radius of the ball, in [0, 1) (0 gives the plain sum).
        mode: "parameters" (default) or "representation".
        iterations: solver steps.

    Example:
    >>> CAGrad(c=0.0)([[1.0, 0.0], [0.0, 2.0]]).numpy().tolist()
    [1.0, 2.0]
    """

    def __init__(self, c=0.4, mode=None, iterations=20):
        super().__init__(mode)
        if not 0.0 <= float(c) < 1.0:
            raise ValueError(f"CAGrad: c must be in [0, 1), got {c}.")
        self.c = float(c)
        self.iterations = check_integer(iterations, "iterations", owner="CAGrad")

    def aggregate(self, gradients, losses, step):
        num_tasks = gradients.shape[0]
        gram = gram_matrix(gradients)
        g0_norm = tf.sqrt(tf.maximum(tf.reduce_mean(gram), 0.0) + EPSILON)
        radius = self.c * g0_norm
        # The solver works on the Gram matrix scaled to unit mean gradient norm, as the
        # authors' code does, so that its fixed step size fits any gradient scale.
        scale = tf.reduce_mean(tf.sqrt(tf.linalg.diag_part(gram) + 1e-4)) ** 2
        unit_gram = gram / scale
        unit_radius = self.c * tf.sqrt(tf.maximum(tf.reduce_mean(unit_gram), 0.0) + EPSILON)
        mean_row = tf.reduce_mean(unit_gram, axis=1)            # g_i . g0

        def momentum_step(logits, velocity):
            w = tf.nn.softmax(logits)
            gram_w = tf.linalg.matvec(unit_gram, w)
            gw_norm = tf.sqrt(tf.tensordot(w, gram_w, 1) + EPSILON)
            grad_w = mean_row + unit_radius * gram_w / gw_norm
            velocity = 0.5 * velocity + w * (grad_w - tf.tensordot(w, grad_w, 1))
            return [logits - 25.0 * velocity, velocity]

        logits, _ = tf.while_loop(lambda *_: True, momentum_step,
                                  [tf.zeros([num_tasks]), tf.zeros([num_tasks])],
                                  maximum_iterations=self.iterations)
        w = tf.nn.softmax(logits)
        gw_norm = tf.sqrt(tf.tensordot(w, tf.linalg.matvec(gram, w), 1) + EPSILON)
        coefficients = 1.0 / num_tasks + radius / gw_norm * w
        direction = tf.linalg.matvec(gradients, coefficients, transpose_a=True)
        return num_tasks * direction / (1.0 + self.c ** 2)

    def get_config(self):
        return {**super().get_config(), "c": self.c, "iterations": self.iterations}
