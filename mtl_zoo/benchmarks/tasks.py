"""One 3-task model against three single-task models on the same backbone: train-step time.

The default CPU model (`scripts/train.py`: tiny backbone, mtl_shapes action +
objects + pose) and, for each of its tasks, the same backbone with that task's
head alone, with the standard dense heads and, on the small backbones, with
depthwise-separable ones (`head_conv="separable"`). The four models of a
backbone and head kind are timed in turns in one process, so the ratios are
fair on a shared machine. Target: a 3-task step costs at most 1.2x a step of
one single-task model.
"""

from mtl_zoo.benchmarks.table import Table

TARGET_RATIO = 1.2


def measure_models(backbone, head_conv, image_size, batch_size, steps):
    """`{"seconds": {label: median train_on_batch seconds}, "flops": {label: forward FLOPs per
    image}}` for the 3-task and the single-task models."""
    from mtl_zoo.benchmarks.default_model import train_step
    from mtl_zoo.benchmarks.measure import forward_flops, interleaved_median_seconds
    from mtl_zoo.cli.train import DEFAULT_TASKS

    models, steps_by_label = {}, {}
    for names in [list(DEFAULT_TASKS)] + [[name] for name in DEFAULT_TASKS]:
        label = " + ".join(names)
        models[label], steps_by_label[label] = train_step(image_size, batch_size, tasks=names,
                                                          backbone=backbone, head_conv=head_conv)
    return {"seconds": interleaved_median_seconds(steps_by_label, repeats=steps, warmup=2),
            "flops": {label: forward_flops(model) for label, model in models.items()}}


def _verdict(ratio):
    return "meets" if ratio <= TARGET_RATIO else "misses"


def settings(quick):
    """(backbone, dense heads' convs, batch size, steps) per measurement, and the image size."""
    if quick:
        return [("tiny", "separable", 8, 2)], 64
    return [("tiny", "standard", 32, 20), ("tiny", "separable", 32, 20),
            ("mobilenet_v3_small", "standard", 32, 20), ("mobilenet_v3_small", "separable", 32, 20),
            ("resnet50", "standard", 16, 10)], 128


def _summary(backbone, head_conv, seconds, flops, multi):
    """One sentence: the 3-task step against the costliest and the cheapest single-task step."""
    singles = {label: value for label, value in seconds.items() if label != multi}
    costliest, cheapest = seconds[multi] / max(singles.values()), seconds[multi] / min(singles.values())
    share = flops[min(singles, key=singles.get)] / flops[multi]
    return (f"{backbone} with {head_conv} heads: {costliest:.2f}x the costliest single-task step "
            f"({_verdict(costliest)} the target), {cheapest:.2f}x the cheapest ({_verdict(cheapest)} "
            f"it), whose forward pass does {share:.0%} of the 3-task model's FLOPs")


def run(quick=False):
    """Times the models of each backbone; ratios are 3-task step / single-task step."""
    from mtl_zoo.benchmarks.measure import run_isolated
    from mtl_zoo.cli.train import DEFAULT_TASKS

    measurements, image_size = settings(quick)
    multi = " + ".join(DEFAULT_TASKS)
    rows, summaries = [], []
    for backbone, head_conv, batch_size, steps in measurements:
        measured = run_isolated(__name__, "measure_models", backbone=backbone, head_conv=head_conv,
                                image_size=image_size, batch_size=batch_size, steps=steps)
        seconds, flops = measured["seconds"], measured["flops"]
        for label in seconds:
            single = label != multi
            rows.append([backbone, head_conv, batch_size, f"{'single' if single else '3'}-task ({label})",
                         seconds[label] * 1000, seconds[multi] / seconds[label] if single else "-",
                         flops[label] / 1e9, flops[multi] / flops[label] if single else "-"])
        total = sum(value for label, value in seconds.items() if label != multi)
        rows.append([backbone, head_conv, batch_size, "the three single-task models, one step each",
                     total * 1000, seconds[multi] / total, "-", "-"])
        summaries.append(_summary(backbone, head_conv, seconds, flops, multi))
    description = (
        f"The default model's 3 tasks (`scripts/train.py`: mtl_shapes action + objects + pose, "
        f"{image_size} px, Adam, random weights) on each backbone, and the same backbone with each "
        f"task's head alone. Heads: the detection and pose heads are two-conv towers on the shared "
        f"feature pyramid (stride 8); `standard` towers use full 3x3 convs, `separable` ones "
        f"depthwise-separable 3x3 convs (`--head_conv=separable`, the light heads of a mobile "
        f"backbone). Median `train_on_batch` time over the steps given after 2 warm-up steps; the "
        f"four models of a backbone and head kind are timed in turns in one fresh process. `3-task "
        f"step / this` is what one step of the 3-task model costs in steps of that model; the "
        f"target is at most {TARGET_RATIO}x a single-task step. "
        + "; ".join(summaries) + ". GFLOPs: one image's inference forward pass, counted by "
        "TensorFlow's profiler (a multiply-add is 2). Where the dense heads are most of the "
        "arithmetic (the classification model does a small share of the 3-task model's FLOPs), a "
        "3-task step costs the trunk plus every head, and no sharing brings it near the "
        "classification model's step: sharing saves trunks, not heads. The tiny backbone (the "
        "CPU test trunk, 0.02 GFLOPs) is smaller than one standard head.")
    return Table("Training throughput: one 3-task model vs single-task models", description,
                 ["backbone", "heads", "batch", "model", "ms per step", "3-task step / this",
                  "GFLOPs per image", "3-task FLOPs / this"], rows)
