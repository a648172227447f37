"""Centre-heatmap machinery shared by the detection and keypoint tasks.

CenterNet ("Objects as Points", Zhou, Wang & Krähenbühl 2019) represents each
object by a Gaussian peak at its centre on a low-resolution heatmap, plus
regressed quantities read out at the peak. Gaussian radii follow CornerNet
(Law & Deng 2018).
"""

import keras
import tensorflow as tf
from keras import ops


def grid_shape(image_shape, stride):
    """(height, width) of the output grid at `stride` for an input of `image_shape`."""
    return int(image_shape[0]) // stride, int(image_shape[1]) // stride


def gaussian_radius(height, width, min_overlap=0.7):
    """CornerNet radius: how far a corner may move keeping IoU >= min_overlap.

    `height` and `width` are object sizes in grid cells (tensors of any shape).
    """
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = height * width
    b1 = height + width
    r1 = (b1 + tf.sqrt(tf.maximum(b1 ** 2 - 4 * area * (1 - min_overlap) / (1 + min_overlap), 0.0))) / 2
    b2 = 2 * (height + width)
    r2 = (b2 + tf.sqrt(tf.maximum(b2 ** 2 - 16 * (1 - min_overlap) * area, 0.0))) / 2
    b3 = -2 * min_overlap * (height + width)
    r3 = (b3 + tf.sqrt(tf.maximum(b3 ** 2 - 16 * min_overlap * (min_overlap - 1) * area, 0.0))) / 2
    return tf.minimum(tf.minimum(r1, r2), r3)


def gaussian_sigma(height, width):
    """The Gaussian standard deviation of an object of (height, width) grid cells."""
    radius = tf.maximum(tf.floor(gaussian_radius(height, width)), 0.0)
    return (2.0 * radius + 1.0) / 6.0


def render_gaussians(centers, sigmas, grid):
    """One unnormalised Gaussian map per point.

    Args:
        centers: (M, 2) integer grid positions (y, x), as floats.
        sigmas: (M,) standard deviations in grid cells.
        grid: (height, width).

    Returns:
        (M, height, width) maps with value 1 at each centre.
    """
    ys = tf.range(grid[0], dtype=tf.float32)[None, :, None]
    xs = tf.range(grid[1], dtype=tf.float32)[None, None, :]
    dy = ys - centers[:, 0, None, None]
    dx = xs - centers[:, 1, None, None]
    variance = 2.0 * tf.square(sigmas)[:, None, None]
    return tf.exp(-(dy ** 2 + dx ** 2) / variance)


def max_over_instances(maps):
    """The max of (M, ...) per-instance maps over M; zeros when M is 0 (no instance)."""
    zeros = tf.zeros(tf.concat([[1], tf.shape(maps)[1:]], axis=0), maps.dtype)
    return tf.reduce_max(tf.concat([zeros, maps], axis=0), axis=0)


def keep_first(valid, max_count, *values):
    """Keeps the rows of each value where `valid`, then truncates or zero-pads to `max_count`.

    Returns the kept values followed by a (max_count,) float weight that is 1
    for real rows and 0 for padding. Written with fixed-shape ops (a stable
    sort puts the valid rows first), so that `tf.vectorized_map` runs it on a
    batch at once.

    Example:
    >>> rows, weights = keep_first(tf.constant([False, True, True]), 4, tf.constant([1, 2, 3]))
    >>> rows.numpy().tolist(), weights.numpy().tolist()
    ([2, 3, 0, 0], [1.0, 1.0, 0.0, 0.0])
    """
    order = tf.argsort(tf.cast(tf.logical_not(valid), tf.int32), stable=True)[:max_count]
    kept = tf.gather(valid, order)
    padding = max_count - tf.shape(order)[0]
    padded = []
    for value in values:
        rows = tf.gather(value, order)
        rows = tf.where(tf.reshape(kept, [-1] + [1] * (len(value.shape) - 1)), rows, tf.zeros_like(rows))
        # a static leading size, so encoded targets have fully known shapes in tf.data
        padded.append(tf.ensure_shape(tf.pad(rows, [[0, padding]] + [[0, 0]] * (len(value.shape) - 1)),
                                      [max_count, *value.shape[1:]]))
    weights = tf.ensure_shape(tf.pad(tf.cast(kept, tf.float32), [[0, padding]]), [max_count])
    return (*padded, weights)


