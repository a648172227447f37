"""XLA (`compile(jit_compile=True)`): the aggregators and the train step read their inputs and
variables at run time, so that XLA compiles them once, and XLA trains as the default does.

An input that XLA needs at compile time (the start of a slice, `matrix[index]` with a
tensor index) is folded into the program as a constant, and every new value compiles the
program anew: PCGrad's shuffled task order did this with the step counter, and MGDA's
`gram[vertex, vertex]` with the whole step, every weight and image included (2 s and 70 s
per MultiLeNet step on a 2-core CPU, against 0.09 s for the plain sum, at commit 5cc46e6).
"""

import contextlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.weighting.aggregator import Activations, GradientAggregator


def run_time_inputs(function, *args):
    """How many inputs the XLA program of `function(*args)` takes when it runs: the
    parameters of its ENTRY computation (an input XLA needs at compile time is a constant
    of the program instead)."""
    hlo = function.experimental_get_compiler_ir(*args)(stage="hlo")
    entry = hlo[hlo.index("\nENTRY"):]
    return len(set(re.findall(r"parameter\((\d+)\)", entry)))


def aggregator_inputs(aggregator, seed=0):
    """Gradients (3 tasks, 2 examples of 6 features), losses, the step and, for the methods
    that read them, the representation's values: the arguments of `aggregator`."""
    rng = np.random.default_rng(seed)
    gradients = rng.standard_normal((3, 12)).astype("float32")
    gradients[1] -= 1.5 * gradients[0]  # a conflict to resolve
    arguments = [tf.constant(gradients), tf.constant(rng.uniform(0.5, 2.0, 3), tf.float32),
                 tf.constant(7, tf.int64)]
    if aggregator.uses_activations:
        arguments.append(tf.constant(rng.standard_normal(12), tf.float32))
    return arguments


def call_aggregator(aggregator, gradients, losses, step, values=None):
    if values is None:
        return aggregator(gradients, losses, step)
    return aggregator(gradients, losses, step, Activations(values, tf.range(12) % 6, tf.constant(6)))


class LargestLoss(GradientAggregator):
    """Follows the task of largest loss, picked by indexing: what the check must catch."""

    def aggregate(self, gradients, losses, step):
        return gradients[tf.argmax(losses)]


def integer_hash_uniform(shape, step, salt=0):
    """[0, 1) numbers from integer arithmetic, which XLA and TensorFlow compute alike (their
    stateless generators draw differently from one seed)."""
    count = tf.reduce_prod(tf.cast(shape, tf.int64))
    keys = (tf.range(count) * 2654435761 + step * 40503 + tf.cast(salt, tf.int64) * 7919) % 1009
    return tf.reshape(tf.cast(keys, tf.float32) / 1009.0, shape)


@pytest.mark.parametrize("name", sorted(mz.weighting.AGGREGATORS))
def test_every_aggregator_takes_its_inputs_at_run_time_and_agrees_with_tensorflow(name, monkeypatch):
    monkeypatch.setattr(GradientAggregator, "random_uniform", staticmethod(integer_hash_uniform))
    aggregator, twin = mz.weighting.AGGREGATORS[name](), mz.weighting.AGGREGATORS[name]()
    aggregator.build(3)
    twin.build(3)  # its own state (GradVac's targets), which the compiled calls leave alone
    arguments = aggregator_inputs(aggregator)
    compiled = tf.function(lambda *a: call_aggregator(aggregator, *a), jit_compile=True)
    state = compiled.get_concrete_function(*arguments).captured_inputs
    assert run_time_inputs(compiled, *arguments) == len(arguments) + len(state)
    for _ in range(2):  # the second call sees the state the first left
        np.testing.assert_allclose(compiled(*arguments).numpy(), call_aggregator(twin, *arguments).numpy(),
                                   rtol=1e-4, atol=1e-5)


def test_the_check_catches_an_input_needed_at_compile_time():
    aggregator = LargestLoss()
    aggregator.build(3)
    arguments = aggregator_inputs(aggregator)
    compiled = tf.function(lambda *a: call_aggregator(aggregator, *a), jit_compile=True)
    assert run_time_inputs(compiled, *arguments) < len(arguments)


def multi_lenet(aggregator=None, jit_compile=False):
    keras.utils.set_random_seed(0)
    model = mz.build_multi_lenet([mz.tasks.Classification(name, 10) for name in ("left", "right")])
    with pytest.warns(UserWarning, match="assertions") if jit_compile else contextlib.nullcontext():
        model.compile(optimizer="adam", aggregator=aggregator, jit_compile=jit_compile)
    return model


def digits_batch(size=8):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (size, 36, 36, 1)), tf.float32)
    labels = {name: tf.constant(rng.integers(0, 10, size)) for name in ("left", "right")}
    return images, labels


@pytest.mark.parametrize("aggregator", [None, mz.weighting.PCGrad(), mz.weighting.MGDA(),
                                        LargestLoss()], ids=["sum", "PCGrad", "MGDA-UB", "indexing"])
def test_the_train_step_reads_every_variable_and_the_batch_at_run_time(aggregator):
    model = multi_lenet(aggregator)
    step = tf.function(model.train_step, jit_compile=True)
    data = digits_batch()
    expected = len(tf.nest.flatten(data)) + len(step.get_concrete_function(data).captured_inputs)
    if isinstance(aggregator, LargestLoss):
        assert run_time_inputs(step, data) < expected
    else:
        assert run_time_inputs(step, data) == expected


def test_the_dense_tasks_train_step_reads_every_variable_and_the_batch_at_run_time():
    from mtl_zoo.cli.train import build_job_model, only_tasks
    from mtl_zoo.convs import DenseParts
    from mtl_zoo.data import build_pipeline
    from mtl_zoo.data.sources import mtl_shapes

    tasks = ["action", "objects", "pose", "segmentation"]  # classification, detection, keypoints, dense
    model = build_job_model(tasks=tasks, backbone="tiny", image_size=32, sharing="hard",
                            sharing_options=None, dense=DenseParts())
    model.compile(optimizer="adam")
    data = next(iter(build_pipeline(model, only_tasks(mtl_shapes.generate(4, 32, seed=0), tasks), 4)))
    step = tf.function(model.train_step, jit_compile=True)
    captured = step.get_concrete_function(data).captured_inputs
    assert run_time_inputs(step, data) == len(tf.nest.flatten(data)) + len(captured)


def test_xla_trains_as_tensorflow_does_and_warns_that_label_checks_are_off():
    images, labels = digits_batch(32)
    weights = []
    for jit_compile in (False, True):
        model = multi_lenet(mz.weighting.PCGrad(), jit_compile=jit_compile)
        model.fit(images, labels, batch_size=8, epochs=1, shuffle=False, verbose=0)
        assert int(model.optimizer.iterations) == 4
        weights.append(model.get_weights())
    for default, compiled in zip(*weights):
        np.testing.assert_allclose(compiled, default, rtol=1e-3, atol=1e-5)
