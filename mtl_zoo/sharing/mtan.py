"""Multi-Task Attention Network: a shared trunk with task attention modules (Liu et al. 2019)."""

from mtl_zoo.backbones import PYRAMID_STRIDES
from mtl_zoo.layers import TaskAttention
from mtl_zoo.sharing.towers import check_stages, features_for_task

OPTIONS = {"stages": tuple(PYRAMID_STRIDES), "bottleneck": None}


def task_features(image, backbone, tasks, pyramid_channels, stages, bottleneck):
    """Runs the backbone once; each task reads, at each level in `stages`, the shared
    features masked by its own `TaskAttention` chain (and the shared ones elsewhere).

    Options:
        stages: pyramid levels with attention modules (default all).
        bottleneck: hidden channels of the attention masks (default channels // 4).
    """
    attended = check_stages(stages, "mtan")
    preprocessing, stage_models = backbone.stages()
    x = preprocessing(image)
    shared = {}
    for level, stage in stage_models.items():
        x = shared[level] = stage(x)
    features = {}
    for task in tasks:
        levels, previous = dict(shared), None
        for level in attended:
            attention = TaskAttention(backbone.channels[level], bottleneck,
                                      name=f"{task.name}_attention_{level}")
            previous = levels[level] = attention(shared[level], previous=previous)
        features[task.name] = features_for_task(task, levels, backbone.image_shape, pyramid_channels)
    return features
