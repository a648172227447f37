"""Diagnostics: per-task gradient norms, gradient conflicts and task weights during fit."""

import keras
import tensorflow as tf

from mtl_zoo.weighting.callback import StepWeightsReporter


class GradientConflictMonitor(StepWeightsReporter):
    """Records, every `every` steps, each task's gradient norm on the shared trunk
    (`grad_norm_<task>`), the pairwise cosine similarities of the task gradients
    (`grad_cos_<a>_<b>`; negative means conflict) and the task weights that step
    trained with (`alpha_<task>`). The latest values go into the epoch logs (so
    into History), every record into `self.records`, and into TensorBoard when
    `log_dir` is set.

    The model computes per-task gradients at every step while this callback is
    attached (one backward pass per task); they stop when its `fit` ends. With a representation-mode
    aggregator the gradients are those at the shared representation. While the
    shared layers are frozen (`mtl_zoo.unfreeze_at`) it records nothing.

    Args:
        every: record every this many training steps.
        log_dir: optional TensorBoard directory (written with tf.summary).

    Example:
    >>> monitor = GradientConflictMonitor(every=10, log_dir="logs/conflicts")  # doctest: +SKIP
    >>> model.fit(ds, callbacks=[monitor]); monitor.records[-1]["grad_cos_a_b"]  # doctest: +SKIP
    """

    def __init__(self, every=50, log_dir=None):
        super().__init__()
        if every < 1:
            raise ValueError(f"GradientConflictMonitor: every must be >= 1, got {every}.")
        self.every = int(every)
        self.log_dir = log_dir
        self.records = []
        self._writer = None
        self._latest = {}

    def on_train_begin(self, logs=None):
        self.model.request_gradient_statistics()
        if self.log_dir is not None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_train_batch_end(self, batch, logs=None):
        # with `steps_per_execution` this runs every k steps: record at the first step seen
        # at least `every` steps after the last record
        if not any(key.startswith("grad_norm_") for key in logs or {}):
            return  # the shared layers are still frozen: nothing to record
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if self.records and 0 <= step - self.records[-1]["step"] < self.every:
            return
        record = {key: float(value) for key, value in (logs or {}).items()
                  if key.startswith(("grad_norm_", "grad_cos_"))}
        record.update({f"alpha_{name}": w for name, w in self.step_weights.items()})
        record["step"] = step
        self.records.append(record)
        self._latest = record
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for key, value in record.items():
                    if key != "step":
                        tf.summary.scalar(f"task_balancing/{key}", value)
            self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update({key: value for key, value in self._latest.items() if key != "step"})

    def on_train_end(self, logs=None):
        self.model.release_gradient_statistics()
        if self._writer is not None:
            self._writer.close()
