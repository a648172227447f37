"""TensorFlow's oneDNN CPU kernels against its Eigen kernels and against XLA: training-step time.

Why `import mtl_zoo` sets TF_ENABLE_ONEDNN_OPTS=1 (`mtl_zoo.cpu_kernels`), and why
`MultiTaskModel.compile` leaves XLA off by default. Two models are trained in
fresh processes with the variable at 0 (Eigen, the TensorFlow default on CPUs
without AVX-512 neural-network extensions), at 1 (oneDNN), and at 1 with the
train step compiled by XLA (`compile(jit_compile=True)`, whose program replaces
TensorFlow's kernels in the step), the settings taking turns, round after round:
MultiLeNet on the MultiMNIST digits (the model, data and step timing of the
`multi_mnist` and `libmtl` sections), and the default 3-task model of
`scripts/train.py` (`default_model.train_step`). Each ratio is the median of
the round-by-round ratios, so a slow spell of the machine falls on both.
"""

import os
import tempfile

import numpy as np

from mtl_zoo.benchmarks.table import Table
from mtl_zoo.cpu_kernels import ONEDNN_ENV

# label -> (TF_ENABLE_ONEDNN_OPTS, jit_compile)
SETTINGS = {"Eigen": ("0", False), "oneDNN": ("1", False), "XLA": ("1", True)}


def default_model_step_ms(image_size, batch_size, steps, jit_compile=False):
    """The median `train_on_batch` time (ms) of the default 3-task model, after 2 warm-up steps."""
    from mtl_zoo.benchmarks.default_model import train_step
    from mtl_zoo.benchmarks.measure import median_seconds

    _, step = train_step(image_size, batch_size, jit_compile=jit_compile)
    return {"step_ms": median_seconds(step, repeats=steps, warmup=2) * 1000}


def settings(quick):
    """Rounds, MultiLeNet methods and epochs, digit counts, and the default model's setting."""
    if quick:
        return {"rounds": 1, "methods": ("EW",), "epochs": 2, "max_train": 512, "max_test": 256,
                "default_model": None}
    return {"rounds": 3, "methods": ("EW", "PCGrad"), "epochs": 6, "max_train": None, "max_test": None,
            "default_model": {"image_size": 128, "batch_size": 32, "steps": 20}}


def measure(setup, data):
    """`{model label: {setting label: [step ms of each round]}}`, the settings taking turns."""
    from mtl_zoo.benchmarks.measure import run_isolated

    runs = {f"MultiLeNet, {method}": ("mtl_zoo.benchmarks.multi_lenet_training", "train_multi_lenet",
                                      {"data": data, "method": method, "seed": 0, "epochs": setup["epochs"],
                                       "threads": 2})
            for method in setup["methods"]}
    if setup["default_model"]:
        options = setup["default_model"]
        runs[f"default 3-task model, {options['image_size']} px, batch {options['batch_size']}"] = (
            "mtl_zoo.benchmarks.cpu_kernels", "default_model_step_ms", options)
    steps = {label: {setting: [] for setting in SETTINGS} for label in runs}
    for _ in range(setup["rounds"]):
        for label, (module, function, kwargs) in runs.items():
            for setting, (onednn, jit_compile) in SETTINGS.items():
                result = run_isolated(module, function, environment={ONEDNN_ENV: onednn},
                                      jit_compile=jit_compile, **kwargs)
                steps[label][setting].append(result["step_ms"])
    return steps


def _ratio_cells(numerator, denominator):
    """The median of the round-by-round ratios and their range, as table cells."""
    ratios = np.asarray(numerator) / np.asarray(denominator)
    return [float(np.median(ratios)), f"{ratios.min():.2f}-{ratios.max():.2f}"]


def run(quick=False):
    """Times each model with each setting."""
    from mtl_zoo.benchmarks.digits import digits_origin, write_digit_arrays

    setup = settings(quick)
    with tempfile.TemporaryDirectory() as folder:
        data = write_digit_arrays(os.path.join(folder, "digits.npz"), setup["max_train"], setup["max_test"])
        steps = measure(setup, data)
    rows = []
    for label, by_setting in steps.items():
        rows.append([label] + [float(np.median(by_setting[setting])) for setting in SETTINGS]
                    + _ratio_cells(by_setting["Eigen"], by_setting["oneDNN"])
                    + _ratio_cells(by_setting["XLA"], by_setting["oneDNN"]))
    description = (
        f"Training-step time with TensorFlow's Eigen kernels (`{ONEDNN_ENV}=0`), its oneDNN "
        f"kernels (`{ONEDNN_ENV}=1`, what `import mtl_zoo` sets when the variable is unset; "
        f"TensorFlow sets it itself on CPUs with AVX-512 VNNI or AMX), and the train step "
        f"compiled by XLA (`compile(jit_compile=True)`, with the variable at 1: XLA's program "
        f"replaces TensorFlow's kernels in the step; `MultiTaskModel.compile` leaves it off by "
        f"default), each "
        f"run in a fresh process, the three settings taking turns over {setup['rounds']} round(s). "
        f"MultiLeNet: as in the `libmtl` section ({setup['epochs']} epochs on "
        f"{'the first ' + str(setup['max_train']) if quick else '8,000'} MultiMNIST training pairs, "
        f"{digits_origin()}; batch 256, 2 threads, seed 0; ms per step is the median epoch time "
        "after the first, per step). "
        + ("The default model: `scripts/train.py`'s tiny backbone with action + objects + pose, "
           "Adam, the median of 20 `train_on_batch` steps after 2 warm-up steps, TensorFlow's "
           "default threads. " if setup["default_model"] else "")
        + "`Eigen / oneDNN` above 1 means oneDNN is faster, `XLA / oneDNN` above 1 that XLA is "
        "slower: medians of the round-by-round ratios, with their range. XLA's time leaves out "
        "its compilation (in the warm-up steps and the first epoch).")
    return Table("CPU kernels: oneDNN against Eigen and XLA", description,
                 ["model"] + [f"{setting} ms/step" for setting in SETTINGS]
                 + ["Eigen / oneDNN", "Eigen / oneDNN range", "XLA / oneDNN", "XLA / oneDNN range"], rows)
