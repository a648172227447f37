"""`TaskAttention`: an MTAN task-specific attention module (Liu et al. 2019)."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="mtl_zoo")
class TaskAttention(keras.layers.Layer):
    """Selects a task's features from one stage of a shared trunk with a soft mask.

    From Liu et al. 2019, "End-to-End Multi-Task Learning with Attention"
    (MTAN), at the granularity of a backbone stage: the mask
    a = sigmoid(BN(conv1x1(ReLU(BN(conv1x1([shared, previous]))))))
    is computed from the shared stage output and the task's attended features
    of the previous attended stage (brought to this resolution and width by a
    strided 3x3 conv, BN and ReLU),
    and the task gets a * shared. Called with `shared` alone at the first stage.

    Args:
        channels: channels of the shared features (and of the output).
        bottleneck: channels of the mask's hidden layer; default channels // 4 (>= 8).

    Example:
    >>> attention = TaskAttention(16)
    >>> shared = keras.ops.ones((2, 8, 8, 16))
    >>> tuple(attention(shared, previous=keras.ops.ones((2, 16, 16, 8))).shape)
    (2, 8, 8, 16)
    """

    def __init__(self, channels, bottleneck=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.bottleneck = int(bottleneck or max(8, self.channels // 4))
        self.previous_down = None
        self.previous_norm = layers.BatchNormalization(synchronized=True, name="previous_bn")
        self.hidden = layers.Conv2D(self.bottleneck, 1, use_bias=False, name="mask_hidden")
        self.hidden_norm = layers.BatchNormalization(synchronized=True, name="mask_hidden_bn")
        self.mask = layers.Conv2D(self.channels, 1, use_bias=False, name="mask")
        self.mask_norm = layers.BatchNormalization(synchronized=True, name="mask_bn")

    def build(self, shared_shape, previous_shape=None):
        joint = self.channels
        if previous_shape is not None:
            stride = max(1, int(previous_shape[1]) // int(shared_shape[1]))
            self.previous_down = layers.Conv2D(self.channels, 3, strides=stride, padding="same",
                                               use_bias=False, name="previous_down")
            self.previous_down.build(previous_shape)
            down_shape = self.previous_down.compute_output_shape(previous_shape)
            self.previous_norm.build(down_shape)
            joint += self.channels
        self.hidden.build(tuple(shared_shape[:-1]) + (joint,))
        self.hidden_norm.build(tuple(shared_shape[:-1]) + (self.bottleneck,))
        self.mask.build(tuple(shared_shape[:-1]) + (self.bottleneck,))
        self.mask_norm.build(tuple(shared_shape[:-1]) + (self.channels,))

    def call(self, shared, previous=None, training=None):
        x = shared
        if previous is not None:
            down = keras.ops.relu(self.previous_norm(self.previous_down(previous), training=training))
            x = keras.ops.concatenate([shared, down], axis=-1)
        x = keras.ops.relu(self.hidden_norm(self.hidden(x), training=training))
        mask = keras.ops.sigmoid(self.mask_norm(self.mask(x), training=training))
        return mask * shared

    def compute_output_shape(self, shared_shape, previous_shape=None):
        return tuple(shared_shape)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "bottleneck": self.bottleneck}
