"""Cross-stitch networks: one tower per task, mixed by cross-stitch units (Misra et al. 2016)."""

from mtl_zoo.backbones import PYRAMID_STRIDES, level_stride
from mtl_zoo.layers import CrossStitch
from mtl_zoo.sharing.towers import check_stages, features_for_task, task_towers

# whether the model holds the `Backbone` layer (the stages of a backbone copy per task)
HOLDS_BACKBONE_LAYER = False
OPTIONS = {"stages": tuple(PYRAMID_STRIDES), "per_channel": False, "self_weight": 0.9}


def task_features(image, backbone, tasks, pyramid_spec, stages, per_channel, self_weight):
    """Runs one backbone copy per task, stage by stage, with a `CrossStitch` unit after
    each stage in `stages`; each task reads its own tower's (mixed) features.

    Options:
        stages: pyramid levels after which the towers are mixed (default all).
        per_channel: one mixing matrix per channel instead of one per stage.
        self_weight: initial weight of a tower's own features (the paper's 0.9).
    """
    stitched = check_stages(stages, "cross_stitch")
    if len(tasks) < 2:
        raise ValueError("Cross-stitch units mix one tower per task and need two or more tasks; "
                         "use sharing='hard' for a single task.")
    split = [tower.stages() for tower in task_towers(backbone, tasks)]
    preprocessing = split[0][0]
    current = [preprocessing(image)] * len(tasks)
    levels = {task.name: {} for task in tasks}
    for level in sorted(PYRAMID_STRIDES, key=level_stride):
        current = [stage_models[level](x) for (_, stage_models), x in zip(split, current)]
        if level in stitched:
            current = CrossStitch(self_weight, per_channel, name=f"cross_stitch_{level}")(current)
        for task, x in zip(tasks, current):
            levels[task.name][level] = x
    return {task.name: features_for_task(task, levels[task.name], backbone.image_shape,
                                         pyramid_spec) for task in tasks}
