"""mtl_zoo side by side with LibMTL, the PyTorch reference library: MultiLeNet on
MultiMNIST with the weighting methods of LibMTL's release, step time and accuracy.

LibMTL and a CPU build of PyTorch go into a virtual environment of their own
(never a dependency of mtl_zoo), made on first use at `venv_folder()`:
`pip install torch==2.13.0 numpy scipy` (scipy: LibMTL imports it but does not
declare it), then `pip install --no-deps LibMTL==1.1.5` (its metadata asks for
torchvision, which it uses for one name only; `libmtl_runner.py` supplies that
name). The folder appears only once both installs have succeeded. Set
MTL_ZOO_LIBMTL_VENV to choose the folder and MTL_ZOO_LIBMTL_TORCH to ask for
another torch build (2.13.0 is the CPU build on this project's machines; on
others, PyPI's default Linux torch is a CUDA build of several GB).

Both libraries train on the same digit arrays (`mtl_zoo.benchmarks.digits`)
with the same model, optimizer, batch size, epochs, seeds and thread count,
one run after the other in fresh processes.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from mtl_zoo.benchmarks.table import Table

LIBMTL_REQUIREMENT = "LibMTL==1.1.5"
TORCH_REQUIREMENT = os.environ.get("MTL_ZOO_LIBMTL_TORCH", "torch==2.13.0")
RUNNER = pathlib.Path(__file__).with_name("libmtl_runner.py")
THREADS = 2
# LibMTL 1.1.5's weighting methods (LibMTL.weighting.__all__) plus MGDA-UB (its MGDA with rep_grad).
METHODS = ("EW", "UW", "DWA", "GradNorm", "GLS", "RLW", "MGDA", "MGDA-UB", "PCGrad", "CAGrad", "GradVac",
           "IMTL", "GradDrop")


def venv_folder():
    """Where the LibMTL environment lives: $MTL_ZOO_LIBMTL_VENV or ~/.cache/mtl_zoo/libmtl-venv."""
    default = pathlib.Path.home() / ".cache" / "mtl_zoo" / "libmtl-venv"
    return pathlib.Path(os.environ.get("MTL_ZOO_LIBMTL_VENV", default))


def _run(command, what):
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode:
        raise RuntimeError(f"{what} failed (exit {completed.returncode}): {' '.join(map(str, command))}\n"
                           f"{(completed.stdout + completed.stderr)[-3000:]}")
    return completed.stdout


def ensure_libmtl_venv(folder=None):
    """The Python of a virtual environment with torch and LibMTL, made if missing.

    Built in `<folder>.partial` and renamed when complete, so an interrupted
    install never leaves a half-made environment at `folder`.
    """
    folder = pathlib.Path(folder or venv_folder())
    python = folder / "bin" / "python"
    if python.exists():
        return python
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    print(f"Making the LibMTL environment in {folder} ({TORCH_REQUIREMENT}, {LIBMTL_REQUIREMENT})...",
          flush=True)
    _run([sys.executable, "-m", "venv", str(partial)], "Making the virtual environment")
    pip = [str(partial / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(pip + [TORCH_REQUIREMENT, "numpy", "scipy"], "Installing torch")
    _run(pip + ["--no-deps", LIBMTL_REQUIREMENT], "Installing LibMTL")
    partial.rename(folder)
    return python


def run_libmtl(python, data, methods, seeds, epochs, output):
    """Runs `libmtl_runner.py` under `python`; returns its JSON result."""
    _run([str(python), str(RUNNER), f"--data={data}", f"--methods={','.join(methods)}",
          f"--seeds={','.join(map(str, seeds))}", f"--epochs={epochs}", f"--threads={THREADS}",
          f"--output={output}"], "The LibMTL runner")
    with open(output) as result:
        return json.load(result)


def settings(quick):
    """Methods, seeds, epochs and digit counts of the full run or the quick smoke run."""
    if quick:
        return {"methods": ("EW", "PCGrad"), "seeds": (0,), "epochs": 2, "max_train": 512, "max_test": 256}
    return {"methods": METHODS, "seeds": (0, 1, 2), "epochs": 10, "max_train": None, "max_test": None}


def summary(runs, key):
    """'mean ± sd' of `key` over the runs, or the first error."""
    errors = [run["error"] for run in runs if "error" in run]
    if errors:
        return "fails: " + errors[0].splitlines()[0][:80]
    values = np.array([run[key] for run in runs])
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {spread:.3f}"


def median_step_ms(runs):
    values = [run["step_ms"] for run in runs if "error" not in run]
    return float(np.median(values)) if values else None


def compare_rows(libmtl_runs, zoo_runs):
    """One row per method: step times, their ratio and both libraries' accuracies."""
    rows = []
    for method, zoo in zoo_runs.items():
        theirs = [run for run in libmtl_runs if run["method"] == method]
        zoo_ms, libmtl_ms = median_step_ms(zoo), median_step_ms(theirs)
        rows.append([method, libmtl_ms if libmtl_ms is not None else "-", zoo_ms,
                     zoo_ms / libmtl_ms if libmtl_ms else "-",
                     summary(theirs, "left_accuracy"), summary(zoo, "left_accuracy"),
                     summary(theirs, "right_accuracy"), summary(zoo, "right_accuracy")])
    return rows


