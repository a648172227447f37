"""PCGrad: project conflicting gradients (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning")."""

import tensorflow as tf

from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, register


@register
class PCGrad(GradientAggregator):
    """For each task gradient, removes its component along every other task gradient it
    conflicts with (negative inner product), in random order; returns the sum.

    Example:
    >>> PCGrad()([[1.0, 0.0], [-1.0, 1.0]]).numpy().tolist()
    [0.5, 1.5]
    """

    def aggregate(self, gradients, losses, step):
        num_tasks = gradients.shape[0]
        squared_norms = tf.reduce_sum(gradients ** 2, axis=1)
        projected = []
        for i in range(num_tasks):
            g = gradients[i]
            for j in tf.unstack(self.random_permutation(num_tasks, step, i)):
                # rows by tf.gather, not indexing, so that XLA compiles once (GradientAggregator)
                other = tf.gather(gradients, j)
                dot = tf.reduce_sum(g * other)
                conflict = tf.logical_and(dot < 0, tf.not_equal(j, i))
                coefficient = tf.where(conflict, dot / (tf.gather(squared_norms, j) + EPSILON), 0.0)
                g = g - coefficient * other
            projected.append(g)
        return tf.add_n(projected)
