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
    labels (classification, multi-label) are left as they are, so a crop that
    cuts out an object they count (COCO's class presence, a people count) makes
    them wrong for that view: keep the zoom at most 1 for such tasks. The colour
    part changes the image only. All randomness is stateless, drawn from a
    per-example seed, so a seeded pipeline repeats exactly.

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

    Example:
    >>> augmentation = Augmentation(scale_range=(0.8, 1.25), brightness=0.1, hue=0.02)
    >>> Augmentation.from_config(augmentation.get_config()).scale_range
    (0.8, 1.25)
    """

    def __init__(self, horizontal_flip=True, scale_range=(1.0, 1.0), brightness=0.0, contrast=0.0,
                 saturation=0.0, hue=0.0, min_box_visibility=0.25):
        self.horizontal_flip = bool(horizontal_flip)
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

    def adjust_colour(self, image, seed):
        """Random brightness, contrast, saturation and hue of a float 0-255 (H, W, C) image."""
        if not self.changes_colour:
            return image
        seeds = tf.unstack(tf.random.split(seed, 4))
        image = image / 255.0
        if self.brightness:
            image = tf.image.stateless_random_brightness(image, self.brightness, seeds[0])
        if self.contrast:
            image = tf.image.stateless_random_contrast(image, 1.0 - self.contrast,
                                                       1.0 + self.contrast, seeds[1])
        if self.saturation:
            image = tf.image.stateless_random_saturation(image, 1.0 - self.saturation,
                                                         1.0 + self.saturation, seeds[2])
        if self.hue:
            image = tf.image.stateless_random_hue(image, self.hue, seeds[3])
        return tf.clip_by_value(image, 0.0, 1.0) * 255.0

    def get_config(self):
        return {"horizontal_flip": self.horizontal_flip, "scale_range": self.scale_range,
                "brightness": self.brightness, "contrast": self.contrast,
                "saturation": self.saturation, "hue": self.hue,
                "min_box_visibility": self.min_box_visibility}
