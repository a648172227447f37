"""Trains MultiLeNet on MultiMNIST with LibMTL 1.1.5's Trainer and weighting methods; writes JSON.

A standalone script for the LibMTL side of mtl_zoo's comparison. It runs only
under the Python of a separate virtual environment that has PyTorch and LibMTL
(mtl_zoo itself never imports it and does not depend on torch):

    <venv>/bin/python libmtl_runner.py --data multimnist.npz --methods EW,UW,MGDA-UB \\
        --epochs 10 --batch_size 256 --learning_rate 1e-3 --seeds 0,1,2 --threads 2 \\
        --output libmtl.json

Model: the MultiLeNet of Sener & Koltun, "Multi-Task Learning as Multi-Objective
Optimization" (NeurIPS 2018): a shared Conv(10, 5) - MaxPool 2 - ReLU - Conv(20, 5) -
MaxPool 2 - ReLU - Linear(720, 50) - ReLU encoder and, per digit ("left", "right"),
a Linear(50, 50) - ReLU - Linear(50, 10) head; no dropout; cross-entropy per task.
It is trained by LibMTL (Lin et al., "LibMTL: A Python Library for Deep Multi-Task
Learning", JMLR 24(209), 2023): its HPS architecture, CELoss, AccMetric, weighting
classes with their config.py default hyper-parameters, and Trainer.train; Adam with
torch's defaults (no weight decay), no scheduler, CPU, multi_input=False.

Data: an .npz with x_train, x_test (uint8, (N, 36, 36)) and left_/right_train,
left_/right_test (integer digit labels 0-9, (N,)); images become float32 / 255 in
(N, 1, 36, 36). The train loader is shuffled (a generator seeded with the run's
seed) with drop_last=False; its batches are gathered by tensor indexing.

Methods: the names in LibMTL.weighting.__all__ (EW, GradNorm, MGDA, UW, DWA, GLS,
GradDrop, PCGrad, GradVac, IMTL, CAGrad, RLW) plus "MGDA-UB", which is LibMTL's
MGDA with rep_grad=True (gradients taken with respect to the shared representation).
GradDrop runs with rep_grad=True, which it requires; all others with rep_grad=False
(PCGrad, GradVac and CAGrad refuse rep_grad=True, and the loss-weighting methods would
leave the encoder untrained with it). A run that raises is recorded with its error.

Compatibility with the current torch, without changing LibMTL's code:
- `import LibMTL` imports LibMTL.model.resnet, which does
  `from torchvision.models.utils import load_state_dict_from_url` (used only to
  download pretrained ResNets, never here). torchvision is not installed; this
  script puts one module, "torchvision.models.utils", into sys.modules, whose only
  name, load_state_dict_from_url, is torch.hub.load_state_dict_from_url (where
  torchvision once took it from). No other torchvision name is imported by LibMTL,
  LibMTL.weighting, LibMTL.architecture or the Trainer: `torchvision` itself stays
  unimportable.
- Trainer.__init__ hard-codes torch.device('cuda:0'); the Trainer subclass below
  sets the CPU device before LibMTL builds the model.
- The gradient-manipulating methods (AbsWeighting._compute_grad) clear the shared
  gradients between tasks with `self.encoder.zero_grad()` and later assign
  `param.grad.data`; since torch 2.0 that call sets the gradients to None, so the
  assignment fails. MultiLeNetEncoder.zero_grad keeps torch 1.x's default,
  zeroing them in place (set_to_none=False). The optimizer's zero_grad is unchanged.
- Trainer._process_data calls the Python 2 style `.next()` of the data loader's
  iterator, which torch's DataLoader iterators no longer have; the loaders given to
  LibMTL are DataLoaders whose iterators also carry `.next = __next__`.

Timing: LibMTL's performance meter records the wall time (time.time()) just before
and just after each epoch's loop of training steps (data loading, forward, loss,
the weighting's backward, optimizer step and LibMTL's per-step metric update), and
then Trainer.train calls `test` for the epoch's evaluation, which restarts the meter's
clock. The Trainer subclass reads that training-loop time at the start of `test`, so
evaluation is excluded. step_ms is the median over epochs 2..E of that time divided
by the steps per epoch (epoch 1 is warm-up); train_seconds is its sum over all E
epochs. left_accuracy and right_accuracy are computed here after the last epoch: the
model in eval mode, argmax of the logits, over the whole test split.
"""

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import platform
import statistics
import sys
import types
import zipfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler


