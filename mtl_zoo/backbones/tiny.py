"""A tiny convolutional trunk for CPU tests and demos (about 64k parameters)."""

import keras
from keras import layers

from mtl_zoo.layers.batch_norm import BatchNormalization

TINY_WIDTHS = (16, 24, 32, 48, 64)  # channels at strides 2, 4, 8, 16, 32


def build_tiny_convnet(input_shape, weights=None):
    """Builds the tiny trunk: five stride-2 stages of conv + depthwise-separable conv.

    It takes inputs scaled to [0, 1] (preprocessing mode "unit") and has no
    pretrained weights. Its batch normalisation is synchronised across replicas
    under tf.distribute, so a mirrored run matches a single-device run on the
    same global batch; `weights` must be None or a path to a `.weights.h5`
    file saved from the same trunk.

    Example:
    >>> trunk = build_tiny_convnet((64, 64, 3))
    >>> trunk.output_shape
    (None, 2, 2, 64)
    """
    image = keras.Input(input_shape, name="tiny_input")
    x = image
    for stage, width in enumerate(TINY_WIDTHS, start=1):
        x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False,
                          name=f"stage{stage}_down_conv")(x)
        x = BatchNormalization(momentum=0.9, synchronized=True, name=f"stage{stage}_down_bn")(x)
        x = layers.ReLU(name=f"stage{stage}_down_relu")(x)
        x = layers.SeparableConv2D(width, 3, padding="same", use_bias=False,
                                   name=f"stage{stage}_sep_conv")(x)
        x = BatchNormalization(momentum=0.9, synchronized=True, name=f"stage{stage}_sep_bn")(x)
        x = layers.ReLU(name=f"stage{stage}_out")(x)
    trunk = keras.Model(image, x, name="tiny_convnet")
    if weights is not None:
        trunk.load_weights(weights)
    return trunk