def encode_centers(centers, grid):
    """Integer cell, flat index and sub-cell offset of continuous grid positions.

    Args:
        centers: (M, 2) float (y, x) positions in grid units.
        grid: (height, width).

    Returns:
        cells (M, 2) float integer positions, indices (M,) int32 flat
        positions y * width + x, offsets (M, 2) = centers - cells.
    """
    limits = tf.constant([grid[0] - 1, grid[1] - 1], tf.float32)
    cells = tf.clip_by_value(tf.floor(centers), 0.0, limits)
    indices = tf.cast(cells[:, 0] * grid[1] + cells[:, 1], tf.int32)
    return cells, indices, centers - cells


def scatter_classes(gaussians, classes, num_classes):
    """(M, h, w) Gaussians and (M,) class ids to an (h, w, num_classes) heatmap (max over M;
    a class id outside [0, num_classes) adds nothing)."""
    one_hot = tf.one_hot(classes, num_classes, dtype=tf.float32)
    return max_over_instances(gaussians[..., None] * one_hot[:, None, None, :])


@keras.saving.register_keras_serializable(package="mtl_zoo")
class HeatmapFocalLoss(keras.losses.Loss):
    """Penalty-reduced pixel-wise focal loss on centre heatmaps (Zhou et al. 2019, eq. 1).

    `y_true` holds Gaussian targets in [0, 1] (1 exactly at object centres),
    `y_pred` the heatmap logits. Each example's loss is normalised by its
    number of centres.

    Args:
        alpha: focusing exponent on the prediction (paper: 2).
        beta: exponent of the penalty reduction around centres (paper: 4).

    Example:
    >>> loss = HeatmapFocalLoss(reduction=None)
    >>> tuple(loss(keras.ops.ones((1, 4, 4, 1)), keras.ops.full((1, 4, 4, 1), 9.0)).shape)
    (1,)
    """

    def __init__(self, alpha=2.0, beta=4.0, name="heatmap_focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = alpha
        self.beta = beta

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        logits = ops.cast(y_pred, "float32")
        probability = ops.sigmoid(logits)
        positive = ops.cast(y_true >= 1.0 - 1e-4, "float32")
        positive_term = ops.log_sigmoid(logits) * (1.0 - probability) ** self.alpha * positive
        negative_term = (ops.log_sigmoid(-logits) * probability ** self.alpha
                         * (1.0 - y_true) ** self.beta * (1.0 - positive))
        axes = tuple(range(1, len(y_true.shape)))
        total = -ops.sum(positive_term + negative_term, axis=axes)
        return total / ops.maximum(ops.sum(positive, axis=axes), 1.0)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


def gather_at(feature_map, indices):
    """Reads (B, h, w, C) `feature_map` at flat positions (B, M) -> (B, M, C)."""
    shape = ops.shape(feature_map)
    flat = ops.reshape(feature_map, (shape[0], shape[1] * shape[2], shape[3]))
    return ops.take_along_axis(flat, ops.expand_dims(ops.cast(indices, "int32"), -1), axis=1)


def masked_l1(prediction, target, weights):
    """Per-example L1 over the entries where `weights` is 1: the absolute error summed
    over the last axis, averaged over the weighted entries.

    `weights` broadcasts against `prediction` without its last axis.
    """
    weights = ops.cast(weights, "float32")
    error = ops.sum(ops.abs(ops.cast(prediction, "float32") - ops.cast(target, "float32")), axis=-1)
    axes = tuple(range(1, len(error.shape)))
    return ops.divide_no_nan(ops.sum(error * weights, axis=axes), ops.sum(weights, axis=axes))


def find_peaks(heatmap_logits, max_peaks):
    """Top local maxima of a sigmoid heatmap (3x3 max-pool suppression).

    Args:
        heatmap_logits: (B, h, w, C) logits.
        max_peaks: how many peaks to return per image.

    Returns:
        scores (B, k), y (B, k), x (B, k), classes (B, k), flat cell indices (B, k);
        k = min(max_peaks, h * w * C).
    """
    heat = tf.sigmoid(tf.cast(heatmap_logits, tf.float32))
    pooled = tf.nn.max_pool2d(heat, ksize=3, strides=1, padding="SAME")
    peaks = tf.where(tf.equal(pooled, heat), heat, tf.zeros_like(heat))
    shape = tf.shape(peaks)
    num_classes = heatmap_logits.shape[-1]
    flat = tf.reshape(peaks, [shape[0], -1])
    k = min(int(max_peaks), int(heatmap_logits.shape[1] * heatmap_logits.shape[2] * num_classes))
    scores, positions = tf.math.top_k(flat, k=k)
    classes = positions % num_classes
    cells = positions // num_classes
    return scores, cells // shape[2], cells % shape[2], classes, cells
