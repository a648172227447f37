"""Exports a trained model for serving: a SavedModel with decoding in the graph, and TFLite.

    python scripts/export.py --model=runs/mtl_shapes_tiny --export_dir=exports/shapes
    python scripts/export.py --model=mtl_shapes_tiny_cls_det_pose --export_dir=exports/shapes \\
        --tflite=shapes.tflite

--model is a .keras file, a training run's folder or a preset. The SavedModel
goes to `export_dir/<version>/` (TF Serving's layout, next free version unless
--version) with the signatures `serving_default` (uint8 images of any size),
`serving_bytes` (JPEG / PNG) and `serving_raw`; the outputs are listed after
the export (`mtl_zoo.export.describe_serving_outputs`). --resize=letterbox serves a
model trained on letterboxed images (`build_pipeline(resize="letterbox")`).
"""

from absl import flags

from mtl_zoo.cli import absl_main, run_command

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file, a training run's folder or a preset.")
flags.DEFINE_string("export_dir", None, "The model's base folder for TF Serving.")
flags.DEFINE_integer("version", None, "The version folder (default: the next free one).", lower_bound=1)
flags.DEFINE_string("tflite", None, "Also write a TFLite model (raw and decoded signatures) here.")
flags.DEFINE_enum("resize", "stretch", ["stretch", "letterbox"], "How serving brings images to the "
                  "model input: as the model was trained (scripts/train.py stretches).")
flags.DEFINE_float("pad_value", 0.0, "With --resize=letterbox: the image value of the bands.")


def export_flagged_model():
    """Exports --model into --export_dir (and --tflite); returns the version folder."""
    import mtl_zoo as mz
    from mtl_zoo.cli.models import load_trained_model
    from mtl_zoo.export.tflite import check_tflite_path
    from mtl_zoo.files import check_local_path

    if not FLAGS.model or not FLAGS.export_dir:
        raise ValueError("Pass --model=a .keras file, a run folder or a preset, and --export_dir.")
    check_local_path(FLAGS.export_dir, "--export_dir")  # before the model is loaded
    if FLAGS.tflite:
        check_local_path(FLAGS.tflite, "--tflite")
        check_tflite_path(FLAGS.tflite)  # before the SavedModel is written
    model = load_trained_model(FLAGS.model)
    path = model.export(FLAGS.export_dir, resize=FLAGS.resize, pad_value=FLAGS.pad_value,
                        **({"version": FLAGS.version} if FLAGS.version else {}))
    print(f"SavedModel written to {path}. Serving outputs:")
    print(mz.export.describe_serving_outputs(model, FLAGS.resize, FLAGS.pad_value))
    if FLAGS.tflite:
        mz.export.tflite(model, FLAGS.tflite)
        print(f"TFLite model written to {FLAGS.tflite}")
    return path


main = absl_main(export_flagged_model)


def run():
    """Console entry point (`mtl-zoo-export`, `mtl-zoo export`)."""
    run_command(main)


if __name__ == "__main__":
    run()
