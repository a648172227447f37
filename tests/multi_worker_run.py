"""Trains a small model on fixed global batches and saves its variables, as one process or as
one MultiWorkerMirroredStrategy worker (tests/test_multi_worker.py compares the two).

Run as a script, since the strategy must exist before TensorFlow runs anything:
    python tests/multi_worker_run.py OUT_DIR single DATA/METHOD,...
    python tests/multi_worker_run.py OUT_DIR worker INDEX PORT,PORT,... DATA/METHOD,...
DATA is "reshuffled" (a dataset that draws a new order for each epoch's iterator) or
"epoch_indexed" (`build_pipeline(..., epochs=...)`, read through one iterator, as
scripts/train.py trains); METHOD is "none" (the plain sum of the task losses) or an
aggregator name (e.g. PCGrad). Each pair writes OUT_DIR/<single|worker0|...>_<DATA>_<METHOD>.npz:
every model variable (trainable and not: batch-norm statistics, alphas, task_loss_history)
before and after training, the epoch losses and the optimizer's iteration count.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GLOBAL_BATCH, STEPS, EPOCHS = 16, 3, 2  # two epochs: the epoch boundary is where workers drifted
EXAMPLES = GLOBAL_BATCH * (STEPS - 1) + 4  # the last global batch is a partial one (2 rows a worker)


def main(argv):
    out_dir, role = argv[1], argv[2]
    if role == "worker":
        index, ports, pairs = int(argv[3]), argv[4].split(","), argv[5].split(",")
        os.environ["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index}})
        name = f"worker{index}"
    else:
        index, pairs, name = 0, argv[3].split(","), "single"

    import tensorflow as tf

    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if role == "worker"
                else tf.distribute.get_strategy())
    import keras
    import numpy as np

    import mtl_zoo as mz
    from mtl_zoo.distribution import distribute_global_batches

    count = EXAMPLES
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (count, 32, 32, 3)).astype("float32")
    labels = {"a": rng.integers(0, 3, count), "b": rng.integers(0, 2, count)}
    masks = {"a": (np.arange(count) % 3 != 0).astype("float32"), "b": np.ones(count, "float32")}
    examples = tf.data.Dataset.from_tensor_slices((images, labels, masks))
    for pair in pairs:
        data, _, method = pair.partition("/")
        if data not in ("reshuffled", "epoch_indexed"):
            raise SystemExit(f"Unknown data {data!r} in {pair!r}: use reshuffled or epoch_indexed.")
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = mz.build_model("tiny", [mz.tasks.Classification("a", 3),
                                            mz.tasks.Classification("b", 2)], (32, 32, 3))
            mz.layers.set_fused_batch_norm(model, False)  # as the workers must: tests/distributed_run.py
            initial = model.get_weights()
            # a learning rate read from optimizer.iterations, so that a step counted twice shows
            # in the weights (small enough that fp32 rounding is not amplified, unlike 0.05 with
            # batch-norm statistics over 4 examples)
            schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=STEPS * EPOCHS)
            aggregator = None if method == "none" else mz.weighting.AGGREGATORS[method]()
            model.compile(optimizer=keras.optimizers.SGD(schedule), aggregator=aggregator)
        # a new order each epoch: the workers must draw the same orders as one process does
        if data == "reshuffled":
            batches = examples.shuffle(count, seed=0, reshuffle_each_iteration=True).batch(GLOBAL_BATCH)
            steps_per_epoch = None
        else:
            batches = mz.data.build_pipeline(model, examples, GLOBAL_BATCH, shuffle_buffer=count, seed=0,
                                             epochs=EPOCHS)
            steps_per_epoch = mz.data.steps_per_epoch([count], GLOBAL_BATCH)
        history = model.fit(distribute_global_batches(strategy, batches, GLOBAL_BATCH),
                            epochs=EPOCHS, steps_per_epoch=steps_per_epoch, verbose=0)
        final = model.get_weights()
        np.savez(os.path.join(out_dir, f"{name}_{data}_{method}.npz"),
                 iterations=int(model.optimizer.iterations.numpy()),
                 loss=np.asarray(history.history["loss"]),
                 names=np.asarray([variable.path for variable in model.weights]),
                 trainable=np.asarray([variable.trainable for variable in model.weights]),
                 **{f"initial_{i}": w for i, w in enumerate(initial)},
                 **{f"final_{i}": w for i, w in enumerate(final)})
    print(f"{name} done", flush=True)


if __name__ == "__main__":
    main(sys.argv)
