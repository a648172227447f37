"""Shared pieces of the per-pixel tasks (segmentation, depth)."""

import tensorflow as tf

from mtl_zoo.backbones.backbone import level_stride
from mtl_zoo.tasks.heads import conv_tower, prediction_conv, upsample_to_input


def per_pixel_head(task, features, units, key, level):
    """Conv tower on the pyramid at `level`, 1x1 prediction, upsampled to the input."""
    x = conv_tower(features.pyramid[level], task.head_channels, 1, task.name, task.head_conv)
    x = prediction_conv(x, units, f"{task.name}_{key}_lowres")
    return upsample_to_input(x, level_stride(level), task.output_name(key))


def resize_label_map(label_map, image_shape, dtype):
    """An (H, W) or (H, W, 1) map resized (nearest) to the input's (H, W, 1)."""
    label_map = tf.convert_to_tensor(label_map)
    if label_map.shape.rank == 2:
        label_map = label_map[..., None]
    resized = tf.image.resize(label_map, image_shape[:2], method="nearest")
    return tf.cast(resized, dtype)
