"""GradDrop: gradient sign dropout (Chen et al. 2020, "Just Pick a Sign: Optimizing Deep
Multitask Models with Gradient Sign Dropout", NeurIPS)."""

import tensorflow as tf

from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, register


@register
class GradDrop(GradientAggregator):
    """Per coordinate, keeps only the task gradients of one sign, chosen at random with
    probability given by the sign purity P = (1 + sum g_i / sum |g_i|) / 2. Meant for
    gradients at the shared representation (the default mode), as in the paper.
    P is taken per coordinate of the gradient rows, i.e. per example and feature of the
    representation: the paper's Algorithm 1 first sums each task's gradient over the
    batch, after multiplying it by sign(A) of the activations, which this version
    does not do (the aggregators see gradients, not activations).

    Args:
        mode: "representation" (default) or "parameters".

    Example:
    >>> GradDrop()([[1.0, 2.0], [3.0, 1.0]]).numpy().tolist()  # same signs: kept
    [4.0, 3.0]
    """

    default_mode = "representation"

    def aggregate(self, gradients, losses, step):
        purity = 0.5 * (1.0 + tf.reduce_sum(gradients, 0) / (tf.reduce_sum(tf.abs(gradients), 0) + EPSILON))
        keep_positive = purity > self.random_uniform(tf.shape(purity), step)
        keep = tf.where(keep_positive[None, :], gradients > 0, gradients < 0)
        return tf.reduce_sum(tf.where(keep, gradients, 0.0), axis=0)
