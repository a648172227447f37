"""`Augmentation`: joint random augmentation of an image and all its task labels."""

import keras
import tensorflow as tf

from mtl_zoo.configurable import Configurable
from mtl_zoo.data.transform import GeometricTransform


def _check_range(name, value, low, high):
    number = _number(name, value)
    if not low <= number <= high:
        raise ValueError(f"Augmentation {name} must be in [{low}, {high}], got {value}.")
    return number


def _number(name, value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Augmentation {name} must be a number, got {value!r}.") from None


def _task_names(name, value):
    names = tuple(value) if isinstance(value, (list, tuple)) else None
    if names is None or not all(isinstance(task, str) for task in names):
        raise ValueError(f"Augmentation {name} must be a list of task names such as "
                         f"['people_count'], got {value!r}.")
    return names


# Luminance weights of linear RGB (Rec. 709, as the W3C Filter Effects spec rounds them).
LUMINANCE = (0.213, 0.715, 0.072)
# The part of the W3C "hueRotate" matrix that scales with the sine of the angle.
_HUE_SINE = ((-0.213, -0.715, 0.928), (0.143, 0.140, -0.283), (-0.787, 0.715, 0.072))


def colour_matrices(saturation, hue):
    """(B, 3, 3) RGB matrices: W3C `feColorMatrix` "saturate" by each `saturation` factor,
    then "hueRotate" by each `hue` (in turns of the colour circle); (B,) inputs.

    Example:
    >>> matrix = colour_matrices(tf.constant([0.0]), tf.constant([0.0]))[0]
    >>> (matrix @ tf.constant([[255.0], [0.0], [0.0]]))[:, 0].numpy()  # red without saturation: grey
    array([54.315, 54.315, 54.315], dtype=float32)
    """
    grey = tf.ones([3, 1]) * tf.constant([LUMINANCE])  # each row: the luminance
    chroma = tf.eye(3) - grey
    angle = 2.0 * 3.141592653589793 * hue
    rotate = (grey + tf.cos(angle)[:, None, None] * chroma
              + tf.sin(angle)[:, None, None] * tf.constant(_HUE_SINE))
    return rotate @ (grey + saturation[:, None, None] * chroma)


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Augmentation(Configurable):
    """Random flip, scale-and-crop and colour changes, applied jointly to images and labels.

    The geometric part is a `GeometricTransform` (a window of the image,
    optionally mirrored) that the pipeline composes with the resize or
    letterbox step, so each image is resampled once and every task's raw label
    follows through `Task.transform_label`: boxes are mirrored and clipped
    (class -1 when less than `min_box_visibility` of a box stays in view),
    keypoints and landmarks are mirrored with their left/right pairs swapped
    and lose their visibility when they leave the view, segmentation and depth
    maps are cropped and flipped with nearest-neighbour sampling. Image-level
    labels (classification, multi-label) are left as they are, which suits labels
    that a crop keeps true (a scene, a digit); a crop that cuts out an object that
    a label counts (COCO's class presence, a people count) makes it wrong for that
    view, so name such tasks in `crop_sensitive_tasks`: an example whose view
    leaves part of its image out then has those tasks' masks set to 0, and trains
    the other tasks only. The colour part changes the image only. All randomness
    is stateless, drawn from a per-example seed, so a seeded pipeline repeats
    exactly.

    Args:
        horizontal_flip: mirror left/right with probability 1/2.
        scale_range: (min, max) zoom factor; the view covers 1/zoom of the
            image at a uniformly random position (zoom > 1 crops, zoom < 1
            shrinks the image into a padded view). (1, 1) disables it.
        brightness: maximum brightness change, as a fraction of the 0-255 range.
        contrast: contrast factor drawn from [1 - contrast, 1 + contrast].
        saturation: saturation factor drawn from [1 - saturation, 1 + saturation].
        hue: maximum hue shift, as a fraction of the colour circle (<= 0.5).
        min_box_visibility: the fraction of a box's area that must stay in
            view for it to keep its label.
        crop_sensitive_tasks: names of tasks whose labels hold only for the
            whole image: masked (0) in the examples whose view is cropped.

    Example:
    >>> augmentation = Augmentation(scale_range=(0.8, 1.25), brightness=0.1, hue=0.02)
    >>> Augmentation.from_config(augmentation.get_config()).scale_range
    (0.8, 1.25)
    """

    def __init__(self, horizontal_flip=True, scale_range=(1.0, 1.0), brightness=0.0, contrast=0.0,
                 saturation=0.0, hue=0.0, min_box_visibility=0.25, crop_sensitive_tasks=()):
        self.horizontal_flip = bool(horizontal_flip)
        self.crop_sensitive_tasks = _task_names("crop_sensitive_tasks", crop_sensitive_tasks)
        try:
            low, high = scale_range
        except (TypeError, ValueError):
            raise ValueError(f"Augmentation scale_range must be a (min, max) pair such as (1.0, 1.5), "
                             f"got {scale_range!r}.") from None
        low, high = _number("scale_range", low), _number("scale_range", high)
        if not 0.0 < low <= high:
            raise ValueError(f"Augmentation scale_range must be (min, max) with 0 < min <= max, "
                             f"got {tuple(scale_range)}.")
        self.scale_range = (low, high)
        self.brightness = _check_range("brightness", brightness, 0.0, 1.0)
        self.contrast = _check_range("contrast", contrast, 0.0, 1.0)
        self.saturation = _check_range("saturation", saturation, 0.0, 1.0)
        self.hue = _check_range("hue", hue, 0.0, 0.5)
        self.min_box_visibility = _check_range("min_box_visibility", min_box_visibility, 0.0, 1.0)

    @property
    def masks_cropped_views(self):
        """Whether some views can be crops that mask `crop_sensitive_tasks`."""
        return bool(self.crop_sensitive_tasks) and self.scale_range[1] > 1.0

    @property
    def changes_colour(self):
        return any((self.brightness, self.contrast, self.saturation, self.hue))

    def check_channels(self, channels):
        """Raises a ValueError when saturation or hue changes are asked of non-RGB images."""
        if channels != 3 and (self.saturation or self.hue):
            raise ValueError(f"Augmentation saturation and hue need RGB images; the model takes "
                             f"{channels} channel(s). Set saturation=0 and hue=0.")

    def view(self, seed, output_size):
        """The random window (and flip) of one example, as a transform of normalised coordinates.

        Args:
            seed: (2,) int stateless seed of the example.
            output_size: (height, width) the view is later resized to.
        """
        zoom_seed, position_seed, flip_seed = tf.unstack(tf.random.split(seed, 3))
        low, high = self.scale_range
        zoom = tf.random.stateless_uniform([], zoom_seed, low, high)
        size = tf.fill([2], 1.0 / zoom)
        top_left = tf.random.stateless_uniform([2], position_seed) * (1.0 - size)
        transform = GeometricTransform.window(top_left, size, output_size, self.min_box_visibility)
        if self.horizontal_flip:
            transform = transform.mirrored(tf.random.stateless_uniform([], flip_seed) < 0.5)
        return transform

    def colour_factors(self, seed):
        """One example's random colour changes, a (4,) float32 tensor: the brightness delta
        (in 0-1 units), the contrast and saturation factors and the hue shift (0, 1, 1, 0
        where disabled), each uniform in its range. `adjust_colours` applies them."""
        seeds = tf.unstack(tf.random.split(seed, 4))
        ranges = [(-self.brightness, self.brightness), (1.0 - self.contrast, 1.0 + self.contrast),
                  (1.0 - self.saturation, 1.0 + self.saturation), (-self.hue, self.hue)]
        return tf.stack([tf.random.stateless_uniform([], part, low, high)
                         for part, (low, high) in zip(seeds, ranges)])

    def adjust_colours(self, images, factors):
        """(B, H, W, C) float 0-255 images, each changed by its row of `factors` ((B, 4), from
        `colour_factors`), clipped to 0-255.

        Brightness adds its delta (as `tf.image.adjust_brightness`), contrast
        scales about each image's channel means (as `tf.image.adjust_contrast`);
        saturation and hue are the linear colour matrices of the W3C Filter
        Effects spec (`feColorMatrix` "saturate" and "hueRotate", the CSS
        `saturate()` and `hue-rotate()` filters): a blend with the luminance, and
        a rotation about the grey axis by `hue` turns that keeps the luminance.
        They shift colours as HSV's saturation and hue do, not to the same
        values. All four compose to one affine map per image, applied to the
        whole batch at once.

        Example:
        >>> augmentation = Augmentation(brightness=0.5)
        >>> images = tf.fill([2, 1, 1, 1], 100.0)
        >>> augmentation.adjust_colours(images, tf.constant([[0.1, 1, 1, 0], [-0.5, 1, 1, 0]]))[:, 0, 0, 0].numpy()
        array([125.5,   0. ], dtype=float32)
        """
        if not self.changes_colour:
            return images
        brightness, contrast, saturation, hue = tf.unstack(tf.cast(factors, tf.float32), axis=-1)
        # brightness, then contrast: contrast * images + offsets, per image and channel
        offsets = (1.0 - contrast)[:, None] * tf.reduce_mean(images, axis=[1, 2]) + 255.0 * brightness[:, None]
        if self.saturation or self.hue:
            matrices = colour_matrices(saturation, hue)
            images = tf.einsum("bhwc,bdc->bhwd", images, matrices * contrast[:, None, None])
            images += tf.einsum("bc,bdc->bd", offsets, matrices)[:, None, None, :]
        else:
            images = images * contrast[:, None, None, None] + offsets[:, None, None, :]
        return tf.clip_by_value(images, 0.0, 255.0)

    def get_config(self):
        return {"horizontal_flip": self.horizontal_flip, "scale_range": self.scale_range,
                "brightness": self.brightness, "contrast": self.contrast,
                "saturation": self.saturation, "hue": self.hue,
                "min_box_visibility": self.min_box_visibility,
                "crop_sensitive_tasks": list(self.crop_sensitive_tasks)}
