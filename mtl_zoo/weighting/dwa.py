"""Dynamic Weight Average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning
with Attention", CVPR)."""

import numpy as np

from mtl_zoo.weighting.callback import TaskWeightCallback


class DynamicWeightAverage(TaskWeightCallback):
    """Weights each task by how slowly its loss falls: with r_i = L_i(t-1) / L_i(t-2)
    (epoch-average training losses), w_i(t) = T exp(r_i / temperature) / sum_j
    exp(r_j / temperature); the first two epochs use weight 1.

    The last two epochs' losses are kept in the model's `task_loss_history`, so
    resuming continues the same sequence.

    Args:
        temperature: softness of the weighting (paper: 2).

    Example:
    >>> model.fit(ds, epochs=20, callbacks=[DynamicWeightAverage(temperature=2.0)])  # doctest: +SKIP
    """

    def __init__(self, temperature=2.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"DynamicWeightAverage: temperature must be > 0, got {temperature}.")
        self.temperature = float(temperature)

    def on_epoch_begin(self, epoch, logs=None):
        rows = self.history_rows()
        previous, last = rows[1], rows[2]
        if np.all(previous > 0) and np.all(last > 0):
            ratios = last / previous
            exponents = np.exp((ratios - ratios.max()) / self.temperature)
            self.assign(len(ratios) * exponents / exponents.sum())
        else:
            self.assign(np.ones(len(self.task_names)))

    def on_epoch_end(self, epoch, logs=None):
        rows = self.history_rows()
        rows[1], rows[2] = rows[2], self.task_losses(logs)
        self.set_history_rows(rows)
