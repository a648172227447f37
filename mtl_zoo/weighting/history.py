"""`TaskWeightHistory`: the task weights of each epoch in the training logs."""

from mtl_zoo.weighting.callback import StepWeightsReporter


class TaskWeightHistory(StepWeightsReporter):
    """Adds `alpha_<task>`, the alphas that the epoch's last training step used (and
    `uncertainty_weight_<task>` with learned weights, as the epoch ends), to the logs
    at the end of every epoch, so `History`, TensorBoard and CSVLogger record how the
    weighting method moved the tasks' weights.

    Put it before TensorBoard / CSVLogger (they read the logs it extends).

    Example:
    >>> history = model.fit(data, epochs=4, callbacks=[
    ...     mz.weighting.DynamicWeightAverage(), mz.weighting.TaskWeightHistory()])  # doctest: +SKIP
    >>> history.history["alpha_depth"]  # doctest: +SKIP
    [1.0, 1.0, 0.93, 1.12]
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs.update({f"alpha_{name}": value for name, value in self.step_weights.items()})
        logs.update({f"uncertainty_weight_{name}": value
                     for name, value in self.model.uncertainty_weights.items()})
