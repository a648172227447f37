"""The dense parts' convolutions (the feature pyramid and the heads' towers): their kinds and widths."""

from typing import NamedTuple, Optional

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


class DenseParts(NamedTuple):
    """How a model's dense parts are built: the heads' 3x3 convs and width, and the pyramid's.

    The heads are those with a conv tower (detection, keypoints, segmentation,
    depth); `head_channels` None keeps each task's own width (64 by default).
    `head_conv` and `pyramid_conv` name `CONV_KINDS`. The command lines'
    `--head_conv`, `--head_channels`, `--pyramid_conv` and `--pyramid_channels`.

    Example:
    >>> light = DenseParts(head_conv="separable", head_channels=32, pyramid_channels=32)
    >>> light.task_config({"kind": "Detection", "name": "objects", "head_conv": "standard",
    ...                    "head_channels": 64})["head_channels"]
    32
    >>> light.pyramid_arguments()
    {'pyramid_conv': 'standard', 'pyramid_channels': 32}
    """

    head_conv: str = "standard"
    head_channels: Optional[int] = None
    pyramid_conv: str = "standard"
    pyramid_channels: int = 64

    def task_config(self, config):
        """`config` (a task's `{"kind": ..., **get_config()}`) with these heads' conv kind and
        width when its head has a conv tower; other tasks' configs unchanged."""
        if "head_conv" not in config:
            return config
        if self.head_channels is None:
            return dict(config, head_conv=self.head_conv)
        return dict(config, head_conv=self.head_conv, head_channels=self.head_channels)

    def pyramid_arguments(self):
        """The feature pyramid's `build_model` arguments."""
        return {"pyramid_conv": self.pyramid_conv, "pyramid_channels": self.pyramid_channels}
