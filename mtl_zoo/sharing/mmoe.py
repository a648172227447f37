"""Multi-gate Mixture-of-Experts for dense features (after Ma et al. 2018)."""

from keras import layers

from mtl_zoo.backbones import PYRAMID_STRIDES
from mtl_zoo.layers import ExpertGate
from mtl_zoo.sharing.towers import check_stages, features_for_task

OPTIONS = {"num_experts": 4, "expert_channels": 64, "levels": tuple(PYRAMID_STRIDES)}


def task_features(image, backbone, tasks, pyramid_channels, num_experts, expert_channels, levels):
    """A shared backbone, then `num_experts` shared experts at each level in `levels`
    (a 3x3 conv + ReLU to `expert_channels`); each task's `ExpertGate` (a softmax over
    experts computed from the pooled P5 features) mixes them into that task's features
    at those levels. Other levels are the shared backbone features.

    Options:
        num_experts: experts per level (>= 2).
        expert_channels: output channels of every expert.
        levels: pyramid levels with experts (default all).
    """
    mixed_levels = check_stages(levels, "mmoe", option="levels")
    if int(expert_channels) < 1:
        raise ValueError(f"Sharing scheme 'mmoe': expert_channels must be >= 1, got {expert_channels!r}.")
    shared = backbone(image)
    summary = layers.GlobalAveragePooling2D(name="gate_summary")(shared["P5"])
    experts = {level: [layers.Conv2D(expert_channels, 3, padding="same", activation="relu",
                                     name=f"expert{e + 1}_{level}")(shared[level])
                       for e in range(num_experts)]
               for level in mixed_levels}
    features = {}
    for task in tasks:
        gate = ExpertGate(num_experts, name=f"{task.name}_gate")
        levels_of_task = dict(shared)
        for level in mixed_levels:
            levels_of_task[level] = gate(summary, experts[level])
        features[task.name] = features_for_task(task, levels_of_task, backbone.image_shape,
                                                pyramid_channels)
    return features
