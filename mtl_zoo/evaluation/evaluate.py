"""`evaluate_model`: every task's metrics from the model's decoded predictions.

The metrics of each task kind live in one table, `TASK_KIND_METRICS`, keyed by
`task.kind`: adding a task kind means adding one entry.
"""

import dataclasses
from typing import Callable

import numpy as np
import tensorflow as tf

from mtl_zoo.benchmarks.table import Table
from mtl_zoo.checks import check_integer, check_number, failed_check
from mtl_zoo.evaluation import classification, coco, dense, pose
from mtl_zoo.naming import unknown_name_error


def _classification(task, decoded, labels, image_shape, settings):
    labels = np.asarray(labels).reshape(-1)
    metrics = {"accuracy": classification.accuracy(labels, decoded["probabilities"])}
    if 1 < task.top_k < task.num_classes:
        metrics[f"top{task.top_k}_accuracy"] = classification.top_k_accuracy(
            labels, decoded["probabilities"], task.top_k)
    return metrics


def _multilabel(task, decoded, labels, image_shape, settings):
    mean_ap, per_label = classification.multilabel_average_precision(
        np.asarray(labels), decoded["probabilities"])
    return {"mAP": mean_ap, "labels_without_positives": int(np.isnan(per_label).sum())}


def _detection(task, decoded, labels, image_shape, settings):
    return coco.box_ap(decoded, labels, image_shape[:2], num_classes=task.num_classes)


def _in_pixels(points, image_shape):
    return np.asarray(points, np.float64) * [image_shape[1], image_shape[0], 1.0]


def _keypoints(task, decoded, labels, image_shape, settings):
    sigmas = settings["keypoint_sigmas"].get(task.name)
    metrics = coco.keypoint_ap(decoded, labels, image_shape[:2], sigmas=sigmas)
    matched, truths, sizes = [], [], []
    for found, label in zip(coco.split_images(decoded, "predictions"), labels):
        truth = _in_pixels(np.reshape(label["keypoints"], (-1, task.num_keypoints, 3)), image_shape)
        # PCK over the labelled instances that are not ignore regions (crowd)
        instances = (truth[..., 2] > 0).any(-1) & ~coco.crowd_flags(label, len(truth))
        boxes = None
        if "boxes" in label:
            scale = [image_shape[0], image_shape[1]] * 2
            boxes = (np.reshape(label["boxes"], (-1, 4)) * scale)[instances]
        truth = truth[instances]
        predicted = found["keypoints"][:int(found["num_instances"])]
        matched.append(pose.match_instances(predicted, truth))
        truths.append(truth)
        sizes.append(pose.reference_sizes(truth, settings["pck_reference"], boxes, image_shape[:2]))
    metrics["pck"] = pose.pck(np.concatenate(matched), np.concatenate(truths),
                              np.concatenate(sizes), settings["pck_alpha"])
    return metrics


def _landmarks(task, decoded, labels, image_shape, settings):
    truth = _in_pixels(labels, image_shape)
    sizes = pose.reference_sizes(truth, settings["pck_reference"], image_size=image_shape[:2])
    return {"pck": pose.pck(decoded["landmarks"], truth, sizes, settings["pck_alpha"]),
            "mean_error": pose.mean_error(decoded["landmarks"], truth)}


def _label_maps(task, labels, image_shape):
    """Raw label maps of any size, resized to the model input by the task's encoder."""
    return np.stack([np.asarray(task.encode(label, image_shape)) for label in labels])


def _segmentation(task, decoded, labels, image_shape, settings):
    return dense.segmentation_scores(_label_maps(task, labels, image_shape), decoded["classes"],
                                     task.num_classes, task.ignore_label)


def _depth(task, decoded, labels, image_shape, settings):
    return dense.depth_errors(_label_maps(task, labels, image_shape)[..., 0], decoded["depth"])


@dataclasses.dataclass(frozen=True)
class KindMetrics:
    """How one task kind is evaluated.

    Attributes:
        compute: `(task, decoded, labels, image_shape, settings) -> {metric: value}`,
            with `decoded` the task's decoded predictions (leading example
            axis), `labels` the list of raw labels, one per example.
        headline: the metric that stands for the task (e.g. in delta_m).
    """

    compute: Callable
    headline: str


TASK_KIND_METRICS = {
    "classification": KindMetrics(_classification, "accuracy"),
    "multilabel": KindMetrics(_multilabel, "mAP"),
    "detection": KindMetrics(_detection, "AP"),
    "keypoints": KindMetrics(_keypoints, "AP"),
    "landmarks": KindMetrics(_landmarks, "pck"),
    "segmentation": KindMetrics(_segmentation, "mIoU"),
    "depth": KindMetrics(_depth, "rmse"),
}


