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
        centers: (..., 2) integer grid positions (y, x), as floats.
        sigmas: (...) standard deviations in grid cells.
        grid: (height, width).

    Returns:
        (..., height, width) maps with value 1 at each centre.
    """
    ys = tf.range(grid[0], dtype=tf.float32)[:, None]
    xs = tf.range(grid[1], dtype=tf.float32)[None, :]
    dy = ys - centers[..., 0, None, None]
    dx = xs - centers[..., 1, None, None]
    variance = 2.0 * tf.square(sigmas)[..., None, None]
    return tf.exp(-(dy ** 2 + dx ** 2) / variance)


def peak_heatmaps(centers, sigmas, channels, num_channels, grid):
    """CenterNet heatmap targets: the maximum over instances of Gaussian peaks.

    Args:
        centers: (B, M, P, 2) float grid positions (y, x) of P points of each of M instances
            (rounded down to their cell).
        sigmas: (B, M, P) the Gaussians' standard deviations in grid cells.
        channels: (B, M, P) int: the heatmap channel of each point; -1 leaves a point out.
        num_channels: the heatmaps' channels C.
        grid: (height, width).

    Returns:
        (B, height, width, C) float32 heatmaps, 1 at each point's cell, 0 without points.

    Each point's Gaussian goes straight to its channel (a segment maximum), so
    memory holds one map per point, B * M * P maps, and never one per point and
    channel.

    Example:
    >>> maps = peak_heatmaps(tf.constant([[[[1.0, 2.0]], [[3.0, 0.0]]]]), tf.ones([1, 2, 1]),
    ...                      tf.constant([[[1], [-1]]]), 2, (4, 4))
    >>> maps.shape, float(maps[0, 1, 2, 1]), float(tf.reduce_max(maps[..., 0]))
    (TensorShape([1, 4, 4, 2]), 1.0, 0.0)
    """
    cells, _, _ = encode_centers(centers, grid)
    batch = tf.shape(centers)[0]
    # each point's channel among all the batch's: example b's channel c is b * C + c; -1 drops it
    targets = tf.where(channels >= 0, channels + num_channels * tf.range(batch)[:, None, None], -1)
    maps = render_gaussians(cells, sigmas, grid)  # (B, M, P, h, w)
    heatmaps = tf.math.unsorted_segment_max(tf.reshape(maps, [-1, grid[0], grid[1]]),
                                            tf.reshape(targets, [-1]), batch * num_channels)
    heatmaps = tf.maximum(heatmaps, 0.0)  # a channel without a point holds the float minimum
    return tf.transpose(tf.reshape(heatmaps, [batch, num_channels, grid[0], grid[1]]), [0, 2, 3, 1])


def keep_first(valid, max_count, *values):
    """Keeps the rows of each value where `valid`, then truncates or zero-pads to `max_count`,
    in each example of a batch.

    `valid` is (B, N) bool, each value (B, N, ...). Returns the kept values,
    (B, max_count, ...), followed by a (B, max_count) float weight that is 1
    for real rows and 0 for padding.

    Example:
    >>> rows, weights = keep_first(tf.constant([[False, True, True]]), 4, tf.constant([[1, 2, 3]]))
    >>> rows.numpy().tolist(), weights.numpy().tolist()
    ([[2, 3, 0, 0]], [[1.0, 1.0, 0.0, 0.0]])
    """
    order = tf.argsort(tf.cast(tf.logical_not(valid), tf.int32), axis=-1, stable=True)[:, :max_count]
    kept = tf.gather(valid, order, batch_dims=1)
    padding = max_count - tf.shape(order)[1]
    padded = []
    for value in values:
        rows = tf.gather(value, order, batch_dims=1)
        trailing = len(value.shape) - 2
        rows = tf.where(kept[(Ellipsis,) + (None,) * trailing], rows, tf.zeros_like(rows))
        # a static size, so encoded targets have fully known shapes in tf.data
        padded.append(tf.ensure_shape(tf.pad(rows, [[0, 0], [0, padding]] + [[0, 0]] * trailing),
                                      [None, max_count, *value.shape[2:]]))
    weights = tf.ensure_shape(tf.pad(tf.cast(kept, tf.float32), [[0, 0], [0, padding]]), [None, max_count])
    return (*padded, weights)


def encode_centers(centers, grid):
    """Integer cell, flat index and sub-cell offset of continuous grid positions.

    Args:
        centers: (..., 2) float (y, x) positions in grid units.
        grid: (height, width).

    Returns:
        cells (..., 2) float integer positions, indices (...) int32 flat
        positions y * width + x, offsets (..., 2) = centers - cells.
    """
    limits = tf.constant([grid[0] - 1, grid[1] - 1], tf.float32)
    cells = tf.clip_by_value(tf.floor(centers), 0.0, limits)
    indices = tf.cast(cells[..., 0] * grid[1] + cells[..., 1], tf.int32)
    return cells, indices, centers - cells


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
