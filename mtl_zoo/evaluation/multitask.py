"""The multi-task performance delta_m against single-task baselines (Maninis et al. 2019).

delta_m = (1 / T) sum_i (-1)^l_i (M_m,i - M_b,i) / M_b,i, with l_i = 1 when a
lower value of metric i is better, as in the survey of Vandenhende et al.
2021. Positive means the multi-task model is better on average. The mean runs
over the metrics given: pass one headline metric per task for the survey's
per-task form (`headline_metrics`), or several per task to average over all of
them (as Navon et al. 2022 do).
"""

import fnmatch
import math
import numbers

HIGHER = "higher"
LOWER = "lower"

# Which way each known metric improves; keys may be glob patterns (fnmatch, case-sensitive).
METRIC_DIRECTIONS = {
    "accuracy": HIGHER, "top*_accuracy": HIGHER, "mAP": HIGHER,
    "AP": HIGHER, "AP50": HIGHER, "AP75": HIGHER, "APs": HIGHER, "APm": HIGHER, "APl": HIGHER,
    "AR*": HIGHER, "pck": HIGHER, "mIoU": HIGHER, "pixel_accuracy": HIGHER,
    "delta1": HIGHER, "delta2": HIGHER, "delta3": HIGHER,
    "abs_rel": LOWER, "rmse": LOWER, "mean_error": LOWER, "mae": LOWER, "loss": LOWER, "*_loss": LOWER,
}


# Entries of `evaluate_model` results that describe the evaluation data, not the model.
DIAGNOSTICS = ("labels_without_positives",)
# What COCO's statistics hold when undefined (e.g. APs with no small object in the data).
COCO_UNDEFINED = -1.0


class UndefinedDeltaM(ValueError):
    """delta_m has no value for these results (a baseline metric of 0, or no defined metric)."""


def metric_direction(name, directions=None):
    """"higher" or "lower": which way metric `name` improves.

    `name` may carry a task prefix ("depth/rmse"); `directions` (names or glob
    patterns of the metric, or of the whole "task/metric" name) overrides or
    extends `METRIC_DIRECTIONS`: its entries are looked up first.

    Example:
    >>> metric_direction("depth/rmse"), metric_direction("top5_accuracy")
    ('lower', 'higher')
    >>> metric_direction("seg/ARE", {"ARE": "lower"})  # "AR*" alone would say higher
    'lower'
    """
    metric = name.rsplit("/", 1)[-1]
    for pattern, direction in (directions or {}).items():
        if direction not in (HIGHER, LOWER):
            raise ValueError(f"Direction of {pattern!r} must be {HIGHER!r} or {LOWER!r}, "
                             f"got {direction!r}.")
    for table in (directions or {}, METRIC_DIRECTIONS):
        for pattern, direction in table.items():
            if fnmatch.fnmatchcase(metric, pattern) or fnmatch.fnmatchcase(name, pattern):
                return direction
    known = sorted({**METRIC_DIRECTIONS, **(directions or {})})
    raise ValueError(f"Unknown direction for metric {name!r}: say whether higher or lower is better "
                     f"with directions={{{metric!r}: 'higher' | 'lower'}}. "
                     f"Known: {', '.join(known)}.")


def flatten_results(results):
    """`{task: {metric: value}}` to `{"task/metric": value}`.

    Example:
    >>> flatten_results({"seg": {"mIoU": 0.5}})
    {'seg/mIoU': 0.5}
    """
    return {f"{task}/{metric}": value for task, metrics in results.items()
            for metric, value in metrics.items()}


def _flat(results):
    """`results` as `{"task/metric": value}`, whether nested (`evaluate_model`'s) or flat."""
    return flatten_results(results) if any(isinstance(value, dict) for value in results.values()) else results


def delta_m(multi_task, baselines, directions=None):
    """The mean relative gain of the multi-task model over the single-task baselines.

    Args:
        multi_task: `{metric: value}` of the multi-task model (names may be
            "task/metric"), or `{task: {metric: value}}` as `evaluate_model`
            returns it (flattened here with `flatten_results`).
        baselines: the single-task models' results, in the same form, same keys.
        directions: `{metric or pattern: "higher" | "lower"}` for metrics not in
            `METRIC_DIRECTIONS`, or to override it (see `metric_direction`).

    Returns:
        delta_m as a fraction (0.05 = the multi-task model is 5% better on average).

    Entries in `DIAGNOSTICS` (counts about the data) and metrics undefined for both
    models (COCO's -1, e.g. APs when no object is small) are left out of the mean, so
    `delta_m` of two `evaluate_model` results works.

    Example:
    >>> delta_m({"seg/mIoU": 0.55, "depth/rmse": 0.9}, {"seg/mIoU": 0.5, "depth/rmse": 1.0})
    0.10000000000000003
    >>> delta_m({"seg": {"mIoU": 0.55}}, {"seg": {"mIoU": 0.5}})
    0.10000000000000009
    """
    multi_task, baselines = _flat(multi_task), _flat(baselines)
    if not multi_task:
        raise ValueError("delta_m needs at least one metric.")
    if set(multi_task) != set(baselines):
        raise ValueError(f"delta_m compares the same metrics: only the multi-task results have "
                         f"{sorted(set(multi_task) - set(baselines))}, only the baselines "
                         f"{sorted(set(baselines) - set(multi_task))}.")
    gains = []
    for name, value in multi_task.items():
        if name.rsplit("/", 1)[-1] in DIAGNOSTICS:
            continue
        for what, number in (("multi-task", value), ("baseline", baselines[name])):
            if isinstance(number, bool) or not isinstance(number, numbers.Real):
                raise ValueError(f"delta_m: the {what} value of {name!r} is {number!r}, not a number.")
            if not math.isfinite(number):  # a diverged model's
                raise UndefinedDeltaM(f"delta_m: the {what} value of {name!r} is {number}.")
        baseline = float(baselines[name])
        if float(value) == baseline == COCO_UNDEFINED:
            continue
        if baseline == 0:
            raise UndefinedDeltaM(f"delta_m divides by the baseline, and the baseline's {name!r} is 0.")
        sign = 1.0 if metric_direction(name, directions) == HIGHER else -1.0
        gains.append(sign * (float(value) - baseline) / baseline)
    if not gains:
        raise UndefinedDeltaM(f"delta_m found no defined metric among {sorted(multi_task)}.")
    return sum(gains) / len(gains)


def delta_m_record(multi_task, baselines, directions=None):
    """`delta_m` for a results file, which is written whatever the outcome:
    `{"delta_m": value}`, or `{"delta_m": None, "delta_m_undefined": why}` when the
    relative gain is undefined (a baseline scored 0, a value is NaN or infinite, or no
    metric is defined).

    Example:
    >>> delta_m_record({"a/accuracy": 0.5}, {"a/accuracy": 0.0})
    {'delta_m': None, 'delta_m_undefined': "delta_m divides by the baseline, and the baseline's 'a/accuracy' is 0."}
    """
    try:
        return {"delta_m": delta_m(multi_task, baselines, directions)}
    except UndefinedDeltaM as error:
        return {"delta_m": None, "delta_m_undefined": str(error)}


def format_delta_m(record):
    """A `delta_m_record` as text: the gain in percent, or why it is undefined.

    Example:
    >>> format_delta_m({"delta_m": 0.0123})
    '+1.23%'
    """
    if record["delta_m"] is None:
        return f"undefined ({record['delta_m_undefined']})"
    return f"{record['delta_m']:+.2%}"
