"""TensorFlow's fused batch-norm kernel against Keras's batch-norm ops: training-step time.

Every batch norm of mtl_zoo's models is a `BatchNormalization`
(`mtl_zoo.layers`), which trains with TensorFlow's one-op kernel where Keras 3
uses separate ops. On each backbone, the default 3-task model and the
classification-only model are built twice, once with the fused kernel and once
with `set_fused_batch_norm(model, False)`, and the four are timed in turns in
one fresh process, so each ratio is fair on a shared machine.
"""

from mtl_zoo.benchmarks.table import Table


def measure_models(backbone, image_size, batch_size, steps):
    """`{"TASKS|FUSED": [train_on_batch seconds of each round]}`: the 3-task and the
    action-only model, each with the fused kernel (FUSED "True") and with Keras's ops ("False")."""
    from mtl_zoo.benchmarks.default_model import train_step
    from mtl_zoo.benchmarks.measure import interleaved_seconds
    from mtl_zoo.cli.train import DEFAULT_TASKS

    steps_by_label = {}
    for names in (list(DEFAULT_TASKS), ["action"]):
        for fused in (True, False):
            _, steps_by_label[f"{' + '.join(names)}|{fused}"] = train_step(
                image_size, batch_size, tasks=names, backbone=backbone, fused_batch_norm=fused)
    return interleaved_seconds(steps_by_label, repeats=steps, warmup=2)


def settings(quick):
    """(backbone, batch size, rounds) per measurement, and the image size."""
    if quick:
        return [("tiny", 8, 2)], 32
    return [("tiny", 32, 40), ("mobilenet_v3_small", 32, 30), ("resnet50", 16, 12)], 128


def run(quick=False):
    """Times each backbone's models with both batch-norm implementations."""
    import numpy as np

    from mtl_zoo.benchmarks.measure import round_ratios, run_isolated

    measurements, image_size = settings(quick)
    rows = []
    for backbone, batch_size, rounds in measurements:
        seconds = run_isolated(__name__, "measure_models", backbone=backbone, image_size=image_size,
                               batch_size=batch_size, steps=rounds)
        for tasks in dict.fromkeys(label.split("|")[0] for label in seconds):
            fused, plain = seconds[f"{tasks}|True"], seconds[f"{tasks}|False"]
            ratio = round_ratios(plain, fused)
            rows.append([backbone, batch_size, tasks, np.median(plain) * 1000, np.median(fused) * 1000,
                         ratio[0], f"{ratio[1]:.2f}-{ratio[2]:.2f}"])
    description = (
        f"`scripts/train.py`'s model ({image_size} px, Adam, random weights) on each backbone: the 3 "
        "tasks, and the action (classification) head alone. `Keras ops` trains every batch norm "
        "with Keras 3's own ops (the moments, then subtract, scale and shift), `fused` with "
        "TensorFlow's `FusedBatchNormV3` kernel, as `BatchNormalization` does by default "
        "(keras.applications trunks have theirs converted). The four models of a backbone are timed "
        "in turns in one fresh process, one `train_on_batch` each per round, over the rounds given "
        "after 2 warm-up steps; `ms per step` is the median. `Keras / fused` is the median of the "
        "round-by-round ratios (above 1: the fused kernel is faster), with the first and third "
        "quartiles beside it. Both compute the same outputs, gradients and moving statistics "
        "(tests/test_batch_norm.py).")
    return Table("Batch norm: TensorFlow's fused kernel against Keras's ops", description,
                 ["backbone", "batch", "tasks", "Keras ops ms per step", "fused ms per step",
                  "Keras / fused", "middle half of rounds"], rows)
