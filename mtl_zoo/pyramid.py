"""The shared feature pyramid that dense heads read (Lin et al. 2017, FPN)."""

from typing import NamedTuple

from keras import layers

from mtl_zoo.convs import CONV_KINDS, checked_conv_kind
from mtl_zoo.layers.batch_norm import BatchNormalization


def feature_pyramid(backbone_features, channels, conv="standard", name="pyramid"):
    """Top-down feature pyramid over `{"P2": ..., "P5": ...}` with `channels` everywhere.

    Each level: a 1x1 lateral conv of the backbone features, plus the 2x
    upsampled coarser level, then a 3x3 smoothing conv + ReLU of kind `conv`
    (`mtl_zoo.convs.CONV_KINDS`). "separable" makes it the light smoothing
    of an FPNLite pyramid (`separable_smoothing`). Part of the shared trunk in
    hard sharing.

    Example:
    >>> import keras
    >>> feats = {f"P{i}": keras.Input((64 // 2 ** i, 64 // 2 ** i, 8)) for i in range(2, 6)}
    >>> sorted(feature_pyramid(feats, 16))
    ['P2', 'P3', 'P4', 'P5']
    >>> feature_pyramid(feats, 16, "separable", name="light")["P3"].shape
    (None, 8, 8, 16)
    """
    checked_conv_kind("pyramid_conv", conv)
    levels = sorted(backbone_features, key=lambda level: int(level[1:]), reverse=True)
    pyramid = {}
    coarser = None
    for level in levels:
        x = layers.Conv2D(channels, 1, name=f"{name}_{level}_lateral")(backbone_features[level])
        if coarser is not None:
            upsampled = layers.UpSampling2D(2, name=f"{name}_{level}_upsample")(coarser)
            x = layers.Add(name=f"{name}_{level}_merge")([x, upsampled])
        coarser = x
        smoothing_name = f"{name}_{level}_smooth"
        if conv == "separable":
            pyramid[level] = separable_smoothing(x, channels, smoothing_name)
        else:
            pyramid[level] = CONV_KINDS[conv](channels, 3, padding="same", activation="relu",
                                              name=smoothing_name)(x)
    return dict(sorted(pyramid.items()))


def separable_smoothing(x, channels, name):
    """A depthwise 3x3 conv and a pointwise 1x1 conv, each followed by batch norm and ReLU.

    The depthwise-separable block of MobileNet (Howard et al. 2017), as the
    light pyramids of mobile detectors use it (SSD MobileNet FPNLite in the
    TensorFlow Object Detection API): about 8x fewer multiply-adds than a full
    3x3 conv at 64 channels. The normalisation between and after the two convs
    wins back much of the accuracy a bare `SeparableConv2D` + ReLU loses
    against the full conv (README, "Tasks"). Batch norm is synchronised across
    replicas, like the tiny trunk's. The last layer is named `name`.

    Example:
    >>> import keras
    >>> block = separable_smoothing(keras.Input((8, 8, 16)), 32, "smooth")
    >>> block.shape, block._keras_history.operation.name
    ((None, 8, 8, 32), 'smooth')
    """
    for part, conv in (("depthwise", layers.DepthwiseConv2D(3, padding="same", use_bias=False,
                                                            name=f"{name}_depthwise")),
                       ("pointwise", layers.Conv2D(channels, 1, use_bias=False,
                                                   name=f"{name}_pointwise"))):
        x = conv(x)
        x = BatchNormalization(momentum=0.9, synchronized=True, name=f"{name}_{part}_bn")(x)
        x = layers.ReLU(name=name if part == "pointwise" else f"{name}_{part}_relu")(x)
    return x


class PyramidSpec(NamedTuple):
    """How the sharing schemes build a feature pyramid: its width and its 3x3 convs' kind.

    Example:
    >>> PyramidSpec(32, "separable")
    PyramidSpec(channels=32, conv='separable')
    """

    channels: int = 64
    conv: str = "standard"

    def build(self, backbone_features, name="pyramid"):
        """`feature_pyramid` of `backbone_features` with this width and conv kind."""
        return feature_pyramid(backbone_features, self.channels, self.conv, name)
