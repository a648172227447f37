"""Uncertainty weighting: task weights learned as homoscedastic noise
(Kendall, Gal & Cipolla 2018, "Multi-Task Learning Using Uncertainty to Weigh Losses")."""

import tensorflow as tf

FORMS = ("classification", "regression")
_CLASSIFICATION_KINDS = ("classification", "multilabel", "segmentation")


def uncertainty_forms(tasks, spec):
    """Resolves `build_model(uncertainty_weighting=...)` to `{task: form}`.

    `spec` is True (every task, the form chosen from its kind: classification,
    multi-label and segmentation use the classification form, the others the
    regression form) or a dict `{task_name: "classification" | "regression"}`.
    """
    if not spec:
        return {}
    names = [task.name for task in tasks]
    if spec is True:
        return {task.name: "classification" if task.kind in _CLASSIFICATION_KINDS else "regression"
                for task in tasks}
    if not isinstance(spec, dict):
        raise ValueError(f"uncertainty_weighting must be True or a dict {{task: form}}, got {spec!r}.")
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise ValueError(f"uncertainty_weighting names unknown tasks {unknown}; the tasks are {names}.")
    bad = {name: form for name, form in spec.items() if form not in FORMS}
    if bad:
        raise ValueError(f"Unknown uncertainty forms {bad}; use {FORMS}.")
    return dict(spec)


def uncertainty_weighted_loss(loss, log_variance, form):
    """Kendall et al.'s per-task objective with s = log sigma^2:
    regression 0.5 exp(-s) L + 0.5 s (eq. 5), classification exp(-s) L + 0.5 s (eq. 10)."""
    factor = 1.0 if form == "classification" else 0.5
    return factor * tf.exp(-log_variance) * loss + 0.5 * log_variance
