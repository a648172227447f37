"""BatchNormalization computes what Keras's batch norm does, with TensorFlow's fused kernel."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.layers import BatchNormalization, set_fused_batch_norm, with_fused_batch_norm


def _train_calls(layer, batches):
    """Outputs and (input, gamma, beta) gradients of `layer` in training on each batch, in turn."""
    results = []
    for x in batches:
        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, "float32") * tf.range(1.0, y.shape[-1] + 1.0))
        results.append((y, *tape.gradient(loss, [x, layer.gamma, layer.beta])))
    return results


def _op_types(layer, shape, training=True):
    """The op types of a traced training call of `layer` on inputs of `shape`."""
    function = tf.function(lambda x: layer(x, training=training))
    return {op.type for op in function.get_concrete_function(tf.TensorSpec(shape)).graph.get_operations()}


def _batches(shape, count=3):
    rng = np.random.default_rng(0)
    return [(rng.normal(size=shape) * (i + 2.0) + i).astype("float32") for i in range(count)]


@pytest.mark.parametrize("shape", [(8, 5, 5, 3), (2, 3, 4, 6)])
def test_the_fused_kernel_matches_keras_outputs_gradients_and_moving_statistics(shape):
    fused, plain = (BatchNormalization(momentum=0.8, fused=flag) for flag in (True, False))
    for layer in (fused, plain):
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, shape[-1]))
        layer.beta.assign(np.linspace(-1.0, 1.0, shape[-1]))
    batches = _batches(shape)
    for got, want in zip(_train_calls(fused, batches), _train_calls(plain, batches)):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # the moving variance is the batches' population variance, as Keras keeps it (the kernel's
    # own is unbiased, n / (n - 1) larger: 1.04x for the smaller shape, 24 values per channel)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-5)
    assert not np.allclose(fused.moving_variance, 1.0)  # the statistics did move
    # inference uses the moving statistics on both paths
    np.testing.assert_allclose(fused(batches[0], training=False), plain(batches[0], training=False),
                               rtol=1e-5, atol=1e-5)


def test_the_fused_kernel_runs_exactly_where_it_applies():
    fused_op = "FusedBatchNormV3"
    assert fused_op in _op_types(BatchNormalization(), (4, 6, 6, 3))
    assert fused_op not in _op_types(BatchNormalization(), (4, 6, 6, 3), training=False)
    assert fused_op not in _op_types(BatchNormalization(fused=False), (4, 6, 6, 3))
    assert fused_op not in _op_types(BatchNormalization(), (4, 3))  # rank 2
    assert fused_op not in _op_types(BatchNormalization(axis=1), (4, 3, 6, 6))  # channels first
    assert fused_op not in _op_types(BatchNormalization(renorm=True), (4, 6, 6, 3))
    assert fused_op in _op_types(BatchNormalization(epsilon=1.001e-5), (4, 6, 6, 3))  # ResNet's
    for dtype in ("float16", "bfloat16", "float64"):  # variables not float32: Keras's ops
        layer = BatchNormalization(dtype=dtype)
        assert fused_op not in _op_types(layer, (4, 6, 6, 3)), dtype
        assert layer(tf.ones((4, 6, 6, 3), dtype), training=True).dtype == dtype
    masked = BatchNormalization()
    masked.build((4, 6, 6, 3))
    with_mask = tf.function(lambda x, m: masked(x, training=True, mask=m)).get_concrete_function(
        tf.TensorSpec((4, 6, 6, 3)), tf.TensorSpec((4, 6, 6), tf.bool))
    assert fused_op not in {op.type for op in with_mask.graph.get_operations()}
    frozen = BatchNormalization()
    frozen.trainable = False  # a frozen batch norm normalises with its moving statistics
    assert fused_op not in _op_types(frozen, (4, 6, 6, 3))


@pytest.mark.parametrize("policy,dtype,tolerance", [("mixed_float16", "float16", 1e-2),
                                                    ("mixed_bfloat16", "bfloat16", 5e-2)])
def test_under_mixed_precision_it_returns_the_compute_dtype_and_matches_keras(policy, dtype, tolerance):
    with mz.backbones.backbone.global_dtype_policy(policy):
        fused, plain = BatchNormalization(), BatchNormalization(fused=False)
    x = tf.cast(_batches((4, 5, 5, 3), 1)[0], dtype)
    y = fused(x, training=True)
    assert y.dtype == dtype and fused.moving_mean.dtype == tf.float32
    np.testing.assert_allclose(tf.cast(y, "float32"), tf.cast(plain(x, training=True), "float32"),
                               atol=tolerance)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-2)
    # the kernel reads the feature map in its own type: no float32 copy of it is made
    graph = tf.function(lambda x: fused(x, training=True)).get_concrete_function(
        tf.TensorSpec((4, 5, 5, 3), dtype)).graph
    [kernel] = [op for op in graph.get_operations() if op.type == "FusedBatchNormV3"]
    assert kernel.get_attr("T") == tf.as_dtype(dtype) and kernel.get_attr("U") == tf.float32


MIRRORED_SCRIPT = """
import json, tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
from mtl_zoo.layers import BatchNormalization
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
# replica 0 sees values around 0, replica 1 around 10
images = tf.data.Dataset.from_tensors(tf.concat([tf.random.normal((4, 3, 3, 2), seed=1),
                                                 10 + tf.random.normal((4, 3, 3, 2), seed=2)], 0))