def _kind_metrics(task):
    if task.kind not in TASK_KIND_METRICS:
        raise unknown_name_error(f"task kind to evaluate (task {task.name!r})", task.kind,
                                 TASK_KIND_METRICS)
    return TASK_KIND_METRICS[task.kind]


def _split_labels(values, count, task_name):
    """Per-example raw labels from arrays (or dicts of arrays) with a leading example axis."""
    examples = coco.split_images(values if isinstance(values, dict) else {"label": values},
                                 f"labels of task {task_name!r}")
    if len(examples) != count:
        raise ValueError(f"Task {task_name!r} has labels for {len(examples)} examples, the images "
                         f"number {count}.")
    return examples if isinstance(values, dict) else [example["label"] for example in examples]


def _images_and_labels(data):
    """`(images (N, H, W, C), {task: [raw label per example]})` from either input form."""
    if isinstance(data, tuple) and len(data) == 2 and np.ndim(data[0]) == 4:
        images, labels = np.asarray(data[0]), data[1]
        if not isinstance(labels, dict):
            raise ValueError(f"Labels must be a dict {{task: raw labels}}, got {type(labels).__name__}.")
        return images, {task: _split_labels(v, len(images), task) for task, v in labels.items()}
    if hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    examples = list(data)
    if not examples or any(not isinstance(e, (tuple, list)) or len(e) != 2 for e in examples):
        raise ValueError("evaluate_model takes (images, {task: labels}) arrays or a non-empty sequence "
                         "of (image, {task: raw label}) examples.")
    tasks = set(examples[0][1])
    for index, (_, labels) in enumerate(examples):
        if set(labels) != tasks:
            raise ValueError(f"Example {index} has labels for {sorted(labels)}, example 0 for "
                             f"{sorted(tasks)}: evaluate examples labelled for the same tasks.")
    sizes = sorted({np.shape(image) for image, _ in examples})
    if len(sizes) > 1:
        raise ValueError(f"The images have different sizes ({', '.join(map(str, sizes[:3]))}"
                         f"{', ...' if len(sizes) > 3 else ''}): bring them to the model's input size "
                         "first, e.g. with `mtl_zoo.data.raw_batches(model, examples, batch_size)"
                         ".unbatch()`, which moves the labels with the images.")
    images = np.stack([np.asarray(image) for image, _ in examples])
    return images, {task: [labels[task] for _, labels in examples] for task in tasks}


def _check_raw_labels(task, labels, image_shape, batch_size):
    """Runs the checks of training on the raw labels (encoding's, then the train step's
    `target_checks`), so that ground truth that training refuses (pixel coordinates,
    unordered boxes, class ids out of range) is refused here too instead of scoring 0:
    `batch_size` examples at a time, padded as the pipelines pad them, and in a batch that
    fails, each example alone, for an error that names it."""
    for start in range(0, len(labels), batch_size):
        chunk = labels[start:start + batch_size]
        try:
            _run_checks(task, _padded_batch(task, chunk), image_shape)
            continue
        except (ValueError, TypeError, tf.errors.OpError):
            pass  # find the example, and the message
        for offset, label in enumerate(chunk):
            try:
                _run_checks(task, tf.nest.map_structure(lambda value: np.asarray(value)[None], label), image_shape)
            except (ValueError, tf.errors.OpError) as error:
                message = failed_check(error) or getattr(error, "message", str(error)).strip().splitlines()[0]
                raise ValueError(f"Example {start + offset} of the evaluation data: {message}") from None


def _padded_batch(task, labels):
    """Raw labels of several examples as one batch, padded with `task.label_padding`, each
    array in the type that holds all the examples' values."""
    def spec(*values):
        arrays = [np.asarray(value) for value in values]
        return tf.TensorSpec([None] * arrays[0].ndim, tf.as_dtype(np.result_type(*arrays)))

    label_spec = tf.nest.map_structure(spec, *labels)
    return tf.data.Dataset.from_generator(lambda: iter(labels), output_signature=label_spec).padded_batch(
        len(labels), padding_values=task.label_padding(label_spec)).get_single_element()


def _run_checks(task, batch, image_shape):
    """Encodes a batch of raw labels and runs the train step's checks on the targets."""
    targets = task.encode_batch(batch, image_shape)
    task.target_checks(targets, tf.ones([tf.shape(tf.nest.flatten(targets)[0])[0]]))


