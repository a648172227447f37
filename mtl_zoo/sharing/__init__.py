"""Sharing schemes: how the task heads share the trunk.

Each scheme is a module here with `OPTIONS` (its option names and defaults),
`HOLDS_BACKBONE_LAYER` (whether its models hold the `Backbone` layer itself, which
`--frozen_backbone_epochs` unfreezes, rather than its stages or copies of it)
and `task_features(image, backbone, tasks, pyramid_spec, **options)`, which
builds the trunk part of the functional graph (its feature pyramids as the
`mtl_zoo.pyramid.PyramidSpec` says) and returns one `Features` record per
task for the task heads.

  * "hard": one trunk and one feature pyramid for every task.
  * "soft": one tower per task, coupled by `SoftSharingRegularizer`.
  * "cross_stitch": one tower per task, mixed by `CrossStitch` units after chosen stages.
  * "mtan": a shared trunk and per-task `TaskAttention` modules at chosen stages, each
    reading the task's previous attended stage through a feature extractor shared by all tasks.
  * "mmoe": a shared trunk, shared conv experts and a softmax `ExpertGate` per task.

Example:
>>> sorted(SCHEMES)
['cross_stitch', 'hard', 'mmoe', 'mtan', 'soft']
"""

from mtl_zoo.naming import unknown_name_error
from mtl_zoo.sharing import cross_stitch, hard, mmoe, mtan, soft

SCHEMES = {"hard": hard, "soft": soft, "cross_stitch": cross_stitch, "mtan": mtan, "mmoe": mmoe}


def resolve_options(scheme, options):
    """The scheme's options: its defaults updated by `options`; unknown names are an error.

    Example:
    >>> resolve_options("soft", {"beta": 0.1})
    {'beta': 0.1, 'coupled_layers': None}
    """
    if scheme not in SCHEMES:
        raise unknown_name_error("sharing scheme", scheme, SCHEMES)
    defaults = SCHEMES[scheme].OPTIONS
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"sharing_options must be a dict {{name: value}}, e.g. {{'beta': 1e-3}}, "
                         f"got {type(options).__name__} {options!r}.")
    options = dict(options or {})
    unknown = sorted(set(options) - set(defaults))
    if unknown and not defaults:
        raise ValueError(f"Sharing scheme {scheme!r} takes no sharing_options, got {unknown}.")
    if unknown:
        raise ValueError(f"Unknown sharing_options {unknown} for scheme {scheme!r}; its options "
                         f"are {sorted(defaults)}.")
    return {**defaults, **options}


def task_features(scheme, image, backbone, tasks, pyramid_spec, options=None):
    """Builds scheme `scheme`'s trunk on `image`; returns `{task_name: Features}`."""
    return SCHEMES[scheme].task_features(image, backbone, tasks, pyramid_spec,
                                         **resolve_options(scheme, options))


__all__ = ["SCHEMES", "resolve_options", "task_features"]
