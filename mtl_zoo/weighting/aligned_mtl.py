"""Aligned-MTL: stable principal components of the task gradients
(Senushkin et al. 2023, "Independent Component Alignment for Multi-Task Learning")."""

import tensorflow as tf

from mtl_zoo.weighting.aggregator import GradientAggregator, gram_matrix, register


@register
class AlignedMTL(GradientAggregator):
    """Makes the gradient system well conditioned: with G G^T = V diag(lambda) V^T,
    the task weights are B 1 where B = sqrt(lambda_min) V diag(lambda)^-1/2 V^T over
    the non-zero eigenvalues, so that the combined gradient has all singular values
    equal to the smallest one. Orthogonal gradients of equal norm give their sum.

    Example:
    >>> AlignedMTL()([[2.0, 0.0], [0.0, 2.0]]).numpy().round(4).tolist()
    [2.0, 2.0]
    """

    def aggregate(self, gradients, losses, step):
        eigenvalues, eigenvectors = tf.linalg.eigh(gram_matrix(gradients))
        tolerance = tf.reduce_max(eigenvalues) * gradients.shape[0] * 1e-7
        kept = eigenvalues > tolerance
        inverse_root = tf.where(kept, 1.0 / tf.sqrt(tf.where(kept, eigenvalues, 1.0)), 0.0)
        smallest = tf.reduce_min(tf.where(kept, eigenvalues, tf.reduce_max(eigenvalues)))
        balance = tf.sqrt(smallest) * tf.matmul(eigenvectors * inverse_root, eigenvectors, transpose_b=True)
        weights = tf.reduce_sum(balance, axis=1)
        return tf.linalg.matvec(gradients, weights, transpose_a=True)
