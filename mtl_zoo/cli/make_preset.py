"""Writes a zoo preset (preset.json, weights, model card) from a finished training run.

    python scripts/train.py --dataset=multi_mnist ... --single_task_baselines --model_dir=runs/mm
    python scripts/make_preset.py --run_dir=runs/mm --preset_dir=models/multi_mnist_tiny_cls_det \\
        --description="..." --training_data="..." --limitation="..." --limitation="..."

Every number in the card and preset.json comes from the run's metrics.json; the
card's serving section is generated from the model (`mz.export.describe_serving_outputs`).
"""

from absl import flags

from mtl_zoo.cli import absl_main, run_command

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "The finished run's folder (model.keras, run.json, metrics.json).")
flags.DEFINE_string("preset_dir", None, "The preset folder to write, e.g. models/<name>.")
flags.DEFINE_string("description", None, "One paragraph describing the model.")
flags.DEFINE_string("training_data", None, "The dataset, its config and split sizes.")
flags.DEFINE_multi_string("limitation", [], "A limitation for the card (repeat the flag).")
flags.DEFINE_string("url", None, "Where the weights will be served (default: shipped in the folder).")
flags.DEFINE_string("machine", None, "The machine the run was measured on (default: this one).")


def make_preset():
    """Writes the preset that the flags describe from a finished run (`write_preset`)."""
    from mtl_zoo.benchmarks.measure import machine_description
    from mtl_zoo.files import check_local_path
    from mtl_zoo.presets.card import write_preset

    missing = [name for name in ("run_dir", "preset_dir", "description", "training_data")
               if not FLAGS[name].value]
    if missing:
        raise ValueError(f"Pass {', '.join('--' + name for name in missing)}.")
    check_local_path(FLAGS.preset_dir, "--preset_dir")
    preset = write_preset(FLAGS.run_dir, FLAGS.preset_dir, FLAGS.description, FLAGS.limitation,
                          FLAGS.training_data, FLAGS.url, FLAGS.machine or machine_description())
    print(f"Preset {preset['name']} written to {FLAGS.preset_dir} ({preset['params']:,} parameters, "
          f"weights sha256 {preset['weights']['sha256'][:12]}...).")


main = absl_main(make_preset)


def run():
    """Console entry point (`mtl-zoo make_preset`)."""
    run_command(main)


if __name__ == "__main__":
    run()
