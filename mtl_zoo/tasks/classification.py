"""Image classification: one softmax over classes."""

import keras
import tensorflow as tf
from keras import layers, ops

from mtl_zoo.checks import check_integer
from mtl_zoo.tasks.base import (Task, check_rank, checked_class_ids, checked_size, labelled_values_check,
                                one_example_message, static_rank, whole_numbers)
from mtl_zoo.tasks.heads import pooled_trunk_features


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Classification(Task):
    """Single-label image classification with a softmax head.

    Head: global average pooling of the stride-32 backbone features and a
    dense layer. Loss: categorical cross-entropy with optional label smoothing
    (Szegedy et al. 2016). Metrics: accuracy and top-k accuracy.

    Labels: one integer class id per image. Decoded: class probabilities and
    the top-k classes with their scores.

    Args:
        name: task name.
        num_classes: number of classes (>= 2).
        label_smoothing: in [0, 1).
        top_k: k of the top-k metric and decoded top-k (capped at num_classes).
        class_names: optional list of num_classes names, kept for decoding.

    Example:
    >>> task = Classification("action", num_classes=4, label_smoothing=0.1)
    >>> int(task.encode(3, (64, 64, 3)))
    3
    """

    kind = "classification"
    example_label_ranks = {None: (0, 1)}

    def __init__(self, name, num_classes, label_smoothing=0.0, top_k=5, class_names=None):
        super().__init__(name)
        if num_classes == 1 and not isinstance(num_classes, bool):
            raise ValueError(f"Task {name!r}: num_classes must be >= 2: a softmax over one class always "
                             "predicts it, with a loss of 0. For a yes/no task use num_classes=2, or "
                             "MultiLabel(name, num_labels=1).")
        num_classes = check_integer(num_classes, "num_classes", minimum=2, owner=f"Task {name!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"Task {name!r}: label_smoothing must be in [0, 1), got {label_smoothing}.")
        if class_names is not None and len(class_names) != int(num_classes):
            raise ValueError(
                f"Task {name!r}: {len(class_names)} class_names for num_classes={num_classes}.")
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self.top_k = max(1, min(int(top_k), self.num_classes))
        self.class_names = list(class_names) if class_names is not None else None

    output_keys = ("logits",)

    def build_head(self, features):
        pooled = pooled_trunk_features(features, self.name)
        logits = layers.Dense(self.num_classes, dtype="float32", name=self.output_name("logits"))(pooled)
        return {self.output_name("logits"): logits}

    def encode(self, labels, image_shape):
        labels = checked_size(labels, 1, one_example_message(f"Task {self.name!r}: a raw label is one class id"))
        label = tf.reshape(tf.cast(checked_class_ids(labels, self), tf.int32), [])
        checks = [tf.debugging.assert_less(label, self.num_classes,
                                           f"Task {self.name!r}: class id >= num_classes={self.num_classes}"),
                  tf.debugging.assert_non_negative(label, f"Task {self.name!r}: negative class id")]
        with tf.control_dependencies(checks):
            return tf.identity(label)

    def validate_targets(self, targets):
        targets = ops.convert_to_tensor(targets) if not hasattr(targets, "shape") else targets
        check_rank(targets, (1, 2), self, "labels", "Pass one integer class id per image.")
        if static_rank(targets) == 2 and targets.shape[-1] not in (None, 1):
            raise ValueError(
                f"Task {self.name!r}: labels have shape {tuple(targets.shape)}, which looks "
                "one-hot; pass integer class ids (e.g. argmax over the last axis).")

    def target_checks(self, targets, mask):
        return [labelled_values_check(
            self, targets, mask, lambda ids: (ids >= 0) & (ids < self.num_classes) & whole_numbers(ids),
            f"class ids must lie in [0, {self.num_classes}) as whole numbers (or be masked out); fix "
            "the labels or num_classes.")]

    def _flat_labels(self, targets):
        return ops.reshape(ops.cast(targets, "int32"), (-1,))

    def per_example_loss(self, targets, outputs):
        one_hot = ops.one_hot(self._flat_labels(targets), self.num_classes)
        return keras.losses.categorical_crossentropy(
            one_hot, outputs["logits"], from_logits=True, label_smoothing=self.label_smoothing)

    def build_metrics(self):
        metrics = [keras.metrics.SparseCategoricalAccuracy(name=self._metric_name("accuracy"))]
        if self.top_k < self.num_classes and self.top_k > 1:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(
                k=self.top_k, name=self._metric_name(f"top{self.top_k}_accuracy")))
        return metrics

    def update_metrics(self, metrics, targets, outputs, weights):
        for metric in metrics:
            metric.update_state(self._flat_labels(targets), outputs["logits"], sample_weight=weights)

    def decode(self, outputs, image_shape):
        probabilities = tf.nn.softmax(outputs["logits"], axis=-1)
        top_scores, top_classes = tf.math.top_k(probabilities, k=self.top_k)
        return {"probabilities": probabilities, "top_k_classes": top_classes,
                "top_k_scores": top_scores}

    def describe_decoded(self):
        return {"probabilities": f"softmax over the {self.num_classes} classes",
                "top_k_classes": f"the {self.top_k} most probable class ids, best first",
                "top_k_scores": "their probabilities"}

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing, "top_k": self.top_k,
                "class_names": self.class_names}
