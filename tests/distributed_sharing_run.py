"""Trains a soft-sharing model on 1 device and under MirroredStrategy over 2 logical CPUs.

Run as a script, since logical devices must be set before TensorFlow starts:
    python tests/distributed_sharing_run.py
Prints one JSON line: both runs' losses, the initial soft-sharing penalty, the
largest weight difference between the runs and the largest weight change.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import mtl_zoo as mz  # noqa: E402


def build():
    model = mz.build_model("tiny", [mz.tasks.Classification("first", 3),
                                    mz.tasks.Classification("second", 4)], (32, 32, 3),
                           sharing="soft", sharing_options={"beta": 0.05})
    mz.layers.set_fused_batch_norm(model, False)  # as the replicas must: tests/distributed_run.py
    return model


def main():
    keras.utils.set_random_seed(0)
    reference = build()
    towers = reference.get_layer("soft_sharing").towers
    towers[1].set_weights(mz.Backbone("tiny", (32, 32, 3)).get_weights())  # towers apart
    initial = reference.get_weights()
    penalty = float(tf.add_n(reference.losses))
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (32, 32, 32, 3)).astype("float32")
    labels = {"first": np.arange(32) % 3, "second": np.arange(32) % 4}
    strategies = {"single": tf.distribute.OneDeviceStrategy("/cpu:0"),
                  "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    weights, losses = {}, {}
    for name, strategy in strategies.items():
        with strategy.scope():
            model = build()
            model.set_weights(initial)
            model.compile(optimizer=keras.optimizers.SGD(0.01))
        data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
        losses[name] = model.fit(data, epochs=2, verbose=0).history["loss"]
        weights[name] = model.get_weights()
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(weights["single"], weights["mirrored"]))
    change = max(float(np.max(np.abs(a - b))) for a, b in zip(weights["single"], initial))
    return {"losses": losses, "penalty": penalty, "max_weight_difference": difference,
            "max_weight_change": change}


if __name__ == "__main__":
    print(json.dumps(main()))