def supply_torchvision_utils():
    """Registers the one torchvision name that importing LibMTL 1.1.5 needs (see the module docstring)."""
    utils = types.ModuleType("torchvision.models.utils")
    utils.load_state_dict_from_url = torch.hub.load_state_dict_from_url
    sys.modules[utils.__name__] = utils


supply_torchvision_utils()
import LibMTL.weighting  # noqa: E402 (needs the torchvision name above)
from LibMTL import Trainer  # noqa: E402
from LibMTL.architecture import HPS  # noqa: E402
from LibMTL.loss import CELoss  # noqa: E402
from LibMTL.metrics import AccMetric  # noqa: E402
from LibMTL.utils import set_random_seed  # noqa: E402

TASKS = ("left", "right")
IMAGE_SIDE = 36
NUM_CLASSES = 10
SPLITS = ("train", "test")

# The hyper-parameters of LibMTL 1.1.5's weighting methods: the defaults of its
# command-line configuration (LibMTL/config.py), as prepare_args passes them on.
# Methods not listed take none.
WEIGHT_ARGS = {
    "DWA": {"T": 2.0},
    "GradNorm": {"alpha": 1.5},
    "MGDA": {"mgda_gn": "none"},
    "GradVac": {"beta": 0.5},
    "GradDrop": {"leak": 0.0},
    "CAGrad": {"calpha": 0.5, "rescale": 1},
    "RLW": {"dist": "Normal"},
}

# Method name -> (LibMTL weighting class name, rep_grad).
METHODS = {name: (name, name == "GradDrop")
           for name in LibMTL.weighting.__all__ if name != "AbsWeighting"}
METHODS["MGDA-UB"] = ("MGDA", True)


class MultiLeNetEncoder(nn.Module):
    """The shared MultiLeNet encoder: (N, 1, 36, 36) images -> (N, 50) features."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 10, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(10, 20, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(20 * 6 * 6, 50), nn.ReLU())

    def forward(self, images):
        return self.layers(images)

    def zero_grad(self, set_to_none=False):
        """Zeroes the gradients in place, as torch 1.x did by default (see the module docstring)."""
        super().zero_grad(set_to_none=set_to_none)


def digit_head():
    """One task's MultiLeNet head: (N, 50) features -> (N, 10) logits."""
    return nn.Sequential(nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, NUM_CLASSES))


class IndexedBatches(Dataset):
    """Images and per-task labels; indexing with a list of indices gives one batch."""

    def __init__(self, images, labels):
        self.images = images
        self.labels = labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, indices):
        return self.images[indices], {task: labels[indices] for task, labels in self.labels.items()}


class LibMTLDataLoader(DataLoader):
    """A DataLoader whose iterators also have the `.next()` that LibMTL 1.1.5's Trainer calls."""

    def __iter__(self):
        iterator = super().__iter__()
        iterator.next = iterator.__next__
        return iterator


class TimedCPUTrainer(Trainer):
    """LibMTL's Trainer on the CPU, keeping each epoch's training-loop seconds."""

    def _prepare_model(self, *args):
        self.device = torch.device("cpu")  # Trainer.__init__ hard-codes cuda:0
        self.epoch_seconds = []
        super()._prepare_model(*args)

    def test(self, test_dataloaders, epoch=None, mode="test"):
        if epoch is not None:  # called by train(): the meter still holds the training loop's times
            self.epoch_seconds.append(self.meter.end_time - self.meter.beg_time)
        super().test(test_dataloaders, epoch, mode)


