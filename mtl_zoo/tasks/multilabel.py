"""Multi-label attributes: one independent sigmoid per label (e.g. CelebA's 40)."""

import keras
import tensorflow as tf
from keras import layers, ops

from mtl_zoo.tasks.base import (Task, check_last_dim, check_rank, checked_size, labelled_values_check,
                                one_example_message)
from mtl_zoo.tasks.heads import pooled_trunk_features


@keras.saving.register_keras_serializable(package="mtl_zoo")
class MultiLabel(Task):
    """Independent binary attributes with a sigmoid head.

    Head: global average pooling of the stride-32 backbone features and a
    dense layer. Loss: binary cross-entropy averaged over the known labels.
    Metrics: binary accuracy and area under the precision-recall curve,
    averaged over labels (a mean-average-precision estimate).

    Labels: a vector of num_labels values, 1 (present), 0 (absent) or -1
    (unknown: no loss and no metric for that label). Decoded: per-label
    probabilities and booleans at `threshold`.

    Args:
        name: task name.
        num_labels: number of attributes (>= 1).
        threshold: decision threshold of the decoded booleans.
        label_names: optional list of num_labels names.

    Example:
    >>> task = MultiLabel("attributes", num_labels=40)
    >>> task.encode([1, 0, -1] + [0] * 37, (64, 64, 3)).shape
    TensorShape([40])
    """

    kind = "multilabel"
    example_label_ranks = {None: (1, 2)}
    output_keys = ("logits",)

    def __init__(self, name, num_labels, threshold=0.5, label_names=None):
        super().__init__(name)
        if int(num_labels) < 1:
            raise ValueError(f"Task {name!r}: num_labels must be >= 1, got {num_labels}.")
        if label_names is not None and len(label_names) != int(num_labels):
            raise ValueError(f"Task {name!r}: {len(label_names)} label_names for num_labels={num_labels}.")
        self.num_labels = int(num_labels)
        self.threshold = float(threshold)
        self.label_names = list(label_names) if label_names is not None else None

    def build_head(self, features):
        pooled = pooled_trunk_features(features, self.name)
        logits = layers.Dense(self.num_labels, dtype="float32", name=self.output_name("logits"))(pooled)
        return {self.output_name("logits"): logits}

    def encode(self, labels, image_shape):
        labels = checked_size(tf.cast(labels, tf.float32), self.num_labels, one_example_message(
            f"Task {self.name!r}: a raw label holds one value per attribute, num_labels={self.num_labels}"))
        return tf.reshape(labels, [self.num_labels])

    def validate_targets(self, targets):
        check_rank(targets, (2,), self, "labels", f"Pass a (batch, {self.num_labels}) array of 1/0/-1.")
        check_last_dim(targets, self.num_labels, self, "labels", "One column per attribute.")

    def target_checks(self, targets, mask):
        return [labelled_values_check(
            self, tf.cast(targets, tf.float32), mask,
            lambda values: (values == -1.0) | ((values >= 0.0) & (values <= 1.0)),
            "labels must be 1 (present), 0 (absent), -1 (unknown) or a soft label in [0, 1].")]

    def per_example_loss(self, targets, outputs):
        targets = ops.cast(targets, "float32")
        known = ops.cast(targets >= 0, "float32")
        losses = ops.binary_crossentropy(ops.maximum(targets, 0.0), outputs["logits"], from_logits=True)
        return ops.divide_no_nan(ops.sum(losses * known, axis=-1), ops.sum(known, axis=-1))

    def build_metrics(self):
        return [keras.metrics.BinaryAccuracy(name=self._metric_name("accuracy")),
                keras.metrics.AUC(curve="PR", multi_label=True, num_labels=self.num_labels,
                                  name=self._metric_name("pr_auc"))]

    def update_metrics(self, metrics, targets, outputs, weights):
        targets = ops.cast(targets, "float32")
        label_weights = ops.cast(targets >= 0, "float32") * ops.expand_dims(weights, -1)
        probabilities = ops.sigmoid(outputs["logits"])
        for metric in metrics:
            metric.update_state(ops.maximum(targets, 0.0), probabilities, sample_weight=label_weights)

    def decode(self, outputs, image_shape):
        probabilities = tf.sigmoid(outputs["logits"])
        return {"probabilities": probabilities, "labels": probabilities >= self.threshold}

    def describe_decoded(self):
        return {"probabilities": f"independent sigmoid probability of each of the {self.num_labels} labels",
                "labels": f"probability >= {self.threshold}"}

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels,
                "threshold": self.threshold, "label_names": self.label_names}
