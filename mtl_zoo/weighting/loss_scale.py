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
    (the factor T keeps the total on the scale of a plain sum). A task without a
    labelled example so far this epoch keeps its weight and stays out of the mean.
    With `compile(steps_per_execution=k)` Keras calls the callback once per k steps:
    the weights are then updated every k steps.

    Example:
    >>> model.fit(ds, callbacks=[GeometricLossStrategy()])  # doctest: +SKIP
    """

    def on_train_batch_end(self, batch, logs=None):
        losses, seen = self.task_losses(logs), self.labelled_tasks()
        if not seen.any():
            return
        losses = np.maximum(losses[seen], 1e-8)
        weights = self.current_weights()
        weights[seen] = np.exp(np.mean(np.log(losses))) / losses
        self.assign(weights)
