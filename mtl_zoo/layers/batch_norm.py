"""`BatchNormalization`: Keras's batch norm, trained with TensorFlow's fused kernel."""

import keras
import tensorflow as tf


def _replicas_in_sync():
    """How many replicas a tf.distribute strategy runs this step on (1 outside any)."""
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


@keras.saving.register_keras_serializable(package="mtl_zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step runs as one fused TensorFlow op.

    Keras 3 normalises a training batch with separate ops (the moments, then
    subtract, scale and shift), each one pass over the feature map forwards
    and more backwards. TensorFlow's `FusedBatchNormV3` does the forward pass
    in one op and the backward pass in one more (Ioffe & Szegedy 2015, the
    kernel Keras 2 used by default): fewer passes over memory and fewer ops
    to run, which BENCHMARKS.md ("Batch norm") measures per training step.

    The layer computes what Keras's does: the same normalised output, the
    same moving statistics (the population variance of the batch, not the
    kernel's unbiased one), the same weights and config. It shares Keras's
    class name, which `.weights.h5` files key their layers by, so weights
    saved from a model with either layer load into the other.

    It falls back to Keras's own ops where the kernel does not apply: in
    inference, with a mask, on inputs not of rank 4 with channels last, with
    batch renormalisation, with variables that are not float32 (the dtype
    policies "float16", "bfloat16" and "float64"; the mixed policies keep
    float32 variables and take the kernel, which reads and writes their
    float16 or bfloat16 feature maps as they are), and where `synchronized=True`
    must average the statistics over several replicas of a tf.distribute
    strategy.

    Args:
        *args: the arguments of `keras.layers.BatchNormalization`, in its
            order (`axis`, `momentum`, ...).
        fused: use the fused kernel where it applies (default); False gives
            Keras's ops everywhere, e.g. to measure the difference.
            Keyword-only.
        **kwargs: the keyword arguments of `keras.layers.BatchNormalization`.

    Example:
    >>> layer = BatchNormalization(momentum=0.9)
    >>> x = keras.random.normal((8, 4, 4, 3), seed=0) * 3.0 + 1.0
    >>> y = layer(x, training=True)
    >>> [round(float(v), 3) for v in keras.ops.std(y, axis=(0, 1, 2))]
    [1.0, 1.0, 1.0]
    """

    def __init__(self, *args, fused=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fused = bool(fused)

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._kernel_applies(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        # float16 and bfloat16 feature maps (the mixed policies) go in as they are: the kernel
        # reads and writes them in that type and keeps its statistics in float32.
        x = inputs if inputs.dtype in (tf.float16, tf.bfloat16) else tf.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, epsilon=self.epsilon, is_training=True)[:3]
        count = tf.cast(tf.size(x, out_type=tf.int64) // channels, "float32")
        variance = unbiased_variance * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)

    def _kernel_applies(self, inputs, mask):
        """Whether this training call can run as one fused op (see the class docstring)."""
        channels_last = self.axis in (-1, len(inputs.shape) - 1)
        return (self.fused and mask is None and len(inputs.shape) == 4 and channels_last
                and not self.renorm and self.variable_dtype == "float32"
                and not (self.synchronized and _replicas_in_sync() > 1))

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


def with_fused_batch_norm(model):
    """A copy of the functional `model` whose `keras.layers.BatchNormalization` layers are
    `BatchNormalization`, with the same names, configs and weights.

    For trunks built by others, such as keras.applications; nested functional
    and sequential models are converted too, and the copy shares no layer
    with `model`.

    Example:
    >>> inputs = keras.Input((8, 8, 3))
    >>> plain = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(inputs))
    >>> type(with_fused_batch_norm(plain).get_layer("bn")).__name__
    'BatchNormalization'
    """
    def clone(layer):
        if type(layer) is keras.layers.BatchNormalization:
            return BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def set_fused_batch_norm(model, fused):
    """Sets `fused` on every `BatchNormalization` inside `model` and returns their count.

    Takes effect where a training step is traced next: call it before the first
    `fit` or `train_on_batch` (or compile again). False gives Keras's own ops,
    e.g. to measure what the fused kernel saves (BENCHMARKS.md, "Batch norm").
    It holds for this model object: a backbone's trunk is rebuilt from its
    family when a saved model loads, so call it again after loading.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> set_fused_batch_norm(model, False)
    10
    """
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, BatchNormalization)]
    for layer in norms:
        layer.fused = bool(fused)
    return len(norms)
