"""Trains a multi-task model on generated shapes (the main job until the TFDS datasets land).

    python scripts/train.py                       # defaults: tiny backbone, 128 px
    python scripts/train.py --epochs=2 --num_train=256 --model_dir=/tmp/run

Writes `model.keras` (reload with `mtl_zoo.load_model`) and `metrics.json`
(final validation metrics and the training history) into --model_dir.
"""

import json
import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "tiny", "Backbone family (see mtl_zoo.list_backbones()).")
flags.DEFINE_integer("image_size", 128, "Square input size in pixels, a multiple of 32.")
flags.DEFINE_integer("epochs", 8, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_integer("num_train", 3000, "Generated training images.", lower_bound=1)
flags.DEFINE_integer("num_val", 500, "Generated validation images.", lower_bound=1)
flags.DEFINE_float("learning_rate", 2e-3, "Peak Adam learning rate (cosine decay to 0).",
                   lower_bound=0.0)
flags.DEFINE_string("model_dir", "runs/shapes_tiny", "Where the model and metrics are written.")
flags.DEFINE_integer("seed", 0, "Seed of the weights, the data and the shuffling.")


def build_shapes_model(backbone, image_size):
    """The default model: shape count + shape detection + extreme-point keypoints."""
    import mtl_zoo as mz
    from mtl_zoo.data import SHAPE_CLASSES, SHAPE_FLIP_PAIRS

    tasks = [
        mz.tasks.Classification("count", num_classes=3, class_names=["one", "two", "three"]),
        mz.tasks.Detection("shapes", num_classes=len(SHAPE_CLASSES), class_names=list(SHAPE_CLASSES)),
        mz.tasks.Keypoints("extremes", num_keypoints=4, flip_pairs=SHAPE_FLIP_PAIRS,
                           keypoint_names=["top", "left", "right", "bottom"]),
    ]
    return mz.build_model(backbone, tasks, input_shape=(image_size, image_size, 3))


def train(argv=None):
    """Runs the training job with the parsed flags; returns the final validation metrics."""
    import keras

    from mtl_zoo.data import dataset_from_arrays, generate_shapes

    keras.utils.set_random_seed(FLAGS.seed)
    model = build_shapes_model(FLAGS.backbone, FLAGS.image_size)
    train_images, train_labels = generate_shapes(FLAGS.num_train, FLAGS.image_size, seed=FLAGS.seed)
    val_images, val_labels = generate_shapes(FLAGS.num_val, FLAGS.image_size, seed=FLAGS.seed + 10_000)
    train_data = dataset_from_arrays(model, train_images, train_labels, FLAGS.batch_size,
                                     shuffle=True, seed=FLAGS.seed)
    val_data = dataset_from_arrays(model, val_images, val_labels, FLAGS.batch_size)
    steps = FLAGS.epochs * -(-FLAGS.num_train // FLAGS.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(FLAGS.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    print(f"Training {model.name} ({model.count_params():,} parameters, backbone "
          f"{FLAGS.backbone!r}, tasks {model.task_names}) on {FLAGS.num_train} generated images.")
    history = model.fit(train_data, validation_data=val_data, epochs=FLAGS.epochs, verbose=2)
    metrics = model.evaluate(val_data, return_dict=True, verbose=0)
    os.makedirs(FLAGS.model_dir, exist_ok=True)
    model.save(os.path.join(FLAGS.model_dir, "model.keras"))
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"validation": metrics, "history": history.history}, f, indent=2)
    print(f"Validation count accuracy {metrics['count_accuracy']:.3f} (chance 0.333); "
          f"model and metrics written to {FLAGS.model_dir}")
    return metrics


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        train()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def run():
    """Console entry point (`mtl-zoo-train`)."""
    app.run(main)


if __name__ == "__main__":
    run()
