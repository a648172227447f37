"""`ExpertGate`: a task's softmax gate over shared experts (MMoE, Ma et al. 2018)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtl_zoo")
class ExpertGate(keras.layers.Layer):
    """Mixes the outputs of shared experts with softmax weights computed from the input.

    From Ma et al. 2018, "Modeling Task Relationships in Multi-task Learning
    with Multi-gate Mixture-of-Experts" (MMoE): task k gets
    sum_e softmax(W_k g)_e * expert_e, where g is a (batch, D) summary of the
    input (rank 2, e.g. globally pooled features; other ranks are refused).
    One gate per task; calling the same gate on several feature levels reuses
    its weights, so a task mixes its experts the same way at every level.
    In Customized Gate Control (Tang et al. 2020) the experts given are the shared
    ones followed by the task's own; in Progressive Layered Extraction a shared gate
    also mixes every expert of a layer for the next layer's shared experts.

    Args:
        num_experts: the number of experts mixed (>= 2).
        ordered_by_task: True when the experts include each task's own in task order (PLE's
            shared gate): its weights then go over to another model only when that model
            has the same tasks in the same order (`mtl_zoo.presets.transfer`).

    Example:
    >>> gate = ExpertGate(2)
    >>> experts = [keras.ops.ones((3, 4, 4, 8)), keras.ops.zeros((3, 4, 4, 8))]
    >>> tuple(gate(keras.ops.ones((3, 5)), experts).shape)
    (3, 4, 4, 8)
    """

    def __init__(self, num_experts, ordered_by_task=False, **kwargs):
        super().__init__(**kwargs)
        self.ordered_by_task = bool(ordered_by_task)
        if int(num_experts) < 2:
            raise ValueError(f"ExpertGate mixes two or more experts, got num_experts={num_experts!r}.")
        self.num_experts = int(num_experts)
        self.logits = keras.layers.Dense(self.num_experts, name="logits")

    def _check_gate_input(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self.name}: the gate input must be a (batch, features) summary, e.g. "
                             f"globally pooled features, got shape {tuple(shape)}.")

    def build(self, gate_input_shape, experts_shape=None):
        self._check_gate_input(gate_input_shape)
        if not self.logits.built:
            self.logits.build(gate_input_shape)

    def weights_for(self, gate_input):
        """The (batch, num_experts) softmax mixing weights."""
        return ops.softmax(self.logits(gate_input), axis=-1)

    def call(self, gate_input, experts):
        self._check_gate_input(gate_input.shape)
        if len(experts) != self.num_experts:
            raise ValueError(f"{self.name} mixes {self.num_experts} experts, got {len(experts)}.")
        stacked = ops.stack(experts, axis=1)  # (batch, E, ...)
        weights = ops.cast(self.weights_for(gate_input), stacked.dtype)
        weights = ops.reshape(weights, (-1, self.num_experts) + (1,) * (len(stacked.shape) - 2))
        return ops.sum(weights * stacked, axis=1)

    def compute_output_shape(self, gate_input_shape, experts_shape):
        return tuple(experts_shape[0])

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts, "ordered_by_task": self.ordered_by_task}
