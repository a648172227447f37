"""GradVac: gradient vaccine (Wang et al. 2021, "Gradient Vaccine: Investigating and
Improving Multi-task Optimization in Massively Multilingual Models", ICLR)."""

import tensorflow as tf

from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, register


@register
class GradVac(GradientAggregator):
    """Like PCGrad, but instead of only removing conflicts it pulls each pair's cosine
    similarity up to a target: an exponential moving average (rate `beta`) of the
    similarities seen so far. Applied to the whole gradient vector (the paper also
    shows a per-layer variant). The targets start at 0, the paper's start, and are
    saved with the model's weights (`.keras` files, `save_weights`, training backups):
    a model compiled with GradVac before its weights load (`mz.load_model`, a resumed
    run) goes on from them.

    Args:
        beta: EMA rate of the target similarities.
        mode: "parameters" (default) or "representation".

    Example:
    >>> GradVac()([[1.0, 0.0], [0.0, 1.0]]).numpy().tolist()  # no conflict with targets 0
    [1.0, 1.0]
    """

    def __init__(self, beta=0.01, mode=None):
        super().__init__(mode)
        if not 0.0 < float(beta) <= 1.0:
            raise ValueError(f"GradVac: beta must be in (0, 1], got {beta}.")
        self.beta = float(beta)
        self.targets = None

    def build(self, num_tasks):
        super().build(num_tasks)
        self.targets = tf.Variable(tf.zeros([num_tasks, num_tasks]), trainable=False,
                                   name="gradvac_targets")

    @property
    def state_variables(self):
        return [self.targets] if self.targets is not None else []

    def aggregate(self, gradients, losses, step):
        num_tasks = gradients.shape[0]
        norms = tf.norm(gradients, axis=1)
        updated_targets = self.targets
        combined = []
        for i in range(num_tasks):
            g = gradients[i]
            for j in tf.unstack(self.random_permutation(num_tasks, step, i)):
                # rows by tf.gather, not indexing, so that XLA compiles once (GradientAggregator)
                other, other_norm = tf.gather(gradients, j), tf.gather(norms, j)
                g_norm = tf.norm(g)
                cosine = tf.reduce_sum(g * other) / (g_norm * other_norm + EPSILON)
                target = tf.gather(self.targets[i], j)
                adjust = tf.logical_and(cosine < target, tf.not_equal(i, j))
                coefficient = g_norm * (target * tf.sqrt(1 - cosine ** 2) - cosine * tf.sqrt(1 - target ** 2)) / (
                    other_norm * tf.sqrt(1 - target ** 2) + EPSILON)
                g = g + tf.where(adjust, coefficient, 0.0) * other
                new_target = tf.where(tf.not_equal(i, j), (1 - self.beta) * target + self.beta * cosine, 0.0)
                updated_targets = tf.tensor_scatter_nd_update(updated_targets, [[i, j]], [new_target])
            combined.append(g)
        self.targets.assign(updated_targets)
        return tf.add_n(combined)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
