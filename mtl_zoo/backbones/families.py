"""The backbone families: keras.applications trunks plus the tiny CPU trunk."""

import dataclasses
from typing import Callable

import keras

from mtl_zoo.backbones.tiny import build_tiny_convnet
from mtl_zoo.layers.batch_norm import with_fused_batch_norm
from mtl_zoo.naming import unknown_name_error


@dataclasses.dataclass(frozen=True)
class BackboneFamily:
    """How to build one trunk family without its classifier top.

    Attributes:
        name: the name users pass to `build_model(backbone=...)`.
        build: `(input_shape, weights) -> keras.Model` returning the headless trunk.
        preprocessing: an `ImagePreprocessing` mode applied to raw 0-255 images.
        rgb_only: whether the trunk needs exactly 3 input channels.
        reference: the paper the architecture comes from.
    """

    name: str
    build: Callable
    preprocessing: str
    rgb_only: bool = True
    reference: str = ""


def _application(constructor, **extra):
    def build(input_shape, weights):
        return with_fused_batch_norm(
            constructor(include_top=False, weights=weights, input_shape=input_shape, **extra))
    return build


_A = keras.applications
_FAMILIES = [
    BackboneFamily("tiny", build_tiny_convnet, "unit", rgb_only=False,
                   reference="mtl_zoo's own test trunk"),
    BackboneFamily("resnet50", _application(_A.ResNet50), "caffe",
                   reference="He et al. 2016, Deep Residual Learning"),
    BackboneFamily("resnet101", _application(_A.ResNet101), "caffe",
                   reference="He et al. 2016, Deep Residual Learning"),
    BackboneFamily("mobilenet_v2", _application(_A.MobileNetV2), "tf",
                   reference="Sandler et al. 2018, MobileNetV2"),
    BackboneFamily("mobilenet_v3_small",
                   _application(_A.MobileNetV3Small, include_preprocessing=True), "none",
                   reference="Howard et al. 2019, Searching for MobileNetV3"),
    BackboneFamily("mobilenet_v3_large",
                   _application(_A.MobileNetV3Large, include_preprocessing=True), "none",
                   reference="Howard et al. 2019, Searching for MobileNetV3"),
]
for _variant in ("B0", "B1", "B2", "B3"):
    _FAMILIES.append(BackboneFamily(
        f"efficientnet_v2_{_variant.lower()}",
        _application(getattr(_A, f"EfficientNetV2{_variant}"), include_preprocessing=True),
        "none", reference="Tan & Le 2021, EfficientNetV2"))

FAMILIES = {family.name: family for family in _FAMILIES}


def get_family(name):
    """Returns the `BackboneFamily` called `name`, or a ValueError listing the valid ones."""
    if name not in FAMILIES:
        raise unknown_name_error("backbone", name, FAMILIES)
    return FAMILIES[name]


def list_backbones():
    """The names accepted by `build_model(backbone=...)`.

    Example:
    >>> "resnet50" in list_backbones() and "tiny" in list_backbones()
    True
    """
    return sorted(FAMILIES)
