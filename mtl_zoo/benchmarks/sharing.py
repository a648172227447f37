"""Sharing schemes against hard sharing: parameters, train-step time and peak memory.

Every scheme of `mtl_zoo.builders.SHARING_SCHEMES` (default options), and the
variants of `VARIANTS`, on the default CPU model (`scripts/train.py`: tiny
backbone, mtl_shapes action + objects + pose, T = 3 tasks). Each is measured in
a fresh process, one after the other, and reported relative to hard sharing
measured in the same run.
"""

from mtl_zoo.benchmarks.measure import (median_seconds, peak_resident_mb, reset_peak_resident, resident_mb,
                                        run_isolated)
from mtl_zoo.benchmarks.table import Table

# Measured after their scheme: (row label, sharing options).
VARIANTS = {"mmoe": [("mmoe, CGC (task_experts=1)", {"task_experts": 1}),
                     ("mmoe, PLE (task_experts=1, extraction_layers=2)",
                      {"task_experts": 1, "extraction_layers": 2})]}


def measure_scheme(sharing, image_size, batch_size, steps, sharing_options=None):
    """Parameters, median `train_on_batch` seconds and peak memory (MiB above the
    post-import baseline) of the default model with sharing scheme `sharing`."""
    from mtl_zoo.benchmarks.default_model import train_step

    baseline = resident_mb()
    reset_peak_resident()  # a fresh process has no older peak; a reused one (tests) may
    model, step = train_step(image_size, batch_size, sharing=sharing, sharing_options=sharing_options)
    seconds = median_seconds(step, repeats=steps, warmup=2)
    return {"parameters": model.count_params(), "step_seconds": seconds,
            "peak_mb": peak_resident_mb() - baseline}


def run(quick=False):
    """Measures every sharing scheme; rows are relative to hard sharing."""
    from mtl_zoo.builders import SHARING_SCHEMES

    image_size, batch_size, steps = (32, 8, 2) if quick else (128, 32, 20)
    measured = [(label, sharing, options) for sharing in SHARING_SCHEMES
                for label, options in [(sharing, None)] + VARIANTS.get(sharing, [])]
    results = {label: run_isolated(__name__, "measure_scheme", sharing=sharing, sharing_options=options,
                                   image_size=image_size, batch_size=batch_size, steps=steps)
               for label, sharing, options in measured}
    hard = results["hard"]
    rows = [[label, f"{result['parameters']:,}", result["parameters"] / hard["parameters"],
             result["step_seconds"] / hard["step_seconds"], result["peak_mb"] / hard["peak_mb"]]
            for label, result in results.items()]
    description = (
        f"The default model (`scripts/train.py`: tiny backbone, {image_size} px, mtl_shapes "
        f"action + objects + pose, T = 3 tasks) built with each `build_model(sharing=...)` scheme and its default "
        f"options, Adam, batch {batch_size}. Step time: median of {steps} `train_on_batch` steps "
        f"after 2 warm-up steps; peak memory: peak resident set size of a fresh process above "
        f"its size after imports (model, trace and step). Ratios are against hard sharing in the "
        f"same run (hard: {hard['step_seconds'] * 1000:.0f} ms per step, {hard['peak_mb']:.0f} MiB). "
        "soft and cross_stitch hold one backbone (and feature pyramid) per task; mtan adds an "
        "attention module per task and stage and one feature extractor per stage shared by the "
        "tasks; mmoe adds 4 experts per level and a gate per task; "
        "CGC adds one expert of each task's own per level, and PLE stacks a second such layer "
        "(its experts on the first layer's mixtures) with a shared gate between the two.")
    return Table("Sharing schemes (T = 3) relative to hard sharing", description,
                 ["scheme", "parameters", "parameters vs hard", "step time vs hard",
                  "peak memory vs hard"], rows)
