"""Evaluates a trained model on a dataset split: every task's metrics, optionally delta_m.

    python scripts/evaluate.py --model=runs/mtl_shapes_tiny
    python scripts/evaluate.py --model=mtl_shapes_tiny_cls_det_pose --split=test --output=test.json
    python scripts/evaluate.py --model=runs/mtl --baselines=runs/mtl/baselines/action,runs/mtl/baselines/objects
    python scripts/evaluate.py --model=runs/mixed --dataset=mtl_shapes,multi_mnist --manual_dir=path/to/mnist

--model is a .keras file, a training run's folder or a preset. Metrics come
from `mtl_zoo.evaluation.evaluate_model` (COCO AP through pycocotools, PCK,
accuracy, mAP, mIoU, depth errors); they are printed as a table and written
as JSON with --output. --baselines names single-task models (run folders or
.keras files) evaluated on the same examples, and adds delta_m (Maninis et al.
2019) over each task's headline metric. A model of tasks from several datasets
(`--dataset=a,b`, as it was trained) is evaluated on each task's own dataset. A
run folder's datasets and their configs come from its run.json unless --dataset
is given.
"""

import json
import os

from absl import flags

from mtl_zoo.cli import absl_main, dataset_flags, run_command
from mtl_zoo.files import check_local_path, check_output_path, write_whole

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file, a training run's folder or a preset.")
flags.DEFINE_string("split", None, "The split to evaluate (default: each dataset's validation split, "
                    "or test where it has none).")
flags.DEFINE_integer("max_examples", None, "Evaluate the first N examples only (of each --dataset).",
                     lower_bound=1)
flags.DEFINE_list("baselines", None, "Single-task models (folders or .keras files), one per task, "
                  "for delta_m.")
flags.DEFINE_string("output", None, "Write the results as JSON to this file.")


def evaluate(model_reference, split=None, max_examples=None, baselines=None):
    """Evaluates the model (and the baselines) on the flagged datasets' `split`, each task on
    the examples of the dataset that labels it.

    Returns:
        `{"evaluation": {task: {metric: value}}, "split", "examples"}` (with several datasets,
        their splits comma-joined, the examples summed, and each one's under "datasets"), plus
        `"baselines"` and `"delta_m"` when baselines are given (None, with the
        reason in `"delta_m_undefined"`, when a baseline scored 0).
    """
    from mtl_zoo.cli.models import load_trained_model
    from mtl_zoo.evaluation import delta_m_record, headline_metrics

    model = load_trained_model(model_reference)
    baseline_models = [load_trained_model(reference) for reference in baselines or []]  # bad ones fail first
    for reference, baseline in zip(baselines or [], baseline_models):
        if len(baseline.task_names) != 1 or baseline.task_names[0] not in model.task_names:
            raise ValueError(f"Baseline {reference} must be a single-task model of one "
                             f"of {model.task_names}; it has tasks {baseline.task_names}.")
    missing = sorted(set(model.task_names) - {baseline.task_names[0] for baseline in baseline_models})
    if baselines and missing:
        raise ValueError(f"delta_m needs a baseline for every task: none for {missing}.")
    loaded = dataset_flags.load_splits(split, max_examples, model.task_names)

    def run(model):  # a baseline on its own task's labels
        return dataset_flags.evaluate_each_on_its_dataset(model, loaded, batch_size=FLAGS.batch_size)

    where = dataset_flags.evaluated_on(loaded)
    outcome = {**{key: value for key, value in where.items() if key != "dataset"}, "evaluation": run(model)}
    if baselines:
        outcome["baselines"], reference = {}, {}
        for baseline in baseline_models:
            results = run(baseline)
            outcome["baselines"].update(results)
            reference.update(headline_metrics(results, baseline))
        outcome.update(delta_m_record(headline_metrics(outcome["evaluation"], model), reference))
    return outcome


def use_datasets_of_run(model_reference):
    """Sets --dataset and --dataset_config to those a run folder's run.json records, unless
    --dataset is given or `model_reference` is no run folder; returns whether it did."""
    from mtl_zoo.cli.model_dir import RUN_FILE

    run_file = os.path.join(model_reference, RUN_FILE)
    if FLAGS["dataset"].present or not os.path.isfile(run_file):
        return False
    try:
        with open(run_file) as f:
            run = json.load(f)
        datasets = run["dataset"].split(",")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{run_file} names no datasets (it is not a training run's record): "
                         "give --dataset.") from None
    FLAGS.dataset = datasets
    if not FLAGS["dataset_config"].present:
        configs = run.get("dataset_config")
        FLAGS.dataset_config = configs.split(",") if configs else None
    return True


def evaluate_flagged_model():
    """Evaluates `--model` as the flags say, prints the tables and writes `--output`."""
    from mtl_zoo.evaluation import format_delta_m, results_table

    if not FLAGS.model:
        raise ValueError("Pass --model=a .keras file, a training run's folder or a preset.")
    if use_datasets_of_run(FLAGS.model):
        configs = ",".join(config or "" for config in FLAGS.dataset_config or [])
        print(f"The run's datasets: --dataset={dataset_flags.flagged_names()}"
              + (f" --dataset_config={configs}" if configs.strip(",") else ""))
    if FLAGS.output:  # before the evaluation, not after it
        check_local_path(FLAGS.output, "--output")
        check_output_path(FLAGS.output, "--output")
    outcome = evaluate(FLAGS.model, FLAGS.split, FLAGS.max_examples, FLAGS.baselines)
    where = {"dataset": dataset_flags.flagged_names(), **outcome}
    print(results_table(outcome["evaluation"], f"{FLAGS.model} on {dataset_flags.described_record(where)}"))
    if "delta_m" in outcome:
        print(results_table(outcome["baselines"], "Single-task baselines"))
        print(f"delta_m (Maninis et al. 2019) over the headline metrics: {format_delta_m(outcome)}")
    if FLAGS.output:
        write_whole(FLAGS.output, json.dumps(outcome, indent=2))
        print(f"Results written to {FLAGS.output}")


main = absl_main(evaluate_flagged_model)


def run():
    """Console entry point (`mtl-zoo-evaluate`, `mtl-zoo evaluate`)."""
    run_command(main)


if __name__ == "__main__":
    run()