def check_arrays(arrays):
    """Raises ValueError unless `arrays` holds well-formed MultiMNIST train and test splits.

    The same contract as `mtl_zoo.benchmarks.digits.load_digit_arrays`, restated here:
    this script runs where neither mtl_zoo nor TensorFlow is installed.
    """
    required = [f"{name}_{split}" for split in SPLITS for name in ("x",) + TASKS]
    missing = [name for name in required if name not in arrays]
    if missing:
        raise ValueError(f"missing arrays {missing}; the file has {sorted(arrays)}.")
    for split in SPLITS:
        images = arrays[f"x_{split}"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise ValueError(f"x_{split} must be uint8 of shape (N, {IMAGE_SIDE}, {IMAGE_SIDE}), "
                             f"got {images.dtype} {images.shape}.")
        if len(images) == 0:
            raise ValueError(f"x_{split} is empty.")
        for task in TASKS:
            labels = arrays[f"{task}_{split}"]
            if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(images),):
                raise ValueError(f"{task}_{split} must be integer labels of shape ({len(images)},), "
                                 f"got {labels.dtype} {labels.shape}.")
            if labels.min() < 0 or labels.max() >= NUM_CLASSES:
                raise ValueError(f"{task}_{split} must hold digits 0-{NUM_CLASSES - 1}, "
                                 f"got {labels.min()}..{labels.max()}.")


def load_multimnist(path):
    """{split: (float32 images (N, 1, 36, 36) in [0, 1], {task: int64 labels})} from an .npz."""
    if not os.path.isfile(path):
        raise ValueError("no such file.")
    if not zipfile.is_zipfile(path):
        raise ValueError("not an .npz (zip) archive.")
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    check_arrays(arrays)
    return {split: (torch.from_numpy(arrays[f"x_{split}"].astype(np.float32) / 255.0).unsqueeze(1),
                    {task: torch.from_numpy(arrays[f"{task}_{split}"].astype(np.int64)) for task in TASKS})
            for split in SPLITS}


def make_loader(split_data, batch_size, seed=None):
    """Batches of one split: shuffled by a generator seeded with `seed`, or in order if None."""
    dataset = IndexedBatches(*split_data)
    if seed is None:
        sampler = SequentialSampler(dataset)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    return LibMTLDataLoader(dataset, batch_size=None,
                            sampler=BatchSampler(sampler, batch_size, drop_last=False))


def build_trainer(method, learning_rate):
    """A TimedCPUTrainer for `method` with freshly initialized MultiLeNet weights."""
    weighting, rep_grad = METHODS[method]
    task_dict = {task: {"metrics": ["Acc"], "metrics_fn": AccMetric(), "loss_fn": CELoss(), "weight": [1]}
                 for task in TASKS}
    return TimedCPUTrainer(
        task_dict=task_dict, weighting=getattr(LibMTL.weighting, weighting), architecture=HPS,
        encoder_class=MultiLeNetEncoder, decoders=nn.ModuleDict({task: digit_head() for task in TASKS}),
        rep_grad=rep_grad, multi_input=False, optim_param={"optim": "adam", "lr": learning_rate},
        scheduler_param=None, weight_args=WEIGHT_ARGS.get(weighting, {}), arch_args={})


def split_accuracy(model, loader):
    """{task: fraction of test images whose argmax logit is the label}."""
    model.eval()
    correct = dict.fromkeys(TASKS, 0)
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images)
            for task in TASKS:
                correct[task] += int((logits[task].argmax(dim=-1) == labels[task]).sum())
    return {task: correct[task] / len(loader.dataset) for task in TASKS}