def run(quick=False):
    """Trains every method with both libraries on the same digits."""
    from mtl_zoo.benchmarks.digits import digits_origin, write_digit_arrays
    from mtl_zoo.benchmarks.multi_mnist import train_isolated

    setup = settings(quick)
    python = ensure_libmtl_venv()
    with tempfile.TemporaryDirectory() as folder:
        data = write_digit_arrays(os.path.join(folder, "digits.npz"), setup["max_train"], setup["max_test"])
        libmtl_runs, zoo_runs = [], {}
        for method in setup["methods"]:  # in turns, method by method
            libmtl = run_libmtl(python, data, [method], setup["seeds"], setup["epochs"],
                                os.path.join(folder, "libmtl.json"))
            libmtl_runs += libmtl["runs"]
            zoo_runs[method] = [train_isolated(data, method, seed, setup["epochs"]) for seed in setup["seeds"]]
    rows = compare_rows(libmtl_runs, zoo_runs)
    ratios = [row[3] for row in rows if isinstance(row[3], float)]
    versions = ", ".join(f"{name} {version}" for name, version in libmtl["versions"].items())
    description = (
        f"MultiLeNet (Sener & Koltun 2018: two 5x5 convolutions, a 50-unit shared layer, a 50-unit "
        f"hidden layer per digit) trained by each library on the same MultiMNIST arrays of real "
        f"MNIST test digits ({'the first ' + str(setup['max_train']) if quick else '8,000'} training "
        f"pairs, test accuracy on {'the first ' + str(setup['max_test']) if quick else 'the 2,000'} "
        f"test pairs; `mtl_zoo.benchmarks.digits`, {digits_origin()}), Adam 1e-3, batch 256, {setup['epochs']} epochs, "
        f"{THREADS} threads in each library (torch.set_num_threads; TensorFlow intra-op), seeds "
        f"{', '.join(map(str, setup['seeds']))}, each run in a fresh process, the two libraries taking "
        f"turns method by method. LibMTL side: "
        f"{versions}, its Trainer with the HPS architecture and its config defaults "
        "(`mtl_zoo/benchmarks/libmtl_runner.py`); mtl_zoo side: `mz.build_multi_lenet` with "
        "`model.fit` and the method of the same name (`mtl_zoo.benchmarks.multi_lenet_training."
        "METHODS`). Step time in both: the training time of each epoch after the first, divided "
        "by its steps; the median over epochs and seeds. `mtl_zoo / LibMTL` below 1 means "
        f"mtl_zoo is faster; over the methods it ranges {min(ratios):.2f}-{max(ratios):.2f}x "
        f"(median {float(np.median(ratios)):.2f}x). Accuracies: mean ± sd over the seeds. Run "
        "it on an otherwise idle machine: taking turns does not cancel other work's load, which "
        "slows torch's threads more than TensorFlow's.\n\n"
        "Where the methods differ: LibMTL's MGDA-UB sums the representation gradient over the "
        "batch before solving; mtl_zoo's uses every example's gradient (Sener & Koltun's "
        "formulation). Both GradDrops follow the paper's batch-separated Algorithm 1 (sign(A)-"
        "weighted gradients summed over the batch, leak 0). LibMTL's IMTL also learns loss scales (IMTL-L); "
        "mtl_zoo's IMTL-G does not. LibMTL 1.1.5's CAGrad reshapes to 3 tasks and fails with 2. "
        "The two libraries initialise weights differently (Keras Glorot-uniform, torch "
        "Kaiming-uniform).")
    return Table("Side by side with LibMTL: MultiLeNet on MultiMNIST", description,
                 ["method", "LibMTL ms/step", "mtl_zoo ms/step", "mtl_zoo / LibMTL", "LibMTL left",
                  "mtl_zoo left", "LibMTL right", "mtl_zoo right"], rows)
