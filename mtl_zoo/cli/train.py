"""Trains a multi-task model on a dataset source: the main job.

    python scripts/train.py                       # tiny backbone on mtl_shapes, 128 px, 8 epochs
    python scripts/train.py --dataset=multi_mnist --tasks=left,right --image_size=32
    python scripts/train.py --sharing=mtan --aggregator=PCGrad --model_dir=runs/mtan

Writes into --model_dir: `model.keras` (reload with `mtl_zoo.load_model`),
`metrics.json` (validation losses, each task's evaluation metrics from
`mtl_zoo.evaluation`, the training history and the flags), TensorBoard logs
under `logs/`, and a `backup/` folder from which a killed run resumes.
"""

import json
import os
import sys

from absl import app, flags

from mtl_zoo.cli import absl_main

FLAGS = flags.FLAGS
DEFAULT_TASKS = ("action", "objects", "pose")
flags.DEFINE_string("dataset", "mtl_shapes", "Dataset source (mtl_zoo.data.sources.list_sources()).")
flags.DEFINE_string("dataset_config", None, "Source config, e.g. mtl_shapes 'default' or 'small'.")
flags.DEFINE_string("data_dir", None, "TFDS data folder (TFDS's default when unset).")
flags.DEFINE_list("tasks", None, "Tasks to train, among the dataset's (mtl_zoo.data.sources."
                  "source_tasks); default: action,objects,pose on mtl_shapes, all tasks otherwise.")
flags.DEFINE_string("backbone", "tiny", "Backbone family (see mtl_zoo.list_backbones()).")
flags.DEFINE_string("sharing", "hard", "Sharing scheme (mtl_zoo.builders.SHARING_SCHEMES).")
flags.DEFINE_string("aggregator", None, "Gradient aggregator, e.g. PCGrad (mtl_zoo.weighting.AGGREGATORS).")
flags.DEFINE_integer("image_size", 128, "Square input size in pixels, a multiple of 32.")
flags.DEFINE_integer("epochs", 8, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_integer("max_train_examples", None, "Train on the first N training examples only.",
                     lower_bound=1)
flags.DEFINE_integer("max_val_examples", None, "Validate on the first N validation examples only.",
                     lower_bound=1)
flags.DEFINE_bool("augment", True, "Random horizontal flips and scale jitter of the training images.")
flags.DEFINE_float("learning_rate", 2e-3, "Peak Adam learning rate (cosine decay to 0).",
                   lower_bound=0.0)
flags.DEFINE_string("model_dir", "runs/mtl_shapes_tiny", "Where the model, metrics and logs go.")
flags.DEFINE_integer("seed", 0, "Seed of the weights, the shuffling and the augmentation.")


def build_job_model(dataset="mtl_shapes", tasks=None, backbone="tiny", image_size=128,
                    sharing="hard"):
    """The model the job trains: `dataset`'s `tasks` on `backbone` with `sharing`.

    With the defaults, the main job's model (mtl_shapes action + object
    detection + pose, T = 3), also the "default CPU model" of the benchmarks.

    Example:
    >>> build_job_model(image_size=64).task_names  # doctest: +SKIP
    ['action', 'objects', 'pose']
    """
    import mtl_zoo as mz

    return mz.build_model(backbone, selected_tasks(dataset, tasks),
                          input_shape=(image_size, image_size, 3), sharing=sharing)


def selected_tasks(dataset, names=None):
    """The tasks called `names` among `dataset`'s tasks, in that order (None: the defaults)."""
    from mtl_zoo.data.sources import source_tasks
    from mtl_zoo.naming import unknown_name_error

    available = {task.name: task for task in source_tasks(dataset)}
    if names is None:
        names = DEFAULT_TASKS if dataset == "mtl_shapes" else list(available)
    for name in names:
        if name not in available:
            raise unknown_name_error(f"task of dataset {dataset!r}", name, available)
    return [available[name] for name in names]


def load_split(split, limit):
    """The raw `(image, labels)` examples of `split` (the first `limit`), cached in memory
    by counting them, and their count."""
    from mtl_zoo.data.sources import load_examples

    examples = load_examples(FLAGS.dataset, split, data_dir=FLAGS.data_dir,
                             **({"config": FLAGS.dataset_config} if FLAGS.dataset_config else {}))
    examples = (examples.take(limit) if limit else examples).cache()
    return examples, int(examples.reduce(0, lambda count, _: count + 1))


def only_tasks(examples, names):
    return examples.map(lambda image, labels: (image, {name: labels[name] for name in names}))


def train():
    """Runs the training job with the parsed flags; returns the evaluation results."""
    import keras

    import mtl_zoo as mz
    from mtl_zoo.data import Augmentation, build_pipeline, raw_batches
    from mtl_zoo.evaluation import evaluate_model, results_table

    keras.utils.set_random_seed(FLAGS.seed)
    model = build_job_model(FLAGS.dataset, FLAGS.tasks, FLAGS.backbone, FLAGS.image_size, FLAGS.sharing)
    aggregator = None
    if FLAGS.aggregator:
        if FLAGS.aggregator not in mz.weighting.AGGREGATORS:
            raise mz.naming.unknown_name_error("aggregator", FLAGS.aggregator, mz.weighting.AGGREGATORS)
        aggregator = mz.weighting.AGGREGATORS[FLAGS.aggregator]()
    train_examples, num_train = load_split("train", FLAGS.max_train_examples)
    val_examples, num_val = load_split("validation", FLAGS.max_val_examples)
    train_examples = only_tasks(train_examples, model.task_names)
    val_examples = only_tasks(val_examples, model.task_names)
    augmentation = Augmentation(horizontal_flip=True, scale_range=(0.8, 1.2)) if FLAGS.augment else None
    train_data = build_pipeline(model, train_examples, FLAGS.batch_size, augmentation=augmentation,
                                shuffle_buffer=num_train, seed=FLAGS.seed)
    val_data = build_pipeline(model, val_examples, FLAGS.batch_size)
    steps = FLAGS.epochs * -(-num_train // FLAGS.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(FLAGS.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), aggregator=aggregator)
    print(f"Training {model.name} ({model.count_params():,} parameters, backbone {FLAGS.backbone!r}, "
          f"sharing {FLAGS.sharing!r}, tasks {model.task_names}) on {num_train} {FLAGS.dataset} images.")
    callbacks = [keras.callbacks.BackupAndRestore(os.path.join(FLAGS.model_dir, "backup")),
                 keras.callbacks.TensorBoard(os.path.join(FLAGS.model_dir, "logs"))]
    history = model.fit(train_data, validation_data=val_data, epochs=FLAGS.epochs, verbose=2,
                        callbacks=callbacks)
    losses = model.evaluate(val_data, return_dict=True, verbose=0)
    results = evaluate_model(model, raw_batches(model, val_examples, FLAGS.batch_size).unbatch())
    model.save(os.path.join(FLAGS.model_dir, "model.keras"))
    flag_values = {flag.name: flag.value for flag in FLAGS.get_flags_for_module(sys.modules[__name__])}
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"evaluation": results, "validation": losses, "history": history.history,
                   "flags": flag_values}, f, indent=2)
    print(results_table(results, f"Validation ({num_val} {FLAGS.dataset} images)"))
    print(f"Model and metrics written to {FLAGS.model_dir}")
    return results


main = absl_main(train)


def run():
    """Console entry point (`mtl-zoo-train`)."""
    app.run(main)


if __name__ == "__main__":
    run()
