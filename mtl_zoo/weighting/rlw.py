"""Random Loss Weighting (Lin et al. 2021, "Reasonable Effectiveness of Random
Weighting: A Litmus Test for Multi-Task Learning", TMLR 2022)."""

import keras
import numpy as np

from mtl_zoo.weighting.callback import TaskWeightCallback


class RandomLossWeighting(TaskWeightCallback):
    """Draws new task weights for every batch: T * softmax(z), z ~ N(0, 1).

    The first step's weights are drawn when training starts and each next step's
    when a step ends, like the other per-batch methods, so that the monitors read
    the weights a step used whatever the callbacks' order. With
    `compile(steps_per_execution=k)` Keras calls the callback once per k steps:
    one draw then weights k steps.

    Args:
        seed: seed of the weight draws: each step's come from the seed and the
            step's index (the optimizer's `iterations`), so a resumed run draws
            what an uninterrupted one would. None: fresh entropy every step.

    Example:
    >>> model.fit(ds, callbacks=[RandomLossWeighting(seed=0)])  # doctest: +SKIP
    """

    def __init__(self, seed=None):
        super().__init__()
        self.seed = seed

    def on_train_begin(self, logs=None):
        self.draw()

    def on_train_batch_end(self, batch, logs=None):
        self.draw()

    def draw(self):
        """The weights of the optimizer's next step, drawn from the seed and that step's index
        alone, so that a run resumed from a backup draws what an uninterrupted run would."""
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))  # also mirrored
        rng = np.random.default_rng(None if self.seed is None else [self.seed, step])
        z = rng.standard_normal(len(self.task_names))
        exponents = np.exp(z - z.max())
        self.assign(len(z) * exponents / exponents.sum())
