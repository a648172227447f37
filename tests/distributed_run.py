"""Trains models on 1 device and under MirroredStrategy over 2 logical CPUs; compares the weights.

Run as a script, since logical devices must be set before TensorFlow starts:
    python tests/distributed_run.py SCHEME/METHOD,... [POLICY]
    python tests/distributed_run.py all [POLICY]      # every scheme with every method
    python tests/distributed_run.py ... --sensitivity  # and, where needed, a round-off reference
    python tests/distributed_run.py ... --two_pass_batch_norm  # see below
SCHEME: a `build_model` sharing scheme (hard, soft, cross_stitch, mtan, mmoe).
METHOD: none (plain sum), a loss-weighting callback (dwa, gradnorm, rlw,
geometric), uncertainty (learned weights), or an aggregator AGGREGATOR[:MODE].
POLICY: an optional mixed-precision policy (mixed_float16, mixed_bfloat16).
Prints a line per pair as it finishes, then one JSON line: for each
"SCHEME/METHOD", the largest difference of any weight (batch-norm statistics
included) between the two runs and its name, the largest change of a trainable
weight during training, and both runs' losses; or "not_applicable" for a method
that needs parameters shared by the tasks (GradNorm) on soft sharing's separate
towers. With --sensitivity, for each pair whose two runs differ by more than
`AGREEMENT` (a weight, or a loss relative to its size), also the largest weight difference
between two one-device runs whose initial weights differ by a relative 1e-7 (Gaussian): how
far round-off alone carries this model and method, the yardstick for the mirrored difference
(and the perturbed run's losses); pairs that agree within `AGREEMENT` need no yardstick, which
spares a third run. Each model trains 3 epochs of 2 steps (global batch 16), so that
epoch-level methods (DWA) act too.

Both runs normalise with Keras's batch-norm ops (`mz.layers.set_fused_batch_norm(model,
False)`): synchronised batch norm over 2 replicas cannot use TensorFlow's fused kernel, and a
one-device run with the kernel differs from Keras's ops by round-off, which here is enough to
move a pre-activation across 0 and give one ReLU the other gradient (seen: 1.4e-4 with the
plain sum under oneDNN). This script checks the distribution logic; tests/test_batch_norm.py
checks the kernel against Keras's ops.

With --two_pass_batch_norm, synchronised batch norm (the tiny backbone's, MTAN's) computes the
batch variance as the mean of (x - mean)^2 over all replicas instead of Keras's
E[x^2] - E[x]^2 from all-reduced sums, whose rounding depends on the reduction order and is
amplified by E[x^2] / variance. A diagnostic: it swaps a private Keras function.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import mtl_zoo as mz  # noqa: E402
from mtl_zoo.data import dataset_from_arrays, generate_shapes  # noqa: E402

CALLBACKS = {"dwa": mz.weighting.DynamicWeightAverage, "gradnorm": mz.weighting.GradNorm,
             "rlw": lambda: mz.weighting.RandomLossWeighting(seed=3),
             "geometric": mz.weighting.GeometricLossStrategy}
IMAGE_SIZE = 32
LEARNING_RATE = 5e-4  # larger steps make this small model chaotic: float round-off then grows ~10x a step


def build(scheme, method):
    """The model of a pair, with Keras's batch-norm ops on one device too (see the module doc)."""
    tasks = [mz.tasks.Classification("count", 3), mz.tasks.Detection("shapes", 2)]
    model = mz.build_model("tiny", tasks, (IMAGE_SIZE, IMAGE_SIZE, 3), sharing=scheme,
                           uncertainty_weighting=method == "uncertainty")
    mz.layers.set_fused_batch_norm(model, False)
    return model


def aggregator_of(method):
    name, _, mode = method.partition(":")
    return mz.weighting.AGGREGATORS[name](mode=mode or None) if name in mz.weighting.AGGREGATORS else None


def train(scheme, method, strategy, initial, data_arrays):
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = build(scheme, method)
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), aggregator=aggregator_of(method))
    images, labels, masks = data_arrays
    data = dataset_from_arrays(model, images, labels, batch_size=16, masks=masks)
    callbacks = [CALLBACKS[method]()] if method in CALLBACKS else []
    history = model.fit(data, epochs=3, verbose=0, callbacks=callbacks)
    trainable = [any(v is w for w in model.trainable_weights) for v in model.weights]
    return model.get_weights(), [v.path for v in model.weights], trainable, history.history["loss"]


AGREEMENT = 1e-4


def agree(result):
    """Whether the mirrored run matched the one-device run within `AGREEMENT`: every weight
    absolutely, every epoch loss relative to its size."""
    single, mirrored = np.array(result["losses"]["single"]), np.array(result["losses"]["mirrored"])
    return (result["max_weight_difference"] < AGREEMENT
            and bool(np.all(np.abs(mirrored - single) <= AGREEMENT * np.abs(single))))


