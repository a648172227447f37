"""`Task`: everything about one task (head, loss, metrics, encoder, decoder)."""

import dataclasses
from typing import Optional

from mtl_zoo.configurable import Configurable
from mtl_zoo.naming import check_identifier


@dataclasses.dataclass
class Features:
    """What the shared trunk hands to the task heads.

    Attributes:
        backbone: raw backbone features `{"P2": ..., "P5": ...}`.
        pyramid: the shared feature pyramid (same keys, uniform channels), or
            None when no task asked for it.
        image_shape: (height, width, channels) of the model input.
    """

    backbone: dict
    pyramid: Optional[dict]
    image_shape: tuple


def check_rank(value, expected_ranks, task, what, fix):
    """Raises a ValueError naming `task` when `value`'s rank is not in `expected_ranks`."""
    rank = len(value.shape)
    if rank not in expected_ranks:
        raise ValueError(
            f"Task {task.name!r}: {what} has shape {tuple(value.shape)} (rank {rank}), "
            f"expected rank {' or '.join(map(str, expected_ranks))}. {fix}"
        )


def check_last_dim(value, expected, task, what, fix):
    """Raises a ValueError naming `task` when `value`'s static last dimension is wrong."""
    last = value.shape[-1]
    if last is not None and int(last) != expected:
        raise ValueError(
            f"Task {task.name!r}: {what} has shape {tuple(value.shape)}, expected last "
            f"dimension {expected}. {fix}"
        )


class Task(Configurable):
    """Base class of every task kind.

    A subclass defines:
      * `kind`: the registry name used in configs ("classification", ...);
      * `uses_pyramid`: whether its head reads the shared feature pyramid;
      * `build_head(features)`: Keras layers on `Features`, returning a dict of
        outputs named `f"{name}_{key}"`;
      * `encode(labels, image_shape)`: raw labels of ONE example to training
        targets (TensorFlow ops, usable inside `tf.data.Dataset.map`);
      * `per_example_loss(targets, outputs)`: a (batch,) loss;
      * `build_metrics()` and `update_metrics(metrics, targets, outputs, weights)`;
      * `decode(outputs, image_shape)`: raw head outputs to user-facing values;
      * `validate_targets(targets)`: a ValueError for targets of the wrong shape.

    `outputs` passed to the methods above is the task's own slice of the
    model outputs, keyed without the task-name prefix (e.g. `"logits"`).

    Args:
        name: the task's name: the key of its labels and the prefix of its
            outputs and metrics. Letters, digits and underscores.
    """

    kind = None
    uses_pyramid = False

    def __init__(self, name):
        self.name = check_identifier(name, "task name")

    # -- naming -----------------------------------------------------------------
    def output_name(self, key):
        """The model output name of this task's head output `key`."""
        return f"{self.name}_{key}"

    def own_outputs(self, model_outputs):
        """This task's slice of the model's flat output dict, keyed without prefix."""
        prefix = f"{self.name}_"
        return {name[len(prefix):]: value for name, value in model_outputs.items()
                if name.startswith(prefix) and name[len(prefix):] in self.output_keys}

    @property
    def output_keys(self):
        """The keys (without prefix) of this task's head outputs."""
        raise NotImplementedError

    # -- the contract -------------------------------------------------------------
    def build_head(self, features):
        raise NotImplementedError

    def encode(self, labels, image_shape):
        raise NotImplementedError

    def per_example_loss(self, targets, outputs):
        raise NotImplementedError

    def build_metrics(self):
        return []

    def update_metrics(self, metrics, targets, outputs, weights):
        raise NotImplementedError

    def decode(self, outputs, image_shape):
        raise NotImplementedError

    def validate_targets(self, targets):
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------
    def _metric_name(self, metric):
        return f"{self.name}_{metric}"

    def _require_keys(self, targets, keys):
        if not isinstance(targets, dict):
            raise ValueError(
                f"Task {self.name!r} expects its targets as a dict with keys {sorted(keys)} "
                f"(from {type(self).__name__}.encode), got {type(targets).__name__}."
            )
        missing = sorted(set(keys) - set(targets))
        if missing:
            raise ValueError(
                f"Task {self.name!r}: targets lack {missing}; encode raw labels with "
                f"model.encode_labels or {type(self).__name__}.encode."
            )

    # -- serialization -----------------------------------------------------------------
    def get_config(self):
        return {"name": self.name}
