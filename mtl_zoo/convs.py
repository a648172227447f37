"""The kinds of 3x3 convolution of the dense parts: the feature pyramid and the heads' towers."""

from keras import layers

from mtl_zoo.naming import unknown_name_error

# A full convolution, or a depthwise 3x3 then a pointwise 1x1 (the "SSDLite" heads of
# MobileNetV2, Sandler et al. 2018): about 8x fewer multiply-adds at 64 channels.
CONV_KINDS = {"standard": layers.Conv2D, "separable": layers.SeparableConv2D}


def checked_conv_kind(what, kind):
    """`kind` if it names one of `CONV_KINDS`, else a ValueError naming `what` and listing them.

    Example:
    >>> checked_conv_kind("head_conv of task 'pose'", "separable")
    'separable'
    """
    if kind not in CONV_KINDS:
        raise unknown_name_error(what, kind, CONV_KINDS)
    return kind
