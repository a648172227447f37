"""Shared pieces of the per-pixel tasks (segmentation, depth)."""

import tensorflow as tf

from mtl_zoo.backbones.backbone import level_stride
from mtl_zoo.tasks.base import one_example_message
from mtl_zoo.tasks.heads import conv_tower, prediction_conv, upsample_to_input


def per_pixel_head(task, features, units, key, level):
    """Conv tower on the pyramid at `level`, 1x1 prediction, upsampled to the input."""
    x = conv_tower(features.pyramid[level], task.head_channels, 1, task.name, task.head_conv)
    x = prediction_conv(x, units, f"{task.name}_{key}_lowres")
    return upsample_to_input(x, level_stride(level), task.output_name(key))


def resize_label_map(label_map, image_shape, dtype, what="label maps"):
    """An (H, W) or (H, W, 1) map resized (nearest) to the input's (H, W, 1).

    The pixels `tf.image.resize(..., method="nearest")` picks (half-pixel
    centres), gathered, so that `tf.vectorized_map` batches it. Any other shape
    (a batch of maps, several channels) is refused with a ValueError that begins
    with `what`.

    Example:
    >>> resize_label_map([[1, 2], [3, 4]], (4, 4), tf.int32)[..., 0].numpy().tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    """
    label_map = tf.convert_to_tensor(label_map)
    shape, message = label_map.shape, one_example_message(f"{what} must be (H, W) or (H, W, 1)")
    if shape.rank is not None and (shape.rank not in (2, 3) or shape[2:] not in ([], [1], [None])):
        raise ValueError(f"{message}; got shape {tuple(shape)}.")
    if shape.rank == 2:
        label_map = label_map[..., None]
    elif not shape[2:].is_fully_defined():  # known when the example is read
        check = tf.debugging.assert_equal(tf.shape(label_map)[2:], [1], message=message)
        with tf.control_dependencies([check]):
            label_map = tf.identity(label_map)
    for axis, size in enumerate(image_shape[:2]):
        source = tf.shape(label_map)[axis]
        scale = tf.cast(source, tf.float32) / float(size)
        centres = (tf.range(size, dtype=tf.float32) + 0.5) * scale
        label_map = tf.gather(label_map, tf.minimum(tf.cast(tf.floor(centres), tf.int32), source - 1),
                              axis=axis)
    return tf.cast(label_map, dtype)
