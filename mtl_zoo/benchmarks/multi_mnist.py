"""MultiMNIST quality: MultiLeNet with EW, uncertainty weighting, MGDA-UB and PCGrad
against single-task LeNets, mean and spread over seeds, with a plot.

The digits are the real MNIST test set made into MultiMNIST pairs by this
package's TFDS builder (`mtl_zoo.benchmarks.digits`): 8,000 training pairs,
2,000 test pairs. Every run trains in a fresh process with the same thread count.
"""

import functools
import os
import tempfile

import numpy as np

from mtl_zoo.benchmarks.table import Table

MULTI_TASK_METHODS = ("EW", "UW", "MGDA-UB", "PCGrad")
TASKS = ("left", "right")
PLOT = "benchmark_multi_mnist.png"


def settings(quick):
    """Seeds, epochs and digit counts of the full run or the quick smoke run."""
    if quick:
        return {"seeds": (0, 1), "epochs": 2, "max_train": 512, "max_test": 256}
    return {"seeds": (0, 1, 2), "epochs": 20, "max_train": None, "max_test": None}


def train_isolated(data, method, seed, epochs, tasks=TASKS):
    """`train_multi_lenet` in a fresh process with 2 TensorFlow threads."""
    from mtl_zoo.benchmarks.measure import run_isolated

    return run_isolated("mtl_zoo.benchmarks.multi_lenet_training", "train_multi_lenet", data=data,
                        method=method, seed=seed, epochs=epochs, threads=2, tasks=list(tasks))


def mean_and_spread(values):
    """(mean, sample standard deviation; 0 for one value)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def delta_m_percent(run, baselines):
    """delta_m (percent) of one multi-task run against the mean single-task accuracies."""
    from mtl_zoo.evaluation.multitask import delta_m

    return 100 * delta_m({f"{task}/accuracy": run[f"{task}_accuracy"] for task in TASKS},
                         {f"{task}/accuracy": baselines[task] for task in TASKS})


def summarize(runs, baseline_runs):
    """Table rows and plot data from per-seed results.

    Args:
        runs: `{method: [result per seed]}` of the multi-task methods.
        baseline_runs: `{task: [result per seed]}` of the single-task models.
    """
    baselines = {task: mean_and_spread([r[f"{task}_accuracy"] for r in baseline_runs[task]])
                 for task in TASKS}
    baseline_means = {task: value[0] for task, value in baselines.items()}

    def cell(mean, spread, scale=1.0, digits=3):
        return f"{scale * mean:.{digits}f} ± {scale * spread:.{digits}f}"

    rows, plotted = [], {}
    for method, results in runs.items():
        accuracies = {task: mean_and_spread([r[f"{task}_accuracy"] for r in results]) for task in TASKS}
        gain = mean_and_spread([delta_m_percent(r, baseline_means) for r in results])
        rows.append([method, *(cell(*accuracies[task]) for task in TASKS), cell(*gain, digits=2)])
        plotted[method] = accuracies
    rows.append(["single-task (one LeNet per task)", *(cell(*baselines[task]) for task in TASKS), "0"])
    return rows, plotted, baseline_means


def run(quick=False):
    """Trains every method and the single-task models over the seeds."""
    from mtl_zoo.benchmarks.digits import digits_origin, write_digit_arrays
    from mtl_zoo.visualization import plot_metric_bars

    setup = settings(quick)
    with tempfile.TemporaryDirectory() as folder:
        data = write_digit_arrays(os.path.join(folder, "digits.npz"), setup["max_train"], setup["max_test"])
        runs = {method: [train_isolated(data, method, seed, setup["epochs"]) for seed in setup["seeds"]]
                for method in MULTI_TASK_METHODS}
        baseline_runs = {task: [train_isolated(data, "single-task", seed, setup["epochs"], tasks=[task])
                                for seed in setup["seeds"]] for task in TASKS}
    rows, plotted, baseline_means = summarize(runs, baseline_runs)
    seeds = len(setup["seeds"])
    description = (
        f"MultiLeNet (`mz.build_multi_lenet`, Sener & Koltun 2018) on MultiMNIST pairs of real MNIST test "
        f"digits (`multi_mnist` config test_set_only: "
        f"{'the first ' + str(setup['max_train']) if quick else '8,000'} training pairs from digits "
        f"0-7999, test accuracy on {'the first ' + str(setup['max_test']) if quick else 'the 2,000'} "
        f"pairs from digits 8000-9999; {digits_origin()}), Adam 1e-3, batch 256, {setup['epochs']} epochs, 2 threads. "
        f"Mean ± standard deviation over {seeds} seeds (weights and shuffling); delta_m is the mean "
        f"relative accuracy gain over the single-task LeNets (mean of their {seeds} seeds), in percent. "
        "UW is uncertainty weighting (Kendall et al. 2018), MGDA-UB is MGDA on the shared "
        "representation (Sener & Koltun 2018), PCGrad is Yu et al. 2020.\n\n"
        "Sener & Koltun trained on 60,000 pairs built from the MNIST training set; here the "
        "training set is 8,000 pairs (the MNIST test set is the only real MNIST on this machine), "
        "so accuracies are lower than theirs and their table is not a yardstick for these rows. "
        "Differences between methods smaller than the spread over seeds mean nothing; with 2,000 "
        "test pairs one standard error of an accuracy near 0.9 is about 0.007.\n\n"
        f"![MultiMNIST accuracies per method](docs/images/{PLOT})")
    plot = functools.partial(
        plot_metric_bars, plotted, baselines=baseline_means,
        title=f"MultiMNIST test accuracy, mean ± sd over {seeds} seeds (dashed: single-task)")
    return Table(f"MultiMNIST quality over {seeds} seeds", description,
                 ["method", "left accuracy", "right accuracy", "delta_m (%)"], rows, plots={PLOT: plot})
