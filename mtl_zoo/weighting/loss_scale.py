"""Loss-scale normalisation: the geometric loss strategy (Chennupati et al. 2019,
"MultiNet++: Multi-Stream Feature Aggregation and Geometric Loss Strategy for Multi-Task
Learning", CVPR Workshops)."""

import numpy as np

from mtl_zoo.weighting.callback import TaskWeightCallback


class GeometricLossStrategy(TaskWeightCallback):
    """Trains on the geometric mean of the task losses, (prod_i L_i)^(1/T), which makes
    the result independent of each loss's scale. Its gradient is
    sum_i G / (T L_i) grad L_i with G the geometric mean, so the callback sets
    alpha_i = G / L_i after every batch, from the epoch's running mean losses
    (the factor T keeps the total on the scale of a plain sum).

    Example:
    >>> model.fit(ds, callbacks=[GeometricLossStrategy()])  # doctest: +SKIP
    """

    def on_train_batch_end(self, batch, logs=None):
        losses = np.maximum(self.task_losses(logs), 1e-8)
        geometric_mean = np.exp(np.mean(np.log(losses)))
        self.assign(geometric_mean / losses)
