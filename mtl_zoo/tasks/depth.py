"""Monocular depth: one positive value per pixel."""

import keras
import tensorflow as tf
from keras import layers, ops

from mtl_zoo.backbones.backbone import level_stride
from mtl_zoo.tasks.base import (Task, check_last_dim, check_rank, labelled_values_check, sized_like_output,
                                static_rank)
from mtl_zoo.tasks.dense import per_pixel_head, resize_label_map
from mtl_zoo.tasks.heads import checked_head_channels, checked_head_conv

LOSSES = ("l1", "silog")


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Depth(Task):
    """Per-pixel depth regression.

    Head: a conv on the shared pyramid at `level`, a 1x1 conv, bilinear
    upsampling to the input size and a softplus, so depth is positive.
    Losses over the pixels with depth > 0: `"l1"`, or `"silog"`, the
    scale-invariant log loss of Eigen, Puhrsch & Fergus 2014 (lambda = 0.5).
    Metrics: MAE, RMSE and absolute relative error.

    Labels: an (H, W) or (H, W, 1) depth map of any size (resized to the
    model input with nearest neighbour); 0, NaN and inf mark pixels without depth,
    and a negative depth is an error (in the train and test steps).
    Decoded: `depth` (B, H, W) at the model input size.

    Args:
        name: task name.
        loss: "l1" or "silog".
        level: pyramid level the head reads.
        head_channels: width of the head conv.
        head_conv: the head's 3x3 conv: "standard", or "separable" (depthwise +
            pointwise, about 8x fewer multiply-adds; the light heads for mobile backbones).

    Example:
    >>> task = Depth("depth", loss="silog")
    >>> task.encode(tf.ones((48, 48)), (64, 64, 3)).shape
    TensorShape([64, 64, 1])
    """

    kind = "depth"
    example_label_ranks = {None: (2, 3)}
    raw_label_is_map = True
    uses_pyramid = True
    output_keys = ("depth",)
    silog_lambda = 0.5

    def __init__(self, name, loss="l1", level="P2", head_channels=64, head_conv="standard"):
        super().__init__(name)
        if loss not in LOSSES:
            raise ValueError(f"Task {name!r}: unknown depth loss {loss!r}; use one of {LOSSES}.")
        self.loss = loss
        self.level = level
        level_stride(level)
        self.head_channels = checked_head_channels(name, head_channels)
        self.head_conv = checked_head_conv(name, head_conv)

    def build_head(self, features):
        x = per_pixel_head(self, features, 1, "depth_raw", self.level)
        depth = layers.Activation("softplus", dtype="float32", name=self.output_name("depth"))(x)
        return {self.output_name("depth"): depth}

    def transform_label(self, label, transform):
        """The depth map is resampled with the image (nearest); uncovered pixels get 0 = missing."""
        return transform.resample_map(label, 0)

    def encode(self, labels, image_shape):
        return resize_label_map(labels, image_shape, tf.float32, f"Task {self.name!r}: depth maps")

    def validate_targets(self, targets):
        check_rank(targets, (3, 4), self, "depth maps", "Pass (batch, H, W) or (batch, H, W, 1) depth.")
        if static_rank(targets) == 4:
            check_last_dim(targets, 1, self, "depth maps", "Pass one depth per pixel.")

    def target_checks(self, targets, mask):
        return [labelled_values_check(
            self, tf.cast(targets, tf.float32), mask, lambda depth: ~(depth < 0.0),  # NaN, inf: missing
            "depths must be >= 0 (0, NaN or inf: missing); a negative value is no depth: fix the maps.")]

    def _as_maps(self, targets, outputs):
        depth = ops.cast(sized_like_output(targets, outputs["depth"], self, "depth maps"), "float32")
        depth = ops.where(ops.isfinite(depth), depth, 0.0)  # NaN or inf: missing, like 0
        if depth.shape.rank != 4:  # (B, H, W), or of unknown rank after targets of both ranks
            depth = ops.reshape(depth, ops.shape(outputs["depth"]))
        return depth, ops.cast(outputs["depth"], "float32"), ops.cast(depth > 0, "float32")

    def per_example_loss(self, targets, outputs):
        depth, predicted, valid = self._as_maps(targets, outputs)
        count = ops.sum(valid, axis=(1, 2, 3))
        if self.loss == "l1":
            return ops.divide_no_nan(ops.sum(ops.abs(predicted - depth) * valid, axis=(1, 2, 3)), count)
        log_difference = (ops.log(predicted + 1e-6) - ops.log(ops.maximum(depth, 1e-6))) * valid
        mean_square = ops.divide_no_nan(ops.sum(log_difference ** 2, axis=(1, 2, 3)), count)
        mean = ops.divide_no_nan(ops.sum(log_difference, axis=(1, 2, 3)), count)
        return mean_square - self.silog_lambda * mean ** 2

    def build_metrics(self):
        return [keras.metrics.MeanAbsoluteError(name=self._metric_name("mae")),
                keras.metrics.RootMeanSquaredError(name=self._metric_name("rmse")),
                keras.metrics.Mean(name=self._metric_name("abs_rel"))]

    def update_metrics(self, metrics, targets, outputs, weights):
        depth, predicted, valid = self._as_maps(targets, outputs)
        pixel_weights = valid * ops.reshape(weights, (-1, 1, 1, 1))
        mae, rmse, abs_rel = metrics
        mae.update_state(depth, predicted, sample_weight=pixel_weights[..., 0])
        rmse.update_state(depth, predicted, sample_weight=pixel_weights)
        relative = ops.divide_no_nan(ops.abs(predicted - depth), depth)
        abs_rel.update_state(relative, sample_weight=pixel_weights)

    def decode(self, outputs, image_shape):
        return {"depth": tf.cast(outputs["depth"], tf.float32)[..., 0]}

    def decoded_to_image_pixels(self, decoded, mapping):
        return {"depth": mapping.resize_maps(decoded["depth"][..., None])[..., 0]}

    def describe_decoded(self):
        return {"depth": "per-pixel depth (> 0, the training labels' unit), at the input image size"}

    def get_config(self):
        return {**super().get_config(), "loss": self.loss, "level": self.level,
                "head_channels": self.head_channels,
                "head_conv": self.head_conv}
