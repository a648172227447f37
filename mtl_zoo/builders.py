"""`build_model`: assembles backbone, shared pyramid and task heads with the functional API."""

import keras

from mtl_zoo.backbones import Backbone
from mtl_zoo.checks import check_integer
from mtl_zoo.convs import checked_conv_kind
from mtl_zoo.model import MultiTaskModel, check_task_names
from mtl_zoo.naming import unknown_name_error
from mtl_zoo.pyramid import PyramidSpec
from mtl_zoo.sharing import SCHEMES, resolve_options, task_features
from mtl_zoo.tasks import Task, get_task

SHARING_SCHEMES = tuple(SCHEMES)


def resolve_backbone(backbone, input_shape, weights=None):
    """A `Backbone` from a family name or an existing instance."""
    if isinstance(backbone, Backbone):
        if input_shape is not None and tuple(input_shape) != backbone.image_shape:
            raise ValueError(
                f"input_shape {tuple(input_shape)} differs from the given backbone's "
                f"{backbone.image_shape}; omit input_shape or build the backbone for it.")
        return backbone
    if not isinstance(backbone, str):
        raise ValueError(f"backbone must be a family name or a mtl_zoo.backbones.Backbone, got {backbone!r}.")
    return Backbone(backbone, input_shape=input_shape or (128, 128, 3), weights=weights)


def build_model(backbone, tasks, input_shape=None, sharing="hard", backbone_weights=None,
                pyramid_channels=64, task_weights=None, uncertainty_weighting=None,
                name="multi_task_model", sharing_options=None, pyramid_conv="standard"):
    """Builds a multi-task model: a trunk shared as `sharing` says, one head per task.

    Args:
        backbone: a family name (`mtl_zoo.backbones.list_backbones()`) or a
            `Backbone` instance.
        tasks: `Task` instances or dicts `{"kind": ..., "name": ..., ...}`.
        input_shape: (height, width, channels), multiples of 32; default
            (128, 128, 3), or the given backbone's.
        sharing: how the tasks share the trunk (`SHARING_SCHEMES`, see
            `mtl_zoo.sharing`): "hard" (one trunk and pyramid), "soft" (one
            tower per task, L2-coupled), "cross_stitch" (one tower per task,
            mixed after each stage), "mtan" (shared trunk, task attention
            modules) or "mmoe" (shared trunk, shared experts, a gate per task).
        backbone_weights: None, "imagenet" or a weights file, for a named backbone.
        pyramid_channels: width of the shared feature pyramid (built only
            when a task reads it: detection, keypoints, segmentation, depth).
        pyramid_conv: the pyramid's 3x3 convs, "standard" or "separable"
            (depthwise then pointwise, each with batch norm and ReLU: the
            FPNLite pyramid for mobile backbones, with about 8x fewer
            multiply-adds, at some cost in detection and pose accuracy; pair
            it with the tasks' `head_conv="separable"`).
        task_weights: initial loss weights (alphas), a dict by task name.
        uncertainty_weighting: learned task weights (Kendall et al. 2018): True,
            or `{task: "classification" | "regression"}`; see `MultiTaskModel`.
        name: the model name.
        sharing_options: the scheme's options, e.g. `{"beta": 1e-3}` for
            "soft" or `{"stages": ["P3", "P4"]}` for "cross_stitch"; see
            `mtl_zoo.sharing.SCHEMES[sharing].OPTIONS` for names and defaults.

    Returns:
        A compiled-ready `MultiTaskModel` taking raw 0-255 images.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("action", 4),
    ...                                 mz.tasks.Detection("objects", 3)], (64, 64, 3))
    >>> sorted(model.output_names)[:2]
    ['action_logits', 'objects_heatmap']
    >>> soft = mz.build_model("tiny", [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)],
    ...                       (32, 32, 3), sharing="soft", sharing_options={"beta": 1e-3})
    """
    if sharing not in SHARING_SCHEMES:
        raise unknown_name_error("sharing scheme", sharing, SHARING_SCHEMES)
    options = resolve_options(sharing, sharing_options)  # fails before any building
    pyramid = PyramidSpec(check_integer(pyramid_channels, "pyramid_channels"),
                          checked_conv_kind("pyramid_conv", pyramid_conv))
    if isinstance(tasks, (Task, dict)):
        raise ValueError(f"tasks must be a list of tasks, got one {type(tasks).__name__}: "
                         "wrap it in a list, e.g. [task].")
    tasks = [get_task(task) for task in tasks]
    check_task_names(tasks)
    trunk = resolve_backbone(backbone, input_shape, backbone_weights)
    image = keras.Input(trunk.image_shape, name="image")
    features = task_features(sharing, image, trunk, tasks, pyramid, options)
    outputs = {}
    for task in tasks:
        outputs.update(task.build_head(features[task.name]))
    return MultiTaskModel(image, outputs, tasks, task_weights=task_weights,
                          uncertainty_weighting=uncertainty_weighting, name=name)