def evaluate_model(model, data, batch_size=32, pck_alpha=0.2, pck_reference="box",
                   keypoint_sigmas=None, verbose=0):
    """Runs `model.predict_decoded` over a dataset and computes each task's metrics.

    | task kind | metrics |
    | --- | --- |
    | classification | accuracy, top-k accuracy (k = the task's `top_k`) |
    | multilabel | mAP (labels without a positive left out, counted) |
    | detection | COCO box AP, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l |
    | keypoints | COCO OKS AP, AP50, AP75, APm/l, AR..., pck (matched instances) |
    | landmarks | pck, mean_error (input pixels) |
    | segmentation | mIoU, pixel_accuracy |
    | depth | abs_rel, rmse, delta1, delta2, delta3 |

    Only the tasks that have labels are evaluated. Images must be at the
    model's input size; boxes and keypoints are compared in input pixels,
    label maps are resized (nearest) to the input size by the task's encoder.
    Ignore regions in detection and keypoint labels (`iscrowd` flags, and
    people with a box but no labelled keypoint) go to pycocotools as COCO's
    crowd and num_keypoints-0 annotations: predictions on them count neither
    way; PCK is over the labelled instances that are not crowd.

    Args:
        model: a `MultiTaskModel`.
        data: `(images, {task: raw labels with a leading example axis})`, or a
            sequence (or unbatched `tf.data.Dataset`) of `(image, {task: raw label})`.
        batch_size: prediction batch size.
        pck_alpha: the PCK threshold as a fraction of the reference size.
        pck_reference: "box" (longer side of the instance's box, or of its
            labelled points' extent) or "image" (longer side of the image).
        keypoint_sigmas: `{task: K OKS sigmas}`; default COCO's for 17
            keypoints, else 0.05 each (`coco.keypoint_sigmas`).
        verbose: the prediction's progress display (Keras `verbose`: 0, 1 or 2).

    Returns:
        `{task: {metric: value}}`, JSON-serialisable. COCO statistics that are
        undefined (no ground truth in an area range) are -1, as pycocotools reports them.

    Example:
    >>> images, labels = mz.data.generate_shapes(8, image_size=64)  # doctest: +SKIP
    >>> evaluate_model(model, (images, labels))["shapes"]["AP50"]    # doctest: +SKIP
    """
    if pck_reference not in pose.REFERENCES:
        raise ValueError(f"Unknown pck_reference {pck_reference!r}; use one of {pose.REFERENCES}.")
    pck_alpha = check_number(pck_alpha, "pck_alpha", low=0.0)
    batch_size = check_integer(batch_size, "batch_size")
    if keypoint_sigmas is not None and not isinstance(keypoint_sigmas, dict):
        raise ValueError(f"keypoint_sigmas is a dict {{task name: one OKS sigma per keypoint}}, got "
                         f"{type(keypoint_sigmas).__name__}.")
    keypoint_sigmas = dict(keypoint_sigmas or {})
    for name in keypoint_sigmas:
        model.get_task(name)
    images, labels = _images_and_labels(data)
    for name in labels:
        if name not in model.task_names:
            error = unknown_name_error("task in the labels", name, model.task_names)
            raise ValueError(f"{error} To drop the labels of tasks the model lacks: "
                             "mz.data.with_labels_of(examples, model.task_names).")
    tasks = [model.get_task(name) for name in labels]
    for task in tasks:
        _kind_metrics(task)
        _check_raw_labels(task, labels[task.name], model.image_shape, batch_size)
    decoded = model.predict_decoded(images, batch_size=batch_size, verbose=verbose)
    settings = {"pck_alpha": pck_alpha, "pck_reference": pck_reference,
                "keypoint_sigmas": keypoint_sigmas}
    results = {}
    for task in model.tasks:
        if task.name in labels:
            results[task.name] = _kind_metrics(task).compute(
                task, decoded[task.name], labels[task.name], model.image_shape, settings)
    return results


def headline_metrics(results, model):
    """`{"task/metric": value}` of each task's headline metric (e.g. for `delta_m`).

    Example:
    >>> headline_metrics({"count": {"accuracy": 0.9, "top2_accuracy": 1.0}}, model)  # doctest: +SKIP
    {'count/accuracy': 0.9}
    """
    headlines = {}
    for name, metrics in results.items():
        headline = _kind_metrics(model.get_task(name)).headline
        headlines[f"{name}/{headline}"] = metrics[headline]
    return headlines


def results_table(results, title="Evaluation", description="Metrics of each task."):
    """Markdown table (task | metric | value) of `evaluate_model` results, for printing.

    Example:
    >>> print(results_table({"count": {"accuracy": 0.875}}, description="8 images."))
    ### Evaluation
    <BLANKLINE>
    8 images.
    <BLANKLINE>
    | task | metric | value |
    | --- | --- | --- |
    | count | accuracy | 0.875 |
    """
    if not isinstance(results, dict) or not all(isinstance(metrics, dict) for metrics in results.values()):
        raise ValueError(f"results_table takes evaluate_model's results, {{task: {{metric: value}}}}, got "
                         f"{type(results).__name__}.")
    rows = [[task, metric, value] for task, metrics in results.items()
            for metric, value in metrics.items()]
    return Table(title, description, ["task", "metric", "value"], rows).to_markdown()
