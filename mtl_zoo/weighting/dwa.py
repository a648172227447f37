"""Dynamic Weight Average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning
with Attention", CVPR)."""

import numpy as np

from mtl_zoo.weighting.callback import TaskWeightCallback


class DynamicWeightAverage(TaskWeightCallback):
    """Weights each task by how slowly its loss falls: with r_i = L_i(t-1) / L_i(t-2)
    (epoch-average training losses), w_i(t) = T exp(r_i / temperature) / sum_j
    exp(r_j / temperature); the first two epochs use weight 1.

    A task with no labelled example in epoch t-1 or t-2 (mixed datasets, masks;
    its logged loss is then a placeholder 0) counts with r_i = 1.

    The last two epochs' losses are kept in the model's `task_loss_history`: the
    running epoch's are written after every batch, and moved down a row when the
    next epoch begins. A backup taken at the end of an epoch
    (`keras.callbacks.BackupAndRestore`, `mz.SharedBackupAndRestore`) therefore holds
    them whatever the order of the callbacks, and resuming continues the same
    sequence. A backup taken within an epoch (`save_freq=<batches>`) holds part of
    that epoch's losses, which the rerun epoch takes for L_i(t-1).

    Args:
        temperature: softness of the weighting (paper: 2).

    Example: losses 1.0 then 0.5 for task a, flat for task b, a's weight falls.
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("a", 2),
    ...                                 mz.tasks.Classification("b", 2)], (32, 32, 3))
    >>> dwa = DynamicWeightAverage(temperature=2.0)
    >>> dwa.set_model(model)
    >>> for epoch, losses in enumerate([(1.0, 1.0), (0.5, 1.0)]):
    ...     dwa.on_epoch_begin(epoch)
    ...     dwa.on_train_batch_end(0, {"a_loss": losses[0], "b_loss": losses[1]})
    >>> dwa.on_epoch_begin(2)
    >>> {name: round(w, 3) for name, w in model.task_weights.items()}
    {'a': 0.876, 'b': 1.124}
    """

    def __init__(self, temperature=2.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"DynamicWeightAverage: temperature must be > 0, got {temperature}.")
        self.temperature = float(temperature)

    def on_epoch_begin(self, epoch, logs=None):
        rows = self.history_rows()
        previous, last = rows[1], rows[2]
        labelled = (previous > 0) & (last > 0)
        ratios = np.where(labelled, last / np.where(labelled, previous, 1.0), 1.0)
        exponents = np.exp((ratios - ratios.max()) / self.temperature)
        self.assign(len(ratios) * exponents / exponents.sum())
        rows[1] = last
        rows[2] = 0.0
        self.set_history_rows(rows)

    def on_train_batch_end(self, batch, logs=None):
        rows = self.history_rows()
        rows[2] = self.task_losses(logs)
        self.set_history_rows(rows)
