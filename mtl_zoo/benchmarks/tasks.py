"""One 3-task model against three single-task models on the same backbone: train-step time.

The default CPU model (`scripts/train.py`: tiny backbone, mtl_shapes action +
objects + pose) and, for each of its tasks, the same backbone with that task's
head alone, with standard dense convs and, on the small backbones, with
depthwise-separable ones in the heads (`head_conv="separable"`) and in the
feature pyramid too (`pyramid_conv="separable"`), and with separable heads
on a pyramid 32 channels wide instead of 64, and with the heads narrowed too.
The four models of a backbone and dense parts are timed in turns in one process,
in each of 3 fresh processes, and each ratio is the median of the round-by-round
ratios of all of them, so it is fair on a shared machine.
Target: a 3-task step costs at most 1.2x a step of one single-task model.
"""

from mtl_zoo.benchmarks.table import Table

TARGET_RATIO = 1.2


# The dense parts measured: label -> (head_conv, pyramid_conv, heads' channels, pyramid's channels).
DENSE_PARTS = {"standard": ("standard", "standard", 64, 64),
               "separable heads": ("separable", "standard", 64, 64),
               "separable heads and pyramid": ("separable", "separable", 64, 64),
               "separable heads, 32-channel pyramid": ("separable", "standard", 64, 32),
               "separable heads, 32 channels": ("separable", "standard", 32, 32)}


def dense_parts(label):
    """The `mtl_zoo.convs.DenseParts` of a `DENSE_PARTS` label.

    Example:
    >>> dense_parts("separable heads, 32-channel pyramid")[1:]
    (64, 'standard', 32)
    """
    from mtl_zoo.convs import DenseParts

    head_conv, pyramid_conv, head_channels, pyramid_channels = DENSE_PARTS[label]
    return DenseParts(head_conv, head_channels, pyramid_conv, pyramid_channels)


def measure_models(backbone, dense, image_size, batch_size, steps, count_flops=True):
    """`{"seconds": {label: [train_on_batch seconds of each round]}, "flops": {label: forward
    FLOPs per image}}` for the 3-task and the single-task models ("flops" only with
    `count_flops`)."""
    from mtl_zoo.benchmarks.default_model import train_step
    from mtl_zoo.benchmarks.measure import forward_flops, interleaved_seconds
    from mtl_zoo.cli.train import DEFAULT_TASKS

    models, steps_by_label = {}, {}
    for names in [list(DEFAULT_TASKS)] + [[name] for name in DEFAULT_TASKS]:
        label = " + ".join(names)
        models[label], steps_by_label[label] = train_step(
            image_size, batch_size, tasks=names, backbone=backbone, dense=dense_parts(dense))
    measured = {"seconds": interleaved_seconds(steps_by_label, repeats=steps, warmup=2)}
    if count_flops:
        measured["flops"] = {label: forward_flops(model) for label, model in models.items()}
    return measured


def _verdict(ratio):
    """How a `(median, first quartile, third quartile)` round ratio stands against the target."""
    median, low, high = ratio
    if high <= TARGET_RATIO:
        return "meets the target"
    if low > TARGET_RATIO:
        return "misses the target"
    return (f"{'meets' if median <= TARGET_RATIO else 'misses'} the target at the median, the "
            f"middle half of its rounds spanning it")


def settings(quick):
    """(backbone, dense parts (a `DENSE_PARTS` label), batch size, rounds per process) per
    measurement, the image size, and how many fresh processes measure each."""
    if quick:
        return [("tiny", "separable heads and pyramid", 8, 2)], 32, 1
    return [("tiny", "standard", 32, 30), ("tiny", "separable heads and pyramid", 32, 30),
            ("tiny", "separable heads, 32 channels", 32, 30),
            ("mobilenet_v3_small", "standard", 32, 30), ("mobilenet_v3_small", "separable heads", 32, 30),
            ("mobilenet_v3_small", "separable heads and pyramid", 32, 30),
            ("mobilenet_v3_small", "separable heads, 32-channel pyramid", 32, 30),
            ("mobilenet_v3_small", "separable heads, 32 channels", 32, 30),
            ("resnet50", "standard", 16, 10)], 128, 3


def measure_in_processes(processes, **kwargs):
    """`measure_models(**kwargs)` in `processes` fresh processes, one after the other:
    `{"seconds": {label: rounds of all processes, in order}, "processes": [each process's
    seconds], "flops": ...}`. One process's ratios can sit several hundredths off another's on
    a shared machine, so each verdict rests on the rounds of all of them. The first process
    alone counts the FLOPs, which do not change."""
    from mtl_zoo.benchmarks.measure import run_isolated

    runs = [run_isolated(__name__, "measure_models", count_flops=not index, **kwargs)
            for index in range(processes)]
    pooled = {label: [second for run in runs for second in run["seconds"][label]]
              for label in runs[0]["seconds"]}
    return {"seconds": pooled, "processes": [run["seconds"] for run in runs], "flops": runs[0]["flops"]}


