"""Trains one model on 1 device and under MirroredStrategy over 2 logical CPUs.

Run as a script, since logical devices must be set before TensorFlow starts:
    python tests/distributed_run.py none,AGGREGATOR[:MODE],... [POLICY]
Prints one JSON line: for each method, the largest weight difference between
the two runs, the largest weight change during training, and both runs' losses.
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


def build():
    return mz.build_model("tiny", [mz.tasks.Classification("count", 3),
                                   mz.tasks.Detection("shapes", 2),
                                   mz.tasks.Keypoints("extremes", 4)], (64, 64, 3))


def main(aggregator_name, strategies, policy=None):
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    initial = build().get_weights()
    images, labels = generate_shapes(32, image_size=64, seed=5)
    masks = {"count": (np.arange(32) % 3 != 0).astype("float32")}
    weights, losses = {}, {}
    for name, strategy in strategies.items():
        keras.utils.set_random_seed(1)
        with strategy.scope():
            model = build()
            model.set_weights(initial)
            aggregator = None
            if aggregator_name != "none":
                method, _, mode = aggregator_name.partition(":")
                aggregator = mz.weighting.AGGREGATORS[method](mode=mode or None)
            model.compile(optimizer=keras.optimizers.SGD(0.002), aggregator=aggregator)
        data = dataset_from_arrays(model, images, labels, batch_size=16, masks=masks)
        history = model.fit(data, epochs=1, verbose=0)
        weights[name] = model.get_weights()
        losses[name] = history.history["loss"]
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(weights["single"], weights["mirrored"]))
    change = max(float(np.max(np.abs(a - b))) for a, b in zip(weights["single"], initial))
    return {"max_weight_difference": difference, "max_weight_change": change, "losses": losses}


if __name__ == "__main__":
    methods, policy = sys.argv[1].split(","), (sys.argv[2] if len(sys.argv) > 2 else None)
    # one strategy of each kind per process: a second MirroredStrategy would reuse collective keys
    strategies = {"single": tf.distribute.OneDeviceStrategy("/cpu:0"),
                  "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    print(json.dumps({method: main(method, strategies, policy) for method in methods}))