def train_run(method, seed, data, args):
    """Trains one method with one seed; returns its result record."""
    set_random_seed(seed)
    train_loader = make_loader(data["train"], args.batch_size, seed=seed)
    test_loader = make_loader(data["test"], args.batch_size)
    with contextlib.redirect_stdout(io.StringIO()):  # LibMTL prints a log line per epoch
        trainer = build_trainer(method, args.learning_rate)
        trainer.train(train_loader, test_loader, args.epochs)
    steps = len(train_loader)
    accuracy = split_accuracy(trainer.model, test_loader)
    return {"method": method, "seed": seed,
            "step_ms": 1000 * statistics.median(trainer.epoch_seconds[1:]) / steps,
            "left_accuracy": accuracy["left"], "right_accuracy": accuracy["right"],
            "train_seconds": sum(trainer.epoch_seconds), "steps_per_epoch": steps,
            "epoch_seconds": trainer.epoch_seconds}


def describe(run):
    """One line about a finished run."""
    name = f"{run['method']} seed {run['seed']}"
    if "error" in run:
        return f"{name}: failed: {run['error']}"
    return (f"{name}: step {run['step_ms']:.2f} ms, left {run['left_accuracy']:.4f}, "
            f"right {run['right_accuracy']:.4f}, train {run['train_seconds']:.1f} s")


def settings(args, data):
    """The run's settings, for the JSON result."""
    methods = {method: {"weighting": METHODS[method][0], "rep_grad": METHODS[method][1],
                        "weight_args": WEIGHT_ARGS.get(METHODS[method][0], {})} for method in args.methods}
    return {"data": args.data, "train_size": len(data["train"][0]), "test_size": len(data["test"][0]),
            "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "optimizer": "Adam (torch defaults, no weight decay)", "seeds": args.seeds,
            "device": "cpu", "methods": methods,
            "step_ms": "median over epochs 2..E of the training loop's seconds / steps per epoch"}


def comma_list(convert):
    """An argparse type: a comma-separated list of `convert`ed items."""
    def parse(text):
        return [convert(item.strip()) for item in text.split(",") if item.strip()]
    parse.__name__ = f"comma-separated {convert.__name__}"
    return parse


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", required=True, help="MultiMNIST .npz (see the module docstring)")
    parser.add_argument("--methods", type=comma_list(str), required=True,
                        help=f"comma-separated, from: {', '.join(METHODS)}")
    parser.add_argument("--epochs", type=int, default=10, help="at least 2 (epoch 1 is warm-up)")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--seeds", type=comma_list(int), default=[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--output", required=True, help="JSON result path")
    return parser


def check_args(parser, args):
    """Exits through `parser` on an unknown method or an out-of-range number."""
    unknown = [method for method in args.methods if method not in METHODS]
    if unknown or not args.methods:
        parser.error(f"unknown methods {unknown}; valid: {', '.join(METHODS)}." if unknown
                     else f"--methods is empty; valid: {', '.join(METHODS)}.")
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first is warm-up), got {args.epochs}.")
    if args.batch_size < 1 or args.threads < 1 or not args.seeds:
        parser.error("--batch_size and --threads must be positive and --seeds non-empty.")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    try:
        data = load_multimnist(args.data)
    except (OSError, ValueError) as error:
        parser.error(f"--data {args.data}: {error}")
    torch.set_num_threads(args.threads)
    result = {"library": "LibMTL",
              "versions": {"LibMTL": importlib.metadata.version("LibMTL"), "torch": torch.__version__,
                           "python": platform.python_version()},
              "threads": args.threads, "settings": settings(args, data), "runs": []}
    for method in args.methods:
        for seed in args.seeds:
            try:
                run = train_run(method, seed, data, args)
            except Exception as error:  # a LibMTL method that fails is a result, not the end of the benchmark
                run = {"method": method, "seed": seed, "error": f"{type(error).__name__}: {error}"}
            result["runs"].append(run)
            print(describe(run), flush=True)
            with open(args.output, "w") as output:  # after every run, so a cut-short benchmark keeps its results
                json.dump(result, output, indent=1)


if __name__ == "__main__":
    main()