batch = next(iter(strategy.experimental_distribute_dataset(images)))
result = {}
for synchronized in (True, False):
    with strategy.scope():
        layer = BatchNormalization(synchronized=synchronized)
        layer.build((None, 3, 3, 2))
    step = tf.function(lambda x: layer(x, training=True))
    outputs = strategy.experimental_local_results(strategy.run(step, (batch,)))
    result[str(synchronized)] = [float(tf.reduce_mean(output)) for output in outputs]
print(json.dumps(result))
"""


def test_synchronized_batch_norm_normalises_over_all_replicas_and_local_over_its_own():
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    means = json.loads(result.stdout.strip().splitlines()[-1])
    # over both replicas the mean is 5: replica 0's output is about -1, replica 1's about +1
    low, high = means["True"]
    assert low < -0.9 and high > 0.9
    # each replica alone: its own output is centred
    np.testing.assert_allclose(means["False"], 0.0, atol=1e-5)


def test_a_converted_model_keeps_names_weights_and_inference_and_saves(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    plain = keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))
    plain.get_layer("bn").moving_mean.assign([0.1, 0.2, 0.3, 0.4])
    converted = with_fused_batch_norm(plain)
    assert type(converted.get_layer("bn")) is BatchNormalization
    assert [w.path for w in converted.weights] == [w.path for w in plain.weights]
    images = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(converted(images), plain(images), rtol=1e-6)
    path = tmp_path / "converted.keras"
    converted.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.get_layer("bn")) is BatchNormalization and reloaded.get_layer("bn").fused
    np.testing.assert_allclose(reloaded(images), plain(images), rtol=1e-6)


@pytest.mark.parametrize("family", ["tiny", "mobilenet_v3_small"])
def test_every_batch_norm_of_a_backbone_is_fused(family):
    trunk = mz.backbones.Backbone(family, (64, 64, 3)).get_layer(f"{family}_trunk")
    norms = [layer for layer in trunk._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is BatchNormalization for layer in norms)


def _conv_bn_model(norm):
    inputs = keras.Input((8, 8, 3))
    x = norm(name="bn")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    return keras.Model(inputs, norm(name="bn_2")(keras.layers.Conv2D(4, 3, name="conv_2")(x)))


def test_weight_files_load_across_keras_and_mtl_zoo_batch_norm(tmp_path):
    keras_model, ours = _conv_bn_model(keras.layers.BatchNormalization), _conv_bn_model(BatchNormalization)
    rng = np.random.default_rng(0)
    keras_model.set_weights([rng.normal(size=w.shape).astype("float32") ** 2 for w in keras_model.weights])
    keras_model.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    for a, b in zip(ours.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    ours.save_weights(tmp_path / "ours.weights.h5")
    fresh = _conv_bn_model(keras.layers.BatchNormalization)
    fresh.load_weights(tmp_path / "ours.weights.h5")
    for a, b in zip(fresh.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_set_fused_batch_norm_switches_every_layer_of_a_model():
    model = _conv_bn_model(BatchNormalization)
    step = lambda: tf.function(lambda x: model(x, training=True)).get_concrete_function(  # noqa: E731
        tf.TensorSpec((2, 8, 8, 3)))
    assert sum(op.type == "FusedBatchNormV3" for op in step().graph.get_operations()) == 2
    assert set_fused_batch_norm(model, False) == 2
    assert not any(op.type == "FusedBatchNormV3" for op in step().graph.get_operations())


def test_it_takes_keras_positional_arguments_and_converts_nested_models():
    assert BatchNormalization(1).axis == 1 and BatchNormalization(-1, 0.5).momentum == 0.5
    inner_input = keras.Input((8, 8, 3))
    inner = keras.Model(inner_input, keras.layers.BatchNormalization(name="inner_bn")(inner_input),
                        name="inner")
    outer_input = keras.Input((8, 8, 3))
    outer = keras.Model(outer_input, keras.layers.BatchNormalization(name="outer_bn")(inner(outer_input)))
    converted = with_fused_batch_norm(outer)
    assert type(converted.get_layer("outer_bn")) is BatchNormalization
    assert type(converted.get_layer("inner").get_layer("inner_bn")) is BatchNormalization
