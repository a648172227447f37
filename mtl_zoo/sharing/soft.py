"""Soft parameter sharing: one tower per task, coupled by an L2 penalty on their weights."""

from mtl_zoo.layers import SoftSharingRegularizer
from mtl_zoo.sharing.towers import features_for_task, task_towers

# whether the model holds the `Backbone` layer (a tower (a copy of the backbone) per task, in one bank layer)
HOLDS_BACKBONE_LAYER = False
OPTIONS = {"beta": 1e-3, "coupled_layers": None}


def task_features(image, backbone, tasks, pyramid_spec, beta, coupled_layers):
    """Each task gets its own copy of the backbone (and pyramid); see `SoftSharingRegularizer`.

    Options:
        beta: the coupling strength (>= 0; 0 gives independent models).
        coupled_layers: a non-empty list of backbone layer names to couple; None couples all.
    """
    if len(tasks) < 2:
        raise ValueError("Soft sharing couples one tower per task and needs two or more tasks; "
                         "use sharing='hard' for a single task.")
    regularizer = SoftSharingRegularizer(task_towers(backbone, tasks), beta=beta,
                                         coupled_layers=coupled_layers, name="soft_sharing")
    return {task.name: features_for_task(task, tower_features, backbone.image_shape, pyramid_spec)
            for task, tower_features in zip(tasks, regularizer(image))}
