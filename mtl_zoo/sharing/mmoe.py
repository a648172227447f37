"""Multi-gate Mixture-of-Experts for dense features (after Ma et al. 2018), and its
Customized Gate Control variant with task-specific experts (CGC, Tang et al. 2020)."""

from keras import layers

from mtl_zoo.backbones import PYRAMID_STRIDES
from mtl_zoo.layers import ExpertGate
from mtl_zoo.sharing.towers import check_stages, features_for_task

OPTIONS = {"num_experts": 4, "expert_channels": 64, "levels": tuple(PYRAMID_STRIDES),
           "task_experts": 0}


def _experts(features, count, channels, name_template):
    """`count` experts (a 3x3 conv + ReLU to `channels`) on `features`; expert e (from 1)
    is named `name_template.format(e)`."""
    return [layers.Conv2D(channels, 3, padding="same", activation="relu",
                          name=name_template.format(e + 1))(features)
            for e in range(count)]


def task_features(image, backbone, tasks, pyramid_channels, num_experts, expert_channels, levels,
                  task_experts):
    """A shared backbone, then `num_experts` shared experts at each level in `levels`
    (a 3x3 conv + ReLU to `expert_channels`); each task's `ExpertGate` (a softmax over
    experts computed from the pooled P5 features) mixes them into that task's features
    at those levels. Other levels are the shared backbone features. With
    `task_experts` > 0, each task also has that many experts of its own at each of
    those levels, and its gate mixes the shared experts and its own: Customized Gate
    Control (Tang et al. 2020, "Progressive Layered Extraction"), one extraction layer.

    Options:
        num_experts: shared experts per level (>= 2).
        expert_channels: output channels of every expert.
        levels: pyramid levels with experts (default all).
        task_experts: each task's own experts per level (0: MMoE; >= 1: CGC).
    """
    mixed_levels = check_stages(levels, "mmoe", option="levels")
    if int(expert_channels) < 1:
        raise ValueError(f"Sharing scheme 'mmoe': expert_channels must be >= 1, got {expert_channels!r}.")
    if isinstance(task_experts, bool) or not isinstance(task_experts, int) or task_experts < 0:
        raise ValueError(f"Sharing scheme 'mmoe': task_experts must be an integer >= 0, got {task_experts!r}.")
    shared = backbone(image)
    summary = layers.GlobalAveragePooling2D(name="gate_summary")(shared["P5"])
    experts = {level: _experts(shared[level], num_experts, expert_channels, f"expert{{}}_{level}")
               for level in mixed_levels}
    features = {}
    for task in tasks:
        gate = ExpertGate(num_experts + task_experts, name=f"{task.name}_gate")
        levels_of_task = dict(shared)
        for level in mixed_levels:
            own = _experts(shared[level], task_experts, expert_channels, f"{task.name}_expert{{}}_{level}")
            levels_of_task[level] = gate(summary, experts[level] + own)
        features[task.name] = features_for_task(task, levels_of_task, backbone.image_shape,
                                                pyramid_channels)
    return features
