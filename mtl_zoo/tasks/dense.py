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
    """An (H, W) or (H, W, 1) map resized (nearest) to the input's (H, W, 1).

    The pixels `tf.image.resize(..., method="nearest")` picks (half-pixel
    centres), gathered, so that `tf.vectorized_map` batches it.

    Example:
    >>> resize_label_map([[1, 2], [3, 4]], (4, 4), tf.int32)[..., 0].numpy().tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    """
    label_map = tf.convert_to_tensor(label_map)
    if label_map.shape.rank == 2:
        label_map = label_map[..., None]
    for axis, size in enumerate(image_shape[:2]):
        source = tf.shape(label_map)[axis]
        scale = tf.cast(source, tf.float32) / float(size)
        centres = (tf.range(size, dtype=tf.float32) + 0.5) * scale
        label_map = tf.gather(label_map, tf.minimum(tf.cast(tf.floor(centres), tf.int32), source - 1),
                              axis=axis)
    return tf.cast(label_map, dtype)
