"""PCK and mean error for keypoints and landmarks.

PCK@alpha (percentage of correct keypoints, Yang & Ramanan 2013) is the
fraction of labelled ground-truth keypoints whose predicted position lies
within alpha * the instance's reference size. The reference size is the longer
side of the instance's box (the ground-truth box, or the bounding box of its
labelled keypoints when no box is given), or the longer side of the image.
All coordinates are in one unit (the evaluation uses input pixels).
"""

import numpy as np

from mtl_zoo.checks import check_number

REFERENCES = ("box", "image")


def _as_truth(truth):
    truth = np.asarray(truth, np.float64)
    if truth.ndim != 3 or truth.shape[-1] != 3:
        raise ValueError(f"Ground-truth keypoints have shape {truth.shape}, expected "
                         "(instances, K, 3) of (x, y, visibility).")
    return truth


def reference_sizes(truth, reference="box", boxes=None, image_size=None):
    """The PCK reference size of each instance.

    Args:
        truth: (N, K, 3) ground-truth (x, y, visibility).
        reference: "box" (longer side of `boxes`, or of the labelled keypoints'
            bounding box) or "image" (longer side of `image_size`).
        boxes: optional (N, 4) [ymin, xmin, ymax, xmax] in the keypoints' unit.
        image_size: (height, width), for reference="image".

    Returns:
        (N,) sizes. An instance with a single labelled keypoint and no box has size 0.

    Example:
    >>> reference_sizes([[[1, 1, 2], [4, 9, 2]]]).tolist()
    [8.0]
    """
    truth = _as_truth(truth)
    if reference == "image":
        if image_size is None:
            raise ValueError('reference="image" needs image_size=(height, width).')
        return np.full(len(truth), float(max(image_size)))
    if reference != "box":
        raise ValueError(f"Unknown PCK reference {reference!r}; use one of {REFERENCES}.")
    if boxes is not None:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    labelled = truth[..., 2:] > 0
    low = np.where(labelled, truth[..., :2], np.inf).min(axis=1)
    high = np.where(labelled, truth[..., :2], -np.inf).max(axis=1)
    return np.where(np.isfinite(low[:, 0]), (high - low).max(axis=-1), 0.0)


def keypoint_distances(predicted, truth):
    """(N, K) Euclidean distances of predicted (x, y) to the ground truth (NaN
    predictions give infinite distances)."""
    predicted = np.asarray(predicted, np.float64)[..., :2]
    truth = _as_truth(truth)
    if predicted.shape != truth[..., :2].shape:
        raise ValueError(f"Predicted keypoints have shape {predicted.shape[:-1]} + (2,), the ground "
                         f"truth {truth.shape[:-1]} + (3,): pass one prediction per ground-truth keypoint.")
    distances = np.linalg.norm(predicted - truth[..., :2], axis=-1)
    return np.where(np.isnan(distances), np.inf, distances)


def pck(predicted, truth, sizes, alpha=0.2):
    """PCK@alpha over the labelled keypoints of matched instances.

    Args:
        predicted: (N, K, 2+) predicted (x, y, ...), NaN for a missing instance.
        truth: (N, K, 3) ground-truth (x, y, visibility); visibility 0 = unlabelled.
        sizes: (N,) reference sizes (`reference_sizes`).
        alpha: the threshold as a fraction of the reference size.

    Returns:
        The fraction of labelled keypoints within alpha * size.

    Example:
    >>> truth = [[[0, 0, 2], [10, 0, 2], [5, 5, 0]]]
    >>> pck([[[1, 0], [10, 5], [0, 0]]], truth, [10.0], alpha=0.2)
    0.5
    """
    alpha = check_number(alpha, "PCK's alpha", low=0.0)
    truth = _as_truth(truth)
    distances = keypoint_distances(predicted, truth)
    sizes = np.asarray(sizes, np.float64).reshape(-1)
    if len(sizes) != len(truth):
        raise ValueError(f"{len(sizes)} reference sizes for {len(truth)} instances.")
    labelled = truth[..., 2] > 0
    if not labelled.any():
        raise ValueError("PCK needs at least one labelled keypoint (visibility > 0).")
    correct = distances <= alpha * sizes[:, None]
    return float(correct[labelled].mean())


def mean_error(predicted, truth):
    """The mean Euclidean distance over labelled keypoints (in their unit).

    Example:
    >>> mean_error([[[3, 4], [0, 0]]], [[[0, 0, 1], [0, 0, 0]]])
    5.0
    """
    truth = _as_truth(truth)
    labelled = truth[..., 2] > 0
    if not labelled.any():
        raise ValueError("The mean error needs at least one labelled keypoint (visibility > 0).")
    return float(keypoint_distances(predicted, truth)[labelled].mean())


def match_instances(predicted, truth):
    """Pairs each ground-truth instance with at most one predicted instance.

    Greedy on the mean distance over the ground truth's labelled keypoints:
    the closest remaining pair is matched first. Ground truths left without a
    prediction get NaN keypoints (misses for PCK); extra predictions are
    dropped (false positives are what keypoint AP measures).

    Args:
        predicted: (n, K, 2+) predicted instances of one image.
        truth: (N, K, 3) labelled instances of the same image.

    Returns:
        (N, K, 2) the predicted (x, y) matched to each ground-truth instance.

    Example:
    >>> match_instances([[[9, 9]], [[1, 1]]], [[[0, 0, 2]], [[5, 5, 0]]]).tolist()
    [[[1.0, 1.0]], [[nan, nan]]]
    """
    truth = _as_truth(truth)
    predicted = np.asarray(predicted, np.float64).reshape(-1, truth.shape[1], np.shape(predicted)[-1])
    matched = np.full(truth[..., :2].shape, np.nan)
    labelled = truth[..., 2] > 0
    distances = np.linalg.norm(predicted[:, None, :, :2] - truth[None, :, :, :2], axis=-1)  # (n, N, K)
    cost = np.where(labelled[None], distances, 0.0).sum(-1) / np.maximum(labelled.sum(-1), 1)
    cost[:, ~labelled.any(-1)] = np.inf
    for _ in range(min(cost.shape)):
        if not np.isfinite(cost).any():
            break
        p, t = np.unravel_index(np.argmin(cost), cost.shape)
        matched[t] = predicted[p, :, :2]
        cost[p, :] = np.inf
        cost[:, t] = np.inf
    return matched
