"""Per-pixel metrics: segmentation mIoU and pixel accuracy; depth errors."""

import numpy as np


def confusion_matrix(labels, predictions, num_classes, ignore_label=255):
    """(C, C) pixel counts, rows the true class and columns the predicted one.

    Pixels labelled `ignore_label` are left out.

    Example:
    >>> confusion_matrix([[0, 1], [1, 255]], [[0, 0], [1, 1]], 2).tolist()
    [[1, 0], [1, 1]]
    """
    labels = np.asarray(labels).astype(np.int64)
    predictions = np.asarray(predictions).astype(np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"Label maps have shape {labels.shape}, predictions {predictions.shape}: "
                         "pass class maps of the same size (e.g. the decoded `classes`).")
    keep = labels != ignore_label
    labels, predictions = labels[keep], predictions[keep]
    for what, values in (("labels", labels), ("predictions", predictions)):
        outside = values[(values < 0) | (values >= num_classes)]
        if outside.size:
            raise ValueError(f"Segmentation {what} hold class {outside[0]}, outside [0, {num_classes}) "
                             f"and not ignore_label={ignore_label}.")
    counts = np.bincount(labels * num_classes + predictions, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def segmentation_scores(labels, predictions, num_classes, ignore_label=255):
    """Mean IoU and pixel accuracy over all labelled pixels of all images.

    IoU_c = TP / (TP + FP + FN) from the dataset's confusion matrix; classes
    absent from both labels and predictions are left out of the mean.

    Returns:
        `{"mIoU": float, "pixel_accuracy": float}`.

    Example:
    >>> segmentation_scores([[0, 1], [1, 255]], [[0, 0], [1, 1]], num_classes=3)
    {'mIoU': 0.5, 'pixel_accuracy': 0.6666666666666666}
    """
    matrix = confusion_matrix(labels, predictions, num_classes, ignore_label)
    total = matrix.sum()
    if total == 0:
        raise ValueError(f"No labelled pixels (every label is ignore_label={ignore_label}).")
    hits = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - hits
    present = union > 0
    return {"mIoU": float(np.mean(hits[present] / union[present])),
            "pixel_accuracy": float(hits.sum() / total)}


def depth_errors(truth, predicted):
    """Depth errors over the valid pixels (finite truth > 0) of all images, pooled.

    abs_rel = mean |d - d*| / d*, rmse = sqrt(mean (d - d*)^2) and delta_i, the
    fraction of pixels with max(d / d*, d* / d) < 1.25^i (Eigen et al. 2014).
    Predictions are floored at 1e-6 so the ratios stay finite.

    Returns:
        `{"abs_rel", "rmse", "delta1", "delta2", "delta3"}` as floats.

    Example:
    >>> errors = depth_errors([[1.0, 2.0, 0.0, float("inf")]], [[1.1, 1.0, 5.0, 3.0]])
    >>> round(errors["abs_rel"], 3), errors["delta1"]
    (0.3, 0.5)
    """
    truth = np.asarray(truth, np.float64)
    predicted = np.asarray(predicted, np.float64)
    if truth.shape != predicted.shape:
        raise ValueError(f"Depth maps have shape {truth.shape}, predictions {predicted.shape}: "
                         "pass maps of the same size (e.g. the decoded `depth`).")
    valid = np.isfinite(truth) & (truth > 0)  # as in training: 0, NaN and inf are missing
    if not valid.any():
        raise ValueError("No valid depth pixels (every ground-truth depth is 0, NaN or infinite).")
    truth, predicted = truth[valid], np.maximum(predicted[valid], 1e-6)
    ratio = np.maximum(truth / predicted, predicted / truth)
    errors = {"abs_rel": float(np.mean(np.abs(predicted - truth) / truth)),
              "rmse": float(np.sqrt(np.mean((predicted - truth) ** 2)))}
    errors.update({f"delta{i}": float(np.mean(ratio < 1.25 ** i)) for i in (1, 2, 3)})
    return errors