def perturbed(weights, relative=1e-7):
    """`weights` times (1 + relative * standard normal noise)."""
    rng = np.random.default_rng(0)
    return [w * (1 + relative * rng.standard_normal(w.shape)).astype(w.dtype) for w in weights]


def compare(scheme, method, strategies, data_arrays, sensitivity=False):
    keras.utils.set_random_seed(0)
    initial = build(scheme, method).get_weights()
    weights, losses = {}, {}
    for name, strategy in strategies.items():
        weights[name], paths, trainable, losses[name] = train(scheme, method, strategy, initial, data_arrays)
    differences = [float(np.max(np.abs(a - b))) for a, b in zip(weights["single"], weights["mirrored"])]
    change = max(float(np.max(np.abs(a - b))) for a, b, t in zip(weights["single"], initial, trainable) if t)
    result = {"max_weight_difference": max(differences), "most_different": paths[int(np.argmax(differences))],
              "max_trainable_change": change, "losses": losses}
    if sensitivity and not agree(result):
        reference, _, _, reference_losses = train(scheme, method, strategies["single"], perturbed(initial),
                                                  data_arrays)
        result["perturbed_single_difference"] = max(
            float(np.max(np.abs(a - b))) for a, b in zip(weights["single"], reference))
        result["perturbed_single_losses"] = reference_losses
    return result


def two_pass_synchronized_moments(x, axes, keepdims):
    """Batch mean and variance over all replicas, the variance as the mean of (x - mean)^2."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return tf.nn.moments(x, axes, keepdims=keepdims)

    def global_sum(value):
        return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(value, axis=axes, keepdims=True))

    count = global_sum(tf.ones_like(x))
    mean = tf.math.divide_no_nan(global_sum(x), count)
    variance = tf.math.divide_no_nan(global_sum(tf.square(x - mean)), count)
    if not keepdims:
        mean, variance = tf.squeeze(mean, axes), tf.squeeze(variance, axes)
    return mean, variance


def use_two_pass_batch_norm():
    from keras.src.backend.tensorflow import nn as keras_tf_nn

    if not hasattr(keras_tf_nn, "_compute_moments_sync"):
        raise SystemExit("--two_pass_batch_norm: this Keras has no _compute_moments_sync to replace.")
    keras_tf_nn._compute_moments_sync = two_pass_synchronized_moments


def every_pair():
    """Every sharing scheme with every method (aggregators in their default modes)."""
    from mtl_zoo.builders import SHARING_SCHEMES

    methods = ["none", "uncertainty", *CALLBACKS, *mz.weighting.AGGREGATORS]
    return [f"{scheme}/{method}" for scheme in SHARING_SCHEMES for method in methods]


def main(pairs, policy=None, sensitivity=False):
    known = set(CALLBACKS) | {"none", "uncertainty"}
    methods = [pair.partition("/")[2] for pair in pairs]
    unknown = [m for m in methods if m not in known and m.partition(":")[0] not in mz.weighting.AGGREGATORS]
    if unknown:
        raise SystemExit(f"Unknown methods {unknown}: use none, uncertainty, {sorted(CALLBACKS)} or "
                         f"an aggregator of {sorted(mz.weighting.AGGREGATORS)}[:MODE].")
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    images, labels = generate_shapes(32, image_size=IMAGE_SIZE, seed=5)
    labels = {name: labels[name] for name in ("count", "shapes")}
    masks = {"count": (np.arange(32) % 3 != 0).astype("float32")}
    # one strategy of each kind per process: a second MirroredStrategy would reuse collective keys
    strategies = {"single": tf.distribute.OneDeviceStrategy("/cpu:0"),
                  "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    results = {}
    for pair in pairs:
        scheme, _, method = pair.partition("/")
        try:
            results[pair] = compare(scheme, method, strategies, (images, labels, masks), sensitivity)
        except ValueError as error:  # e.g. GradNorm on soft sharing: no parameters shared by the tasks
            if "no trainable variables shared" not in str(error):
                raise
            results[pair] = {"not_applicable": str(error)}
        print(f"# {pair}: {json.dumps(results[pair])}", flush=True)
    return results


if __name__ == "__main__":
    options = {"--sensitivity", "--two_pass_batch_norm"}
    arguments = [argument for argument in sys.argv[1:] if argument not in options]
    if "--two_pass_batch_norm" in sys.argv:
        use_two_pass_batch_norm()
    requested = every_pair() if arguments[0] == "all" else arguments[0].split(",")
    print(json.dumps(main(requested, arguments[1] if len(arguments) > 1 else None,
                          sensitivity="--sensitivity" in sys.argv)))
