"""Multi-Task Attention Network: a shared trunk with task attention modules (Liu et al. 2019).

Example (attention after P3 and P5 only; one shared f, for P5, used by both tasks):
>>> import mtl_zoo as mz
>>> tasks = [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)]
>>> mtan = mz.build_model("tiny", tasks, (32, 32, 3), sharing="mtan",
...                       sharing_options={"stages": ["P3", "P5"]})
>>> sorted(layer.name for layer in mtan.layers if "attention" in layer.name or "mtan_f" in layer.name)
['a_attention_P3', 'a_attention_P5', 'b_attention_P3', 'b_attention_P5', 'mtan_f_P5']
>>> [layer.name for layer in mtan.get_layer("mtan_f_P5").layers[1:]]  # after its input
['mtan_f_P5_conv', 'mtan_f_P5_bn', 'mtan_f_P5_relu', 'mtan_f_P5_pool']
"""

import keras
from keras import layers

from mtl_zoo.backbones import PYRAMID_STRIDES, level_stride
from mtl_zoo.layers import BatchNormalization, TaskAttention
from mtl_zoo.layers.task_attention import check_bottleneck
from mtl_zoo.sharing.towers import check_stages, features_for_task

# whether the model holds the `Backbone` layer (the backbone's stages, attended between)
HOLDS_BACKBONE_LAYER = False
OPTIONS = {"stages": tuple(PYRAMID_STRIDES), "bottleneck": None, "extractor": "conv"}
EXTRACTORS = ("conv", "resnet_bottleneck")


def check_extractor(kind):
    """`kind` if it names a feature extractor of `EXTRACTORS`, else a ValueError."""
    if kind not in EXTRACTORS:
        raise ValueError(f"Sharing scheme 'mtan': extractor must be one of {EXTRACTORS}, got {kind!r}.")
    return kind


def _conv_bn(x, channels, kernel, name, relu=True):
    x = layers.Conv2D(channels, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = BatchNormalization(synchronized=True, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def shared_extractor(previous_level, level, input_shape, channels, kind="conv"):
    """MTAN's shared feature extractor f for attended stage `level`, named `mtan_f_{level}`.

    Reads the attended features of `previous_level` (shape `input_shape`, without the
    batch), maps them to `channels` at the same resolution, then max-pools by the
    stride ratio of the two levels, as in the paper and its code (lorenmt/mtan:
    `encoder_block_att`, then `max_pool2d`). The convs see every position before the
    pooling, also when stages are skipped (e.g. P2 to P5: pooling by 8). One f per
    stage; every task's attention chain goes through it.

    `kind` "conv": a 3x3 conv, synchronised BN and ReLU (the paper's SegNet MTAN).
    "resnet_bottleneck": a ResNet bottleneck block, as the MTAN code uses on ResNet
    trunks: 1x1 conv to channels // 4, 3x3 conv, 1x1 conv to `channels`, each with BN
    (ReLU after the first two), plus a 1x1 conv + BN projection of the input, then
    ReLU. On wide trunks it is far smaller: about 6.0M parameters instead of 18.9M for
    ResNet-50's P5 (1024 to 2048 channels).

    Example:
    >>> f = shared_extractor("P3", "P4", (8, 8, 32), 48)
    >>> f.output_shape
    (None, 4, 4, 48)
    >>> shared_extractor("P3", "P4", (8, 8, 32), 48, "resnet_bottleneck").count_params()
    4272
    """
    check_extractor(kind)
    ratio = level_stride(level) // level_stride(previous_level)
    name = f"mtan_f_{level}"
    inputs = keras.Input(tuple(input_shape))
    if kind == "conv":
        x = _conv_bn(inputs, channels, 3, name)
    else:
        width = max(1, channels // 4)
        x = _conv_bn(inputs, width, 1, f"{name}_reduce")
        x = _conv_bn(x, width, 3, name)
        x = _conv_bn(x, channels, 1, f"{name}_expand", relu=False)
        shortcut = _conv_bn(inputs, channels, 1, f"{name}_shortcut", relu=False)
        x = layers.ReLU(name=f"{name}_out_relu")(layers.Add(name=f"{name}_add")([x, shortcut]))
    x = layers.MaxPooling2D(ratio, strides=ratio, padding="same", name=f"{name}_pool")(x)
    return keras.Model(inputs, x, name=name)


def task_features(image, backbone, tasks, pyramid_spec, stages, bottleneck, extractor):
    """Runs the backbone once; each task reads, at each level in `stages`, the shared
    features masked by its own `TaskAttention` chain (and the shared ones elsewhere).

    At each attended stage but the first, the task's attention module also reads the
    task's attended features of the previous attended stage, passed through that
    stage's shared feature extractor f (`shared_extractor`: by default a 3x3 conv to the
    stage's width, BN, ReLU, max pooling to its resolution), one per stage for all tasks
    as in the paper. So MTAN adds to hard sharing one f per attended stage but the first,
    and one attention module (two 1x1 convs and their BN) per task and attended stage.

    Options:
        stages: pyramid levels with attention modules (default all).
        bottleneck: hidden channels of the attention masks (None: max(8, channels // 4);
            else an integer >= 1).
        extractor: the shared feature extractors' kind, "conv" (default) or
            "resnet_bottleneck" (for wide trunks such as ResNet-50; see
            `shared_extractor`).
    """
    attended = check_stages(stages, "mtan")
    check_bottleneck(bottleneck, owner="Sharing scheme 'mtan'")
    check_extractor(extractor)
    preprocessing, stage_models = backbone.stages()
    x = preprocessing(image)
    shared = {}
    for level, stage in stage_models.items():
        x = shared[level] = stage(x)
    extractors = {level: shared_extractor(previous, level, shared[previous].shape[1:],
                                          backbone.channels[level], extractor)
                  for previous, level in zip(attended, attended[1:])}
    features = {}
    for task in tasks:
        levels, previous = dict(shared), None
        for level in attended:
            if previous is not None:
                previous = extractors[level](previous)
            attention = TaskAttention(backbone.channels[level], bottleneck,
                                      name=f"{task.name}_attention_{level}")
            previous = levels[level] = attention(shared[level], previous=previous)
        features[task.name] = features_for_task(task, levels, backbone.image_shape, pyramid_spec)
    return features
