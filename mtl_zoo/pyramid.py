"""The shared feature pyramid that dense heads read (Lin et al. 2017, FPN)."""

from typing import NamedTuple

from keras import layers

from mtl_zoo.convs import CONV_KINDS, checked_conv_kind


def feature_pyramid(backbone_features, channels, conv="standard", name="pyramid"):
    """Top-down feature pyramid over `{"P2": ..., "P5": ...}` with `channels` everywhere.

    Each level: a 1x1 lateral conv of the backbone features, plus the 2x
    upsampled coarser level, then a 3x3 conv of kind `conv`
    (`mtl_zoo.convs.CONV_KINDS`; "separable" is the light pyramid of
    SSD MobileNet V2 FPNLite in the TensorFlow Object Detection API). Part of
    the shared trunk in hard sharing.

    Example:
    >>> import keras
    >>> feats = {f"P{i}": keras.Input((64 // 2 ** i, 64 // 2 ** i, 8)) for i in range(2, 6)}
    >>> sorted(feature_pyramid(feats, 16))
    ['P2', 'P3', 'P4', 'P5']
    >>> type(feature_pyramid(feats, 16, "separable", name="light")["P3"]._keras_history.operation).__name__
    'SeparableConv2D'
    """
    smoothing_conv = CONV_KINDS[checked_conv_kind("pyramid_conv", conv)]
    levels = sorted(backbone_features, key=lambda level: int(level[1:]), reverse=True)
    pyramid = {}
    coarser = None
    for level in levels:
        x = layers.Conv2D(channels, 1, name=f"{name}_{level}_lateral")(backbone_features[level])
        if coarser is not None:
            upsampled = layers.UpSampling2D(2, name=f"{name}_{level}_upsample")(coarser)
            x = layers.Add(name=f"{name}_{level}_merge")([x, upsampled])
        coarser = x
        pyramid[level] = smoothing_conv(channels, 3, padding="same", activation="relu",
                                        name=f"{name}_{level}_smooth")(x)
    return dict(sorted(pyramid.items()))


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
