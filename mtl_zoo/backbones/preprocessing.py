"""Turns raw 0-255 images into what each backbone family was trained on."""

import keras
from keras import ops

# Per-channel ImageNet statistics, RGB order, on the 0-255 scale.
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_STD_RGB = (58.393, 57.12, 57.375)

MODES = ("caffe", "tf", "torch", "unit", "none")


@keras.saving.register_keras_serializable(package="mtl_zoo")
class ImagePreprocessing(keras.layers.Layer):
    """Maps raw 0-255 RGB images to a backbone family's expected input range.

    Modes follow `keras.applications.imagenet_utils.preprocess_input`:
    `"caffe"` (RGB to BGR, minus the ImageNet mean; ResNet), `"tf"` (scaled to
    [-1, 1]; MobileNetV2), `"torch"` (scaled to [0, 1] then standardised),
    `"unit"` (scaled to [0, 1]; the tiny backbone) and `"none"` (the family's
    model already contains its preprocessing, e.g. MobileNetV3, EfficientNetV2).

    Args:
        mode: one of `MODES`.

    Example:
    >>> layer = ImagePreprocessing("tf")
    >>> float(layer(keras.ops.full((1, 2, 2, 3), 255.0))[0, 0, 0, 0])
    1.0
    """

    def __init__(self, mode="unit", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown preprocessing mode {mode!r}; use one of {MODES}.")
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        if self.mode == "caffe":
            mean_bgr = ops.convert_to_tensor(IMAGENET_MEAN_RGB[::-1], dtype=x.dtype)
            return ops.flip(x, axis=-1) - mean_bgr
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(IMAGENET_MEAN_RGB, dtype=x.dtype)
            std = ops.convert_to_tensor(IMAGENET_STD_RGB, dtype=x.dtype)
            return (x - mean) / std
        if self.mode == "unit":
            return x / 255.0
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
