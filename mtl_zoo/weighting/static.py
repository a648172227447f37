"""Static and scheduled task weights."""

from mtl_zoo.weighting.callback import TaskWeightCallback


class StaticWeights(TaskWeightCallback):
    """Sets fixed task weights when training starts (tasks not named keep theirs).

    Args:
        weights: `{task_name: weight >= 0}`.

    Example:
    >>> model.fit(ds, callbacks=[StaticWeights({"objects": 2.0, "pose": 0.5})])  # doctest: +SKIP
    """

    def __init__(self, weights):
        super().__init__()
        self.weights = dict(weights)

    def on_train_begin(self, logs=None):
        self.model.set_task_weights(self.weights)


def linear_ramp(start_value, end_value, start_epoch, end_epoch):
    """A schedule that moves linearly from `start_value` (up to `start_epoch`) to
    `end_value` (from `end_epoch`), e.g. warming up or decaying an auxiliary task.

    Example:
    >>> [linear_ramp(0.0, 1.0, 2, 4)(e) for e in range(6)]
    [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    """
    if end_epoch < start_epoch:
        raise ValueError(f"linear_ramp: end_epoch {end_epoch} is before start_epoch {start_epoch}.")

    def schedule(epoch):
        if epoch <= start_epoch:
            return float(start_value)
        if epoch >= end_epoch:
            return float(end_value)
        fraction = (epoch - start_epoch) / (end_epoch - start_epoch)
        return float(start_value + fraction * (end_value - start_value))

    return schedule


class ScheduledWeights(TaskWeightCallback):
    """Sets task weights from per-epoch schedules at the start of every epoch.

    Args:
        schedules: `{task_name: callable(epoch) -> weight}`, e.g. `linear_ramp(...)`.

    Example:
    >>> aux_decay = ScheduledWeights({"aux": linear_ramp(1.0, 0.0, 0, 10)})  # doctest: +SKIP
    """

    def __init__(self, schedules):
        super().__init__()
        not_callable = [name for name, schedule in schedules.items() if not callable(schedule)]
        if not_callable:
            raise ValueError(f"ScheduledWeights: the schedules of {not_callable} are not callables "
                             "of the epoch (use linear_ramp or a function).")
        self.schedules = dict(schedules)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_task_weights({name: schedule(epoch) for name, schedule in self.schedules.items()})
