"""Semantic segmentation: one class per pixel."""

import keras
import tensorflow as tf
from keras import ops

from mtl_zoo.backbones.backbone import level_stride
from mtl_zoo.tasks.base import (Task, check_last_dim, check_rank, checked_class_ids, labelled_values_check,
                                sized_like_output, static_rank)
from mtl_zoo.tasks.dense import per_pixel_head, resize_label_map
from mtl_zoo.tasks.heads import checked_head_channels, checked_head_conv


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Segmentation(Task):
    """Per-pixel classes.

    Head: a conv on the shared pyramid at `level` (stride 4 by default), a
    1x1 conv to class logits, bilinear upsampling to the input size. Loss:
    cross-entropy averaged over labelled pixels (label `ignore_label` is not
    labelled). Metrics: pixel accuracy and mean IoU.

    Labels: an (H, W) or (H, W, 1) integer mask of any size (resized to the
    model input with nearest neighbour). Decoded: `probabilities` (B, H, W, C)
    and `classes` (B, H, W) at the model input size.

    Args:
        name: task name.
        num_classes: number of classes (>= 1; include the background).
        ignore_label: label value that gets no loss (e.g. 255 for VOC borders);
            not one of the class ids 0..num_classes-1.
        level: pyramid level the head reads.
        head_channels: width of the head conv.
        head_conv: the head's 3x3 conv: "standard", or "separable" (depthwise +
            pointwise, about 8x fewer multiply-adds; the light heads for mobile backbones).
        class_names: optional list of num_classes names.

    Example:
    >>> task = Segmentation("parts", num_classes=3)
    >>> task.encode(tf.zeros((32, 32), tf.uint8), (64, 64, 3)).shape
    TensorShape([64, 64])
    """

    kind = "segmentation"
    example_label_ranks = {None: (2, 3)}
    raw_label_is_map = True
    uses_pyramid = True
    output_keys = ("logits",)

    def __init__(self, name, num_classes, ignore_label=255, level="P2", head_channels=64,
                 head_conv="standard", class_names=None):
        super().__init__(name)
        if int(num_classes) < 1:
            raise ValueError(f"Task {name!r}: num_classes must be >= 1, got {num_classes}.")
        if class_names is not None and len(class_names) != int(num_classes):
            raise ValueError(f"Task {name!r}: {len(class_names)} class_names for num_classes={num_classes}.")
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        if 0 <= self.ignore_label < self.num_classes:
            raise ValueError(
                f"Task {name!r}: ignore_label={ignore_label} is also a class id (0..{self.num_classes - 1}): "
                "its pixels would get no loss, yet the head would still predict it and mean IoU "
                "score it as a class. Map the dataset's void label to a value outside the classes "
                "(e.g. 255, the default) and number the classes from 0.")
        self.level = level
        level_stride(level)
        self.head_channels = checked_head_channels(name, head_channels)
        self.head_conv = checked_head_conv(name, head_conv)
        self.class_names = list(class_names) if class_names is not None else None

    def build_head(self, features):
        logits = per_pixel_head(self, features, self.num_classes, "logits", self.level)
        return {self.output_name("logits"): logits}

    def transform_label(self, label, transform):
        """The mask is resampled with the image (nearest); uncovered pixels get `ignore_label`."""
        return transform.resample_map(label, self.ignore_label)

    def label_padding(self, label_spec):
        """Raw masks pad with `ignore_label`."""
        return tf.constant(self.ignore_label, label_spec.dtype)

    def encode(self, labels, image_shape):
        labels = checked_class_ids(labels, self, "pixel class ids")
        return resize_label_map(labels, image_shape, tf.int32, f"Task {self.name!r}: masks")[..., 0]

    def validate_targets(self, targets):
        check_rank(targets, (3, 4), self, "masks", "Pass (batch, H, W) integer masks.")
        if static_rank(targets) == 4:
            check_last_dim(targets, 1, self, "masks", "Pass one class id per pixel.")

    def target_checks(self, targets, mask):
        return [labelled_values_check(
            self, targets, mask,
            lambda ids: ((ids >= 0) & (ids < self.num_classes)) | (ids == self.ignore_label),
            f"pixel class ids must lie in [0, {self.num_classes}) or be the ignore_label "
            f"{self.ignore_label}; fix the masks or num_classes.")]

    def _labels_and_weights(self, targets, logits):
        labels = ops.cast(targets, "int32")
        if labels.shape.rank != 3:  # (B, H, W, 1), or of unknown rank after targets of both ranks
            labels = ops.reshape(labels, ops.shape(logits)[:3])
        labelled = labels != self.ignore_label
        return ops.where(labelled, labels, 0), ops.cast(labelled, "float32")

    def per_example_loss(self, targets, outputs):
        targets = sized_like_output(targets, outputs["logits"], self, "masks")
        labels, labelled = self._labels_and_weights(targets, outputs["logits"])
        pixel_losses = keras.losses.sparse_categorical_crossentropy(
            labels, outputs["logits"], from_logits=True)
        return ops.divide_no_nan(ops.sum(pixel_losses * labelled, axis=(1, 2)),
                                 ops.sum(labelled, axis=(1, 2)))

    def build_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name=self._metric_name("pixel_accuracy")),
                keras.metrics.MeanIoU(self.num_classes, name=self._metric_name("mean_iou"),
                                      dtype="float32")]

    def update_metrics(self, metrics, targets, outputs, weights):
        labels, labelled = self._labels_and_weights(targets, outputs["logits"])
        pixel_weights = labelled * ops.reshape(weights, (-1, 1, 1))
        accuracy, mean_iou = metrics
        accuracy.update_state(labels, outputs["logits"], sample_weight=pixel_weights)
        mean_iou.update_state(labels, ops.argmax(outputs["logits"], axis=-1), sample_weight=pixel_weights)

    def decode(self, outputs, image_shape):
        probabilities = tf.nn.softmax(tf.cast(outputs["logits"], tf.float32), axis=-1)
        return {"probabilities": probabilities,
                "classes": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}

    def decoded_to_image_pixels(self, decoded, mapping):
        probabilities = mapping.resize_maps(decoded["probabilities"])
        return {"probabilities": probabilities,
                "classes": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}

    def describe_decoded(self):
        return {"probabilities": f"per-pixel softmax over the {self.num_classes} classes, at the "
                                 "input image size",
                "classes": "per-pixel most probable class id, at the input image size"}

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "ignore_label": self.ignore_label, "level": self.level,
                "head_channels": self.head_channels,
                "head_conv": self.head_conv, "class_names": self.class_names}
