"""Hard parameter sharing: one trunk and one feature pyramid for every task (Caruana 1997)."""

from mtl_zoo.tasks import Features

# whether the model holds the `Backbone` layer (the trunk is the backbone layer itself)
HOLDS_BACKBONE_LAYER = True
OPTIONS = {}


def task_features(image, backbone, tasks, pyramid_spec):
    """Every task reads the same backbone features and the same pyramid."""
    backbone_features = backbone(image)
    pyramid = None
    if any(task.uses_pyramid for task in tasks):
        pyramid = pyramid_spec.build(backbone_features)
    shared = Features(backbone=backbone_features, pyramid=pyramid, image_shape=backbone.image_shape)
    return {task.name: shared for task in tasks}
