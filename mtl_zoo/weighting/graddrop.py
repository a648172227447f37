"""GradDrop: gradient sign dropout (Chen et al. 2020, "Just Pick a Sign: Optimizing Deep
Multitask Models with Gradient Sign Dropout", NeurIPS)."""

import numpy as np
import tensorflow as tf

from mtl_zoo.weighting.aggregator import EPSILON, GradientAggregator, register


@register
class GradDrop(GradientAggregator):
    """Per feature of the shared representation, keeps only the task gradients of one sign,
    chosen at random with probability given by the sign purity.

    The paper's Algorithm 1 in its batch-separated form, at the shared representation
    A (the default mode): each task's gradient is multiplied by sign(A) and summed
    over the batch, G_i = sum_batch sign(A) * dL_i/dA; the purity of each feature is
    P = (1 + sum_i G_i / sum_i |G_i|) / 2; with U uniform per feature, task i keeps its
    gradient at that feature, in every example, where G_i > 0 if P > U and where
    G_i < 0 if P < U. With leak k_i, task i passes k_i of its dropped gradient
    anyway: the result is sum_i (k_i + (1 - k_i) M_i) dL_i/dA. (The paper's purity
    function f is the identity here.) In parameter mode, or called on a bare
    gradient matrix, each column is its own feature and the gradients are taken
    as they are (no activations, no batch).

    Args:
        leak: k_i in [0, 1], one for every task or a list of one per task (0: pure
            GradDrop; 1 for a task: its gradient passes unchanged).
        mode: "representation" (default) or "parameters".

    Example:
    >>> GradDrop()([[1.0, 2.0], [3.0, 1.0]]).numpy().tolist()  # same signs: kept
    [4.0, 3.0]
    >>> GradDrop(leak=1.0)([[1.0, -2.0], [-3.0, 1.0]]).numpy().tolist()  # full leak: the sum
    [-2.0, -1.0]
    """

    default_mode = "representation"
    uses_activations = True

    def __init__(self, leak=0.0, mode=None):
        super().__init__(mode)
        leaks = np.atleast_1d(np.asarray(leak, dtype="float64"))
        if leaks.ndim != 1 or not np.all((leaks >= 0) & (leaks <= 1)):
            raise ValueError(f"GradDrop: leak must be a number in [0, 1] or a list of one per "
                             f"task, got {leak!r}.")
        self.leak = leak if np.ndim(leak) == 0 else [float(k) for k in leaks]
        self._leaks = leaks.astype("float32")

    def build(self, num_tasks):
        super().build(num_tasks)
        if len(self._leaks) not in (1, num_tasks):
            raise ValueError(f"GradDrop: leak has {len(self._leaks)} values for {num_tasks} "
                             f"tasks; give one number, or one per task.")

    def aggregate(self, gradients, losses, step, activations=None):
        if activations is None:
            signed = gradients
        else:  # G_i: sign(A) * gradient, summed over the examples of each feature
            per_column = tf.transpose(gradients * tf.sign(activations.values)[None, :])
            signed = tf.transpose(tf.math.unsorted_segment_sum(
                per_column, activations.features, activations.num_features))
        purity = 0.5 * (1.0 + tf.reduce_sum(signed, 0) / (tf.reduce_sum(tf.abs(signed), 0) + EPSILON))
        keep_positive = purity > self.random_uniform(tf.shape(purity), step)
        keep = tf.where(keep_positive[None, :], signed > 0, signed < 0)
        if activations is not None:
            keep = tf.gather(keep, activations.features, axis=1)
        leaks = tf.broadcast_to(tf.constant(self._leaks)[:, None], [tf.shape(gradients)[0], 1])
        return tf.reduce_sum((leaks + (1.0 - leaks) * tf.cast(keep, tf.float32)) * gradients, axis=0)

    def get_config(self):
        return {**super().get_config(), "leak": self.leak}
