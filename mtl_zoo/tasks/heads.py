"""Layer recipes shared by the task heads."""

import math

import keras
from keras import layers

from mtl_zoo.checks import check_integer
from mtl_zoo.convs import CONV_KINDS, checked_conv_kind


def pooled_trunk_features(features, task_name):
    """Global average pool of the deepest backbone features (stride 32)."""
    return layers.GlobalAveragePooling2D(name=f"{task_name}_pool")(features.backbone["P5"])


def checked_head_conv(task_name, head_conv):
    """`head_conv` if it names one of `mtl_zoo.convs.CONV_KINDS`, else a ValueError listing them."""
    return checked_conv_kind(f"head_conv of task {task_name!r}", head_conv)


def checked_head_channels(task_name, head_channels):
    """`head_channels` as an int if it is an integer >= 1, else a ValueError naming the task."""
    return check_integer(head_channels, "head_channels", owner=f"Task {task_name!r}")


def conv_tower(x, channels, depth, task_name, head_conv="standard", tag="tower"):
    """`depth` 3x3 conv + ReLU layers of kind `head_conv`: the task-specific part of a dense head."""
    conv = CONV_KINDS[head_conv]
    for i in range(depth):
        x = conv(channels, 3, padding="same", activation="relu",
                 name=f"{task_name}_{tag}_conv{i + 1}")(x)
    return x


def prediction_conv(x, units, name, prior_probability=None):
    """A 1x1 conv producing float32 predictions (safe under mixed precision).

    With `prior_probability`, the bias starts at logit(p) so that sigmoid
    heatmaps begin near p (CenterNet / RetinaNet initialisation).
    """
    bias = "zeros"
    if prior_probability is not None:
        bias = keras.initializers.Constant(-math.log((1 - prior_probability) / prior_probability))
    return layers.Conv2D(units, 1, bias_initializer=bias, dtype="float32", name=name)(x)


def upsample_to_input(x, stride, name):
    """Bilinear upsampling by `stride`, back to the model input resolution."""
    if stride == 1:
        return x
    return layers.UpSampling2D(stride, interpolation="bilinear", dtype="float32", name=name)(x)
