"""Random Loss Weighting (Lin et al. 2021, "Reasonable Effectiveness of Random
Weighting: A Litmus Test for Multi-Task Learning", TMLR 2022)."""

import numpy as np

from mtl_zoo.weighting.callback import TaskWeightCallback


class RandomLossWeighting(TaskWeightCallback):
    """Draws new task weights before every batch: T * softmax(z), z ~ N(0, 1).

    Args:
        seed: seed of the weight draws.

    Example:
    >>> model.fit(ds, callbacks=[RandomLossWeighting(seed=0)])  # doctest: +SKIP
    """

    def __init__(self, seed=None):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def on_train_batch_begin(self, batch, logs=None):
        z = self.rng.standard_normal(len(self.task_names))
        exponents = np.exp(z - z.max())
        self.assign(len(z) * exponents / exponents.sum())
