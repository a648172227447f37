"""Accuracy, top-k accuracy and multi-label mean average precision."""

import numpy as np

from mtl_zoo.checks import check_integer


def _labels_and_scores(labels, scores, what):
    labels = np.asarray(labels)
    scores = np.asarray(scores, np.float64)
    if len(labels) != len(scores):
        raise ValueError(f"{what}: {len(labels)} labels for {len(scores)} predictions.")
    if len(labels) == 0:
        raise ValueError(f"{what}: no examples to evaluate.")
    return labels, scores


def accuracy(labels, probabilities):
    """The fraction of examples whose highest-scoring class is the label.

    Example:
    >>> accuracy([0, 2], [[0.9, 0.1, 0.0], [0.5, 0.3, 0.2]])
    0.5
    """
    return _top_k_accuracy(labels, probabilities, 1, "accuracy")


def top_k_accuracy(labels, probabilities, k=5):
    """The fraction of examples whose label is among the k highest-scoring classes.

    Args:
        labels: (N,) integer class ids.
        probabilities: (N, C) class scores.
        k: number of classes counted (ties broken by class order).

    Example:
    >>> top_k_accuracy([0, 2], [[0.9, 0.1, 0.0], [0.5, 0.3, 0.2]], k=2)
    0.5
    """
    return _top_k_accuracy(labels, probabilities, check_integer(k, "k", owner="top-k accuracy"), "top-k accuracy")


def _top_k_accuracy(labels, probabilities, k, what):
    labels, probabilities = _labels_and_scores(labels, probabilities, what)
    if not np.all(np.equal(np.mod(labels, 1), 0)):
        raise ValueError(f"{what}: class ids must be whole numbers (one id per example, not probabilities).")
    labels = labels.reshape(-1).astype(int)
    if probabilities.ndim != 2:
        raise ValueError(f"Class scores have shape {probabilities.shape}, expected (N, num_classes).")
    if labels.min() < 0 or labels.max() >= probabilities.shape[1]:
        raise ValueError(f"Class ids must be in [0, {probabilities.shape[1]}), got "
                         f"{labels.min()}..{labels.max()}.")
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def average_precision(labels, scores):
    """Non-interpolated average precision of one binary label:
    sum over score thresholds of (R_n - R_(n-1)) * P_n, tied scores forming one threshold.

    Args:
        labels: (N,) 1 for positives, 0 for negatives.
        scores: (N,) scores, higher meaning more likely positive.

    Example:
    >>> average_precision([1, 0, 1], [0.9, 0.8, 0.3])   # (1/2)*1 + (1/2)*(2/3)
    0.8333333333333333
    """
    labels, scores = _labels_and_scores(labels, scores, "average precision")
    if labels.sum() == 0:
        raise ValueError("Average precision needs at least one positive example.")
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_each_score = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(labels)[last_of_each_score]
    precision = true_positives / (last_of_each_score + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def multilabel_average_precision(labels, probabilities):
    """Mean over labels of the average precision, for multi-label attributes.

    Unknown entries (-1) are left out of their label's AP. Labels with no known
    positive example have no AP: they are excluded from the mean and reported as NaN.

    Args:
        labels: (N, L) of 1 (present), 0 (absent) or -1 (unknown).
        probabilities: (N, L) scores.

    Returns:
        `(mean_ap, per_label_ap)`, the latter (L,) with NaN for excluded labels.

    Example:
    >>> labels = [[1, 0], [0, -1], [1, 0]]
    >>> mean_ap, per_label = multilabel_average_precision(labels, [[0.9, 0.2], [0.8, 0.7], [0.3, 0.1]])
    >>> round(mean_ap, 4), per_label.tolist()
    (0.8333, [0.8333333333333333, nan])
    """
    labels, probabilities = _labels_and_scores(labels, probabilities, "multi-label mAP")
    if labels.ndim != 2 or labels.shape != probabilities.shape:
        raise ValueError(f"Multi-label mAP takes (N, L) labels and scores, got {labels.shape} "
                         f"and {probabilities.shape}.")
    per_label = np.full(labels.shape[1], np.nan)
    for label in range(labels.shape[1]):
        known = labels[:, label] >= 0
        if (labels[known, label] == 1).any():
            per_label[label] = average_precision(labels[known, label], probabilities[known, label])
    if np.isnan(per_label).all():
        raise ValueError("Multi-label mAP: no label has a known positive example, so no AP is defined.")
    return float(np.nanmean(per_label)), per_label