def _summary(backbone, dense, ratios, flops, multi):
    """One sentence: the 3-task step against the costliest and the cheapest single-task step."""
    by_ratio = sorted(ratios, key=lambda label: ratios[label][0])
    costliest, cheapest = by_ratio[0], by_ratio[-1]
    return (f"{backbone} ({dense}): {ratios[costliest][0]:.2f}x the costliest "
            f"single-task step ({costliest}; {_verdict(ratios[costliest])}), "
            f"{ratios[cheapest][0]:.2f}x the cheapest ({cheapest}; {_verdict(ratios[cheapest])}), "
            f"whose forward pass does {flops[cheapest] / flops[multi]:.0%} of the 3-task model's FLOPs")


def _quartiles(ratio):
    return f"{ratio[1]:.2f}-{ratio[2]:.2f}"


def _process_medians(processes, numerator, denominator):
    """Each process's median round ratio, "a / b / c"."""
    from mtl_zoo.benchmarks.measure import round_ratios

    return " / ".join(f"{round_ratios(numerator(run), denominator(run))[0]:.2f}" for run in processes)


def run(quick=False):
    """Times the models of each backbone; ratios are 3-task step / single-task step."""
    import numpy as np

    from mtl_zoo.benchmarks.measure import round_ratios
    from mtl_zoo.cli.train import DEFAULT_TASKS

    measurements, image_size, processes = settings(quick)
    multi = " + ".join(DEFAULT_TASKS)
    rows, summaries = [], []
    for backbone, dense, batch_size, rounds in measurements:
        measured = measure_in_processes(processes, backbone=backbone, dense=dense,
                                        image_size=image_size, batch_size=batch_size, steps=rounds)
        seconds, flops = measured["seconds"], measured["flops"]
        singles = [label for label in seconds if label != multi]
        ratios = {label: round_ratios(seconds[multi], seconds[label]) for label in singles}
        rows.append([backbone, dense, batch_size, f"3-task ({multi})",
                     np.median(seconds[multi]) * 1000, "-", "-", "-", flops[multi] / 1e9, "-"])
        for label in singles:
            rows.append([backbone, dense, batch_size, f"single-task ({label})",
                         np.median(seconds[label]) * 1000, ratios[label][0], _quartiles(ratios[label]),
                         _process_medians(measured["processes"], lambda run: run[multi],
                                          lambda run, label=label: run[label]),
                         flops[label] / 1e9, flops[multi] / flops[label]])
        all_singles = np.sum([seconds[label] for label in singles], axis=0)
        together = round_ratios(seconds[multi], all_singles)
        rows.append([backbone, dense, batch_size, "the three single-task models, one step each",
                     np.median(all_singles) * 1000, together[0], _quartiles(together),
                     _process_medians(measured["processes"], lambda run: run[multi],
                                      lambda run: np.sum([run[label] for label in singles], axis=0)),
                     "-", "-"])
        summaries.append(_summary(backbone, dense, ratios, flops, multi))
    description = (
        f"The default model's 3 tasks (`scripts/train.py`: mtl_shapes action + objects + pose, "
        f"{image_size} px, Adam, random weights) on each backbone, and the same backbone with each "
        f"task's head alone. Dense convs: the detection and pose heads are two-conv towers on the "
        f"shared feature pyramid (stride 8), whose levels end in a 3x3 conv; `standard` uses full "
        f"3x3 convs there, `separable heads` depthwise-separable ones in the heads "
        f"(`--head_conv=separable`, the SSDLite heads of a mobile backbone), and `separable heads "
        f"and pyramid` in the pyramid too (`--pyramid_conv=separable`, FPNLite); `separable heads, "
        f"32-channel pyramid` narrows the standard pyramid from 64 to 32 channels under separable "
        f"heads (`--head_conv=separable --pyramid_channels=32`), and `separable heads, 32 channels` "
        f"the heads too (`--head_channels=32` as well); both cost detection accuracy, and the "
        f"second pose accuracy too (README, Tasks). The single-task "
        f"action model reads no pyramid. The four models of a backbone and dense parts are timed in "
        f"turns in a fresh process, one `train_on_batch` each per round, over {measurements[0][3]} "
        f"rounds ({measurements[-1][3]} for {measurements[-1][0]}) after 2 warm-up steps, and that "
        f"in {processes} such processes one after the other; `ms per step` is the median over all "
        f"their rounds. `3-task step / this` is what one step of the 3-task "
        f"model costs in steps of that model: the median of the round-by-round ratios of all the "
        f"processes (each round's two steps ran back to back, so the machine's speed of the moment "
        f"cancels), with the first and third quartiles of those ratios beside it, and the median "
        f"of each process's rounds alone after them: on this shared machine one process's ratio "
        f"can sit several hundredths off another's, which moves a ratio near the target across "
        f"it. The target is at most "
        f"{TARGET_RATIO}x a single-task step. "
        + "; ".join(summaries) + ". GFLOPs: one image's inference forward pass, counted by "
        "TensorFlow's profiler (a multiply-add is 2). Where the dense heads are most of the "
        "arithmetic (the classification model does a small share of the 3-task model's FLOPs), a "
        "3-task step costs the trunk plus every head, and no sharing brings it near the "
        "classification model's step: sharing saves trunks, not heads. The tiny backbone (the "
        "CPU test trunk, 0.02 GFLOPs) is smaller than one standard head.")
    return Table("Training throughput: one 3-task model vs single-task models", description,
                 ["backbone", "dense parts", "batch", "model", "ms per step", "3-task step / this",
                  "middle half of rounds", "each process", "GFLOPs per image", "3-task FLOPs / this"],
                 rows)
