"""`GeometricTransform`: the axis-aligned map that resizes, letterboxes, crops and flips images.

Every geometric step of the input pipeline (resize or letterbox to the model
input, random scale and crop, horizontal flip) is an axis-aligned affine map
of normalised image coordinates, so their composition is one such map and an
image is resampled once. Raw labels follow through each task kind's
`Task.transform_label(label, transform)` hook, which uses the primitives here
(points, boxes, label maps).
"""

import tensorflow as tf

from mtl_zoo.naming import unknown_name_error
from mtl_zoo.tasks.flipping import flip_permutation

RESIZE_MODES = ("stretch", "letterbox")


def check_resize_mode(mode):
    """`mode` if it is one of `RESIZE_MODES`, else a ValueError naming the valid ones.

    Example:
    >>> check_resize_mode("letterbox")
    'letterbox'
    """
    if mode not in RESIZE_MODES:
        raise unknown_name_error("resize mode", mode, RESIZE_MODES)
    return mode


class GeometricTransform:
    """`output = source * scale + offset` in normalised (y, x) coordinates, per axis.

    A negative x scale mirrors the image horizontally. The output image has
    `output_size` pixels; source content mapped outside [0, 1] is cut off, and
    output pixels with no source content (letterbox bands, zoomed-out crops)
    get a fill value.

    Args:
        scale: (2,) float (y, x) factors.
        offset: (2,) float (y, x) offsets, in output-normalised units.
        output_size: (height, width) of the output in pixels (Python ints).
        min_box_visibility: a box keeps its label when at least this fraction
            of its area stays inside the output (`map_boxes`).

    Example:
    >>> t = GeometricTransform.resize((100, 200), (64, 64), "letterbox")
    >>> t.map_boxes([[0.0, 0.0, 1.0, 1.0]])[0].numpy().tolist()
    [[0.25, 0.0, 0.75, 1.0]]
    """

    def __init__(self, scale, offset, output_size, min_box_visibility=0.25):
        self.scale = tf.cast(tf.reshape(scale, [2]), tf.float32)
        self.offset = tf.cast(tf.reshape(offset, [2]), tf.float32)
        self.output_size = tuple(int(s) for s in output_size)
        self.min_box_visibility = float(min_box_visibility)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def resize(cls, source_size, output_size, mode="stretch", min_box_visibility=0.25):
        """Source image of `source_size` (h, w) pixels to `output_size`.

        `"stretch"` fills the output (aspect ratio not kept); `"letterbox"`
        scales by the smaller ratio, keeping the aspect ratio, and centres the
        image between fill bands.
        """
        if check_resize_mode(mode) == "stretch":
            return cls(tf.ones([2]), tf.zeros([2]), output_size, min_box_visibility)
        source = tf.cast(tf.reshape(source_size, [2]), tf.float32)
        output = tf.constant(output_size, tf.float32)
        ratio = tf.reduce_min(output / source)
        scale = source * ratio / output
        return cls(scale, (1.0 - scale) / 2.0, output_size, min_box_visibility)

    @classmethod
    def window(cls, top_left, size, output_size, min_box_visibility=0.25):
        """The window of normalised `size` (h, w) at `top_left` (y, x) becomes the whole output."""
        size = tf.cast(tf.reshape(size, [2]), tf.float32)
        return cls(1.0 / size, -tf.cast(tf.reshape(top_left, [2]), tf.float32) / size,
                   output_size, min_box_visibility)

    def then(self, other):
        """This transform followed by `other` (whose output size and box rule are kept)."""
        return GeometricTransform(self.scale * other.scale, self.offset * other.scale + other.offset,
                                  other.output_size, other.min_box_visibility)

    def mirrored(self, flip=True):
        """This transform followed by a horizontal flip of the output when `flip` (bool tensor)."""
        sign = tf.where(flip, -1.0, 1.0)
        return GeometricTransform(self.scale * [1.0, sign],
                                  tf.stack([self.offset[0], tf.where(flip, 1.0 - self.offset[1],
                                                                     self.offset[1])]),
                                  self.output_size, self.min_box_visibility)

    @property
    def flipped(self):
        """A bool tensor: whether the transform mirrors left and right."""
        return self.scale[1] < 0

    @property
    def shows_whole_source(self):
        """A bool tensor: whether all of the source image lands inside the output (no crop).

        Example:
        >>> bool(GeometricTransform.window([0.1, 0.0], [0.8, 1.0], (32, 32)).shows_whole_source)
        False
        >>> bool(GeometricTransform.window([-0.1, -0.1], [1.2, 1.2], (32, 32)).shows_whole_source)
        True
        """
        ends = tf.stack([self.offset, self.offset + self.scale])  # where source 0 and 1 land
        tolerance = 1e-5
        return tf.reduce_all((tf.reduce_min(ends, axis=0) >= -tolerance)
                             & (tf.reduce_max(ends, axis=0) <= 1.0 + tolerance))

    # -- labels -------------------------------------------------------------------------------
    def map_yx(self, points):
        """Normalised (..., 2) (y, x) points to output-normalised coordinates."""
        return tf.cast(points, tf.float32) * self.scale + self.offset

    def map_boxes(self, boxes):
        """Maps (N, 4) normalised [ymin, xmin, ymax, xmax] boxes and clips them to the output.

        Returns the clipped boxes and an (N,) bool `keep`: False for boxes with
        less than `min_box_visibility` of their area left inside the output
        (outside it, or cut to a sliver) and for empty boxes.
        """
        clipped, inside_area, mapped_area = self._clipped_box_areas(boxes)
        return clipped, tf.math.divide_no_nan(inside_area, mapped_area) >= max(self.min_box_visibility, 1e-6)

    def _clipped_box_areas(self, boxes):
        """The mapped (N, 4) boxes clipped to the output, the (N,) areas of the clipped boxes
        and those of the mapped boxes before clipping."""
        boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 4])
        corners = self.map_yx(tf.reshape(boxes, [-1, 2, 2]))
        mapped = tf.concat([tf.reduce_min(corners, axis=1), tf.reduce_max(corners, axis=1)], axis=-1)
        clipped = tf.clip_by_value(mapped, 0.0, 1.0)

        def area(b):
            return tf.maximum(b[:, 2] - b[:, 0], 0.0) * tf.maximum(b[:, 3] - b[:, 1], 0.0)

        return clipped, area(clipped), area(mapped)

    def map_areas(self, areas, boxes=None):
        """Maps (N,) instance areas (segment areas as fractions of the image's area).

        An area scales with the transform's two factors; with the instances'
        (N, 4) `boxes`, it also shrinks by the fraction of its box left inside the
        output (a crop keeps that share of the segment, assumed spread evenly over
        its box; a box without area gives no such fraction and leaves it whole).

        Example:
        >>> t = GeometricTransform.window([0.0, 0.0], [0.5, 0.5], (32, 32))
        >>> t.map_areas([0.0625, 0.0625], [[0.1, 0.1, 0.3, 0.3], [0.25, 0.25, 0.75, 0.75]]).numpy().tolist()
        [0.25, 0.0625]
        """
        areas = tf.reshape(tf.cast(areas, tf.float32), [-1]) * tf.abs(self.scale[0] * self.scale[1])
        if boxes is None:
            return areas
        _, inside_area, mapped_area = self._clipped_box_areas(boxes)
        return areas * tf.where(mapped_area > 0, tf.math.divide_no_nan(inside_area, mapped_area), 1.0)

    def map_keypoints(self, keypoints, flip_pairs):
        """Maps (..., K, 3) normalised (x, y, visibility) points.

        Points that leave the output get visibility 0 (and coordinates 0); on a
        mirroring transform the (left, right) `flip_pairs` swap places.
        """
        keypoints = tf.cast(keypoints, tf.float32)
        yx = self.map_yx(tf.stack([keypoints[..., 1], keypoints[..., 0]], axis=-1))
        inside = tf.reduce_all((yx >= 0.0) & (yx <= 1.0), axis=-1)
        visibility = tf.where(inside, keypoints[..., 2], 0.0)
        mapped = tf.stack([yx[..., 1], yx[..., 0], visibility], axis=-1)
        mapped = tf.where((visibility > 0)[..., None], mapped, 0.0)
        if not flip_pairs:
            return mapped
        swapped = tf.gather(mapped, flip_permutation(keypoints.shape[-2], flip_pairs), axis=-2)
        return tf.cond(self.flipped, lambda: swapped, lambda: mapped)

    # -- pixels -------------------------------------------------------------------------------
    def _source_positions(self, axis, source_length):
        """Continuous source pixel coordinates (pixel centres at i + 0.5) of the output's centres."""
        length = self.output_size[axis]
        centres = (tf.range(length, dtype=tf.float32) + 0.5) / length
        return (centres - self.offset[axis]) / self.scale[axis] * tf.cast(source_length, tf.float32)

    def resample_image(self, image, fill_value=0.0):
        """The (H, W, C) float32 output image, `fill_value` where it shows no source content.

        Bilinear with half-pixel centres and clamped edges, antialiased when
        shrinking (the triangle kernel widened by the shrink factor, as
        `tf.image.resize(..., antialias=True)`; at scale 1 and when enlarging
        it is plain bilinear). `ScaleAndTranslate` takes the scale and
        translation directly; a mirroring transform resamples unmirrored, then
        reverses. A (B, H, W, C) batch of same-size images is resampled alike
        (the serving export resizes requests with this, as the pipeline does).

        Example:
        >>> t = GeometricTransform.resize((2, 4), (4, 4), "letterbox")  # bands: rows 0 and 3
        >>> t.resample_image(tf.fill([2, 4, 1], 8.0), fill_value=1.0)[:, 0, 0].numpy().tolist()
        [1.0, 8.0, 8.0, 1.0]
        """
        image = tf.cast(image, tf.float32)
        batch = image if image.shape.rank == 4 else image[None]
        if fill_value:  # the kernel fills with 0: shift the image so that 0 becomes fill_value
            batch -= fill_value
        output_size = tf.constant(self.output_size, tf.float32)
        pixels = output_size / tf.cast(tf.shape(batch)[1:3], tf.float32)
        offset = tf.stack([self.offset[0], tf.where(self.flipped, 1.0 - self.offset[1], self.offset[1])])
        output = tf.raw_ops.ScaleAndTranslate(
            images=batch, size=self.output_size, scale=tf.abs(self.scale) * pixels,
            translation=offset * output_size, kernel_type="triangle", antialias=True)
        output = tf.cond(self.flipped, lambda: tf.reverse(output, [2]), lambda: output)
        if fill_value:
            output += fill_value
        return output if image.shape.rank == 4 else output[0]

    def resample_map(self, label_map, fill_value):
        """An (h, w[, C]) label map (any resolution) at the output size, nearest neighbour.

        Output pixels with no source content get `fill_value` (e.g. the
        segmentation ignore label, or 0 = missing depth).
        """
        label_map = tf.convert_to_tensor(label_map)
        size = tf.shape(label_map)[:2]
        for axis in (0, 1):
            index = tf.cast(tf.floor(self._source_positions(axis, size[axis])), tf.int32)
            inside = (index >= 0) & (index < size[axis])
            label_map = tf.gather(label_map, tf.clip_by_value(index, 0, size[axis] - 1), axis=axis)
            shape = [-1, 1] if axis == 0 else [1, -1]
            inside = tf.reshape(inside, shape + [1] * (label_map.shape.rank - 2))
            label_map = tf.where(inside, label_map, tf.cast(fill_value, label_map.dtype))
        return label_map
