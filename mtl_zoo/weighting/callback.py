"""`TaskWeightCallback`: the base of the callbacks that set a model's task weights."""

import keras
import numpy as np


class TaskWeightCallback(keras.callbacks.Callback):
    """A Keras callback that reads training logs and sets the model's alphas.

    DWA, RLW and the geometric strategy replace the alphas as they train, the
    initial `task_weights` of `build_model` included; GradNorm starts from them.

    Alphas are variables of the `MultiTaskModel`, and the state of the
    loss-based methods lives in the model's `task_loss_history` variable, so
    both are saved with the model and restored by `keras.callbacks.BackupAndRestore`.

    Example, a subclass that weights each task by its last epoch's loss:
    >>> class ByLastLoss(TaskWeightCallback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         losses = self.task_losses(logs)
    ...         self.model.set_task_weights(dict(zip(self.task_names, losses / losses.sum())))
    >>> model.fit(ds, epochs=5, callbacks=[ByLastLoss()])  # doctest: +SKIP
    """

    def set_model(self, model):
        from mtl_zoo.model import MultiTaskModel

        if not isinstance(model, MultiTaskModel):
            raise ValueError(f"{type(self).__name__} sets task weights of a mtl_zoo MultiTaskModel, "
                             f"not of {type(model).__name__}.")
        super().set_model(model)

    @property
    def task_names(self):
        return self.model.task_names

    def task_losses(self, logs):
        """The `<task>_loss` entries of `logs`, in task order, as an array."""
        missing = [name for name in self.task_names if f"{name}_loss" not in (logs or {})]
        if missing:
            raise ValueError(f"{type(self).__name__} needs the training logs of tasks {missing}.")
        losses = np.array([float(logs[f"{name}_loss"]) for name in self.task_names])
        if not np.all(np.isfinite(losses)):
            raise ValueError(
                f"{type(self).__name__} cannot weight non-finite task losses "
                f"{dict(zip(self.task_names, losses.tolist()))}: training diverged. Lower the "
                "learning rate or check the labels of those tasks.")
        return losses

    def labelled_tasks(self):
        """Whether each task, in task order, has had a labelled example so far this epoch:
        until then its logged loss is a placeholder 0 (mixed or one-task batches)."""
        counts = self.model.labelled_examples()
        return np.array([counts.get(name, 0.0) > 0 for name in self.task_names])

    def assign(self, weights):
        """Sets the alphas from an array in task order."""
        self.model.set_task_weights(dict(zip(self.task_names, (float(w) for w in weights))))

    def current_weights(self):
        weights = self.model.task_weights
        return np.array([weights[name] for name in self.task_names])

    def history_rows(self):
        """The model's `task_loss_history`: rows initial, previous-but-one and last losses."""
        return np.array(self.model.task_loss_history.numpy())

    def set_history_rows(self, rows):
        self.model.task_loss_history.assign(np.asarray(rows, "float32"))


class StepWeightsReporter(TaskWeightCallback):
    """A `TaskWeightCallback` that reports the alphas a training step used.

    `step_weights` is read as each step begins (once per `steps_per_execution`
    group), after the `on_train_batch_begin` of the callbacks listed before it.
    The weighting callbacks that act per batch (GradNorm, RLW, the geometric
    strategy) set the next step's alphas as a step ends, so reading the alphas
    then would give those of the next step, not of the step the logs describe.

    Example:
    >>> import mtl_zoo as mz
    >>> reporter = StepWeightsReporter()
    >>> reporter.set_model(mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1)))
    >>> reporter.on_train_batch_begin(0)
    >>> reporter.step_weights
    {'digit': 1.0}
    """

    step_weights = None

    def on_train_batch_begin(self, batch, logs=None):
        self.step_weights = self.model.task_weights
