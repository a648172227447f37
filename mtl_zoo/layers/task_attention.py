"""`TaskAttention`: an MTAN task-specific attention module (Liu et al. 2019)."""

import keras
from keras import layers

from mtl_zoo.checks import check_integer
from mtl_zoo.layers.batch_norm import BatchNormalization


def check_bottleneck(bottleneck, owner="TaskAttention"):
    """`bottleneck` if it is None or an integer >= 1; otherwise a ValueError from `owner`.

    Example:
    >>> check_bottleneck(16)
    16
    """
    return check_integer(bottleneck, "bottleneck", owner=owner, none_means="max(8, channels // 4)")


@keras.saving.register_keras_serializable(package="mtl_zoo")
class TaskAttention(keras.layers.Layer):
    """Selects a task's features from one stage of a shared trunk with a soft mask.

    From Liu et al. 2019, "End-to-End Multi-Task Learning with Attention"
    (MTAN), at the granularity of a backbone stage: the task gets a * shared,
    with the mask
    a = sigmoid(BN(conv1x1(ReLU(BN(conv1x1([shared, previous]))))))
    computed from the shared stage output and `previous`, the task's attended
    features of the previous attended stage after the shared feature extractor
    f of the paper (one per stage, used by every task; `mtl_zoo.sharing.mtan`
    builds it), which brings them to this stage's resolution. Called with
    `shared` alone at the first attended stage.

    Args:
        channels: channels of the shared features (and of the output).
        bottleneck: channels of the mask's hidden layer; None (default) gives
            max(8, channels // 4).

    Example:
    >>> attention = TaskAttention(16)
    >>> shared = keras.ops.ones((2, 8, 8, 16))
    >>> tuple(attention(shared, previous=keras.ops.ones((2, 8, 8, 16))).shape)
    (2, 8, 8, 16)
    >>> attention.bottleneck
    8
    """

    def __init__(self, channels, bottleneck=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = check_integer(channels, "channels", owner="TaskAttention")
        bottleneck = check_bottleneck(bottleneck)
        self.bottleneck = bottleneck if bottleneck is not None else max(8, self.channels // 4)
        self.hidden = layers.Conv2D(self.bottleneck, 1, use_bias=False, name="mask_hidden")
        self.hidden_norm = BatchNormalization(synchronized=True, name="mask_hidden_bn")
        self.mask = layers.Conv2D(self.channels, 1, use_bias=False, name="mask")
        self.mask_norm = BatchNormalization(synchronized=True, name="mask_bn")

    def build(self, shared_shape, previous_shape=None):
        if shared_shape[-1] != self.channels:
            raise ValueError(f"{self.name}: the shared features have {shared_shape[-1]} channels, "
                             f"the layer was made for channels={self.channels}.")
        joint = self.channels
        if previous_shape is not None:
            if tuple(previous_shape[1:-1]) != tuple(shared_shape[1:-1]):
                raise ValueError(
                    f"{self.name}: `previous` must be at the shared features' resolution "
                    f"{tuple(shared_shape[1:-1])}, got {tuple(previous_shape[1:-1])}; bring it there "
                    "first (MTAN's shared feature extractor: a 3x3 conv, BN, ReLU and pooling).")
            joint += int(previous_shape[-1])
        self.hidden.build(tuple(shared_shape[:-1]) + (joint,))
        self.hidden_norm.build(tuple(shared_shape[:-1]) + (self.bottleneck,))
        self.mask.build(tuple(shared_shape[:-1]) + (self.bottleneck,))
        self.mask_norm.build(tuple(shared_shape[:-1]) + (self.channels,))

    def call(self, shared, previous=None, training=None):
        x = shared
        if previous is not None:
            x = keras.ops.concatenate([shared, previous], axis=-1)
        x = keras.ops.relu(self.hidden_norm(self.hidden(x), training=training))
        mask = keras.ops.sigmoid(self.mask_norm(self.mask(x), training=training))
        return mask * shared

    def compute_output_shape(self, shared_shape, previous_shape=None):
        return tuple(shared_shape)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "bottleneck": self.bottleneck}
