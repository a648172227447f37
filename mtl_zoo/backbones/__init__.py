"""Shared trunks: keras.applications families and a tiny CPU net, with pyramid taps."""

from mtl_zoo.backbones.backbone import PYRAMID_STRIDES, Backbone, check_input_shape, level_stride
from mtl_zoo.backbones.families import FAMILIES, BackboneFamily, get_family, list_backbones
from mtl_zoo.backbones.preprocessing import ImagePreprocessing

__all__ = ["Backbone", "BackboneFamily", "FAMILIES", "ImagePreprocessing", "PYRAMID_STRIDES",
           "check_input_shape", "get_family", "level_stride", "list_backbones"]
