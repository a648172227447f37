"""`CrossStitch`: learned linear mixing of the task towers' features (Misra et al. 2016)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtl_zoo")
class CrossStitch(keras.layers.Layer):
    """A cross-stitch unit: each task's output is a learned mix of every task's input.

    From Misra et al. 2016, "Cross-stitch Networks for Multi-task Learning":
    given T same-shaped feature maps x_1..x_T (one per task tower), returns
    y_i = sum_j alpha_ij x_j. alpha starts at `self_weight` on the diagonal and
    (1 - self_weight) / (T - 1) elsewhere, so each tower starts mostly itself.

    Args:
        self_weight: initial alpha_ii, in [0, 1] (the paper uses 0.9).
        per_channel: True for one alpha matrix per channel (T * T * C weights)
            instead of one (T * T weights); a bool.

    Example:
    >>> unit = CrossStitch()
    >>> a, b = unit([keras.ops.ones((1, 4, 4, 8)), keras.ops.zeros((1, 4, 4, 8))])
    >>> round(float(a[0, 0, 0, 0]), 2), round(float(b[0, 0, 0, 0]), 2)
    (0.9, 0.1)
    """

    # its weights are laid out by task position: they go over to another model only when
    # its tasks are the same, in the same order (`mtl_zoo.presets.transfer`)
    ordered_by_task = True

    def __init__(self, self_weight=0.9, per_channel=False, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(self_weight) <= 1.0:
            raise ValueError(f"CrossStitch: self_weight must be in [0, 1], got {self_weight!r}.")
        if not isinstance(per_channel, bool):
            raise ValueError(f"CrossStitch: per_channel must be True or False, got {per_channel!r}.")
        self.self_weight = float(self_weight)
        self.per_channel = per_channel

    def build(self, input_shape):
        shapes = [tuple(shape) for shape in input_shape]
        if len(shapes) < 2 or any(shape[1:] != shapes[0][1:] for shape in shapes):
            raise ValueError(f"CrossStitch mixes two or more feature maps of one shape, got {shapes}.")
        tasks = len(shapes)
        other = (1.0 - self.self_weight) / (tasks - 1)
        initial = other + (self.self_weight - other) * ops.eye(tasks)
        shape = (tasks, tasks, shapes[0][-1]) if self.per_channel else (tasks, tasks)

        def initializer(shape, dtype=None):
            mix = initial[:, :, None] if self.per_channel else initial
            return ops.cast(ops.broadcast_to(mix, shape), dtype or "float32")

        self.alpha = self.add_weight(shape=shape, initializer=initializer, name="alpha")

    def call(self, inputs):
        stacked = ops.stack(inputs, axis=0)  # (T, batch, ..., C)
        alpha = ops.cast(self.alpha, stacked.dtype)
        if self.per_channel:
            mixed = ops.einsum("ijc,j...c->i...c", alpha, stacked)
        else:
            mixed = ops.einsum("ij,j...->i...", alpha, stacked)
        return [mixed[i] for i in range(len(inputs))]

    def compute_output_spec(self, inputs):
        return [keras.KerasTensor(x.shape, x.dtype) for x in inputs]

    def get_config(self):
        return {**super().get_config(), "self_weight": self.self_weight,
                "per_channel": self.per_channel}
