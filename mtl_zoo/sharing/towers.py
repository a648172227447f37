"""Helpers the sharing schemes have in common: per-task towers, features and stage names."""

from mtl_zoo.backbones import PYRAMID_STRIDES, Backbone, level_stride
from mtl_zoo.naming import repeated
from mtl_zoo.tasks import Features


def task_towers(backbone, tasks):
    """One copy of `backbone` per task (same family, shape and current weights).

    Example:
    >>> from mtl_zoo.tasks import Classification
    >>> towers = task_towers(Backbone("tiny", (32, 32, 3)), [Classification("count", 3)])
    >>> [tower.name for tower in towers]
    ['count_tiny_tower']
    """
    weights = backbone.get_weights()
    towers = []
    for task in tasks:
        tower = Backbone.from_config({**backbone.get_config(),
                                      "name": f"{task.name}_{backbone.family}_tower"})
        tower.set_weights(weights)
        towers.append(tower)
    return towers


def features_for_task(task, backbone_features, image_shape, pyramid_spec):
    """A task's own `Features`, with its own feature pyramid when its head reads one."""
    pyramid = None
    if task.uses_pyramid:
        pyramid = pyramid_spec.build(backbone_features, name=f"{task.name}_pyramid")
    return Features(backbone=dict(backbone_features), pyramid=pyramid, image_shape=image_shape)


def check_stages(stages, scheme, option="stages"):
    """`stages` as a list of pyramid levels in trunk order; a ValueError names unknown or
    repeated ones.

    Example:
    >>> check_stages(["P4", "P2"], "mtan")
    ['P2', 'P4']
    """
    if isinstance(stages, str) or not stages:
        raise ValueError(f"Sharing scheme {scheme!r}: {option} must be a non-empty list of "
                         f"levels among {sorted(PYRAMID_STRIDES)}, got {stages!r}.")
    unknown = sorted(set(stages) - set(PYRAMID_STRIDES), key=str)
    if unknown:
        raise ValueError(f"Sharing scheme {scheme!r}: {option} {unknown} are not stages of the "
                         f"backbone; its stages are {sorted(PYRAMID_STRIDES)}.")
    twice = repeated(stages, key=level_stride)
    if twice:
        raise ValueError(f"Sharing scheme {scheme!r}: {option} names {twice} more than once; "
                         f"name each level once.")
    return sorted(stages, key=level_stride)
