"""COCO-style box AP and keypoint OKS AP, computed by pycocotools (Lin et al. 2014).

Inputs are what the model's decoders return and the raw labels the tasks take:

  * detections: `{"boxes": (B, k, 4) [ymin, xmin, ymax, xmax] in input pixels,
    "classes": (B, k), "scores": (B, k), "num_detections": (B,)}` (as from
    `Detection.decode`), or a list of such dicts, one per image, without the B axis;
  * box ground truth: `{"boxes": (B, N, 4) normalised [ymin, xmin, ymax, xmax],
    "classes": (B, N)}` with class -1 for padding, optionally `"iscrowd": (B, N)`
    (ignore regions: crowd boxes, VOC's difficult objects); or a list of
    per-image dicts (any N per image);
  * poses: `{"keypoints": (B, n, K, 3) (x, y, score) in input pixels,
    "scores": (B, n), "num_instances": (B,)}` (as from `Keypoints.decode`);
  * keypoint ground truth: `{"keypoints": (B, N, K, 3)}` normalised (x, y,
    visibility), optionally `"boxes"` and `"iscrowd"`, or a list of per-image
    dicts (`[]` for an image without instances); an instance without a
    labelled keypoint is an ignore region when it has a box of positive area
    (a COCO annotation with num_keypoints 0), else padding;
  * either ground truth may carry `"areas": (B, N)` (or (N,) per image):
    each instance's segment area as a fraction of the image area (0: unknown,
    as padding has it; the box's area then stands in).

Ignore regions follow pycocotools: a detection or pose matched to one (crowd
boxes by intersection over the detection's area, IoA; poses by OKS, or by
distance to the box when it has no keypoint) is neither a true nor a false
positive, and the region is not counted as missed. VOC's difficult objects,
evaluated as crowd boxes, are thus matched by IoA rather than VOC's IoU: an
approximation of VOC's rule.

The COCO ground truth is built in memory (no files). Object areas, OKS's object
scale and what the small / medium / large ranges (32^2 and 96^2 pixels) sort,
are in input pixels, so the ranges refer to the model's input resolution.
They are the ground truth's `"areas"` when given (segment areas as fractions
of the image area, as the coco and coco_keypoints sources give them: COCO's
rule), else box areas; a keypoint instance with neither uses the square on the
longer side of its labelled keypoints' extent. Statistics that pycocotools
cannot define (no ground truth in an area range) are -1, as in its `stats`
array.
"""

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

BOX_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
KEYPOINT_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
# The per-keypoint OKS constants of the 17 COCO person keypoints (nose, eyes, ears, ...).
COCO_KEYPOINT_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                                 1.07, 1.07, .87, .87, .89, .89]) / 10.0
DEFAULT_KEYPOINT_SIGMA = 0.05


def split_images(values, what):
    """A list of per-image dicts from a dict of arrays with a leading image axis
    (or from a list of per-image dicts, returned as is).

    Example:
    >>> [sorted(d) for d in split_images({"classes": np.zeros((2, 3))}, "detections")]
    [['classes'], ['classes']]
    """
    if isinstance(values, (list, tuple)):
        return [dict(v) for v in values]
    if not isinstance(values, dict) or not values:
        raise ValueError(f"{what} must be a dict of arrays with a leading image axis or a list of "
                         f"per-image dicts, got {type(values).__name__}.")
    arrays = {key: np.asarray(value) for key, value in values.items()}
    lengths = {key: len(value) for key, value in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{what}: the arrays disagree on the number of images: {lengths}.")
    return [{key: value[i] for key, value in arrays.items()} for i in range(next(iter(lengths.values())))]


def _paired(predictions, ground_truth, image_size, prediction_keys, truth_keys):
    """`(predictions, ground truth)` as per-image dicts, after checks that they pair up, hold
    the keys the evaluation reads, and that `image_size` is the input's (height, width)."""
    predictions = split_images(predictions, "predictions")
    ground_truth = split_images(ground_truth, "ground truth")
    if len(predictions) != len(ground_truth):
        raise ValueError(f"{len(predictions)} images of predictions for {len(ground_truth)} images "
                         "of ground truth: pass one entry per image, in the same order.")
    if not predictions:
        raise ValueError("No images to evaluate.")
    for what, entries, keys in [("predictions", predictions, prediction_keys),
                                ("ground truth", ground_truth, truth_keys)]:
        for index, entry in enumerate(entries):
            missing = [key for key in keys if key not in entry]
            if missing:
                raise ValueError(f"The {what} of image {index} lack {missing}: they need {list(keys)} "
                                 "(predictions as model.predict_decoded gives them, ground truth as raw labels).")
    if isinstance(image_size, (str, bytes)) or not hasattr(image_size, "__len__") or len(image_size) not in (2, 3):
        raise ValueError(f"image_size is the model input's (height, width) in pixels (model.image_shape "
                         f"will do), got {image_size!r}.")
    return predictions, ground_truth


def _kept_rows(prediction, count_key):
    """The first `prediction[count_key]` rows (all rows when the count is absent)."""
    count = prediction.get(count_key)
    return slice(None) if count is None else slice(0, int(count))


def _image_entries(num_images, image_size):
    height, width = (int(v) for v in image_size[:2])
    return [{"id": i + 1, "height": height, "width": width} for i in range(num_images)]


def _xywh(boxes_yxyx):
    boxes = np.asarray(boxes_yxyx, np.float64).reshape(-1, 4)
    return np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], -1)


def _truth_boxes(truth, image_id):
    """An image's ground-truth boxes as (N, 4); a ValueError for any other shape."""
    boxes = np.asarray(truth["boxes"], np.float64)
    if boxes.size and boxes.shape[-1] != 4:
        raise ValueError(f"Image {image_id - 1}: ground-truth boxes have shape {boxes.shape}, "
                         "expected (N, 4) normalised [ymin, xmin, ymax, xmax].")
    return boxes.reshape(-1, 4)


def _pixel_scale(image_size):
    height, width = (float(v) for v in image_size[:2])
    return np.array([height, width, height, width])


def crowd_flags(truth, count):
    """The (count,) bool `iscrowd` flags of one image's ground truth (all False without).

    Example:
    >>> crowd_flags({"classes": [0, 1], "iscrowd": [0, 1]}, 2).tolist()
    [False, True]
    """
    if "iscrowd" not in truth:
        return np.zeros(count, bool)
    flags = np.asarray(truth["iscrowd"]).reshape(-1).astype(bool)
    if len(flags) != count:
        raise ValueError(f"{len(flags)} iscrowd flags for {count} ground-truth instances.")
    return flags


def _truth_areas(truth, instances, image_size, image_id):
    """The areas in input pixels of one image's ground truth from its `"areas"` (fractions
    of the image area), or None without; `instances`, a bool per row, marks the rows that
    are instances (padding rows may hold anything and get 0); a ValueError for bad ones."""
    if "areas" not in truth:
        return None
    areas = np.asarray(truth["areas"], np.float64).reshape(-1)
    if len(areas) != len(instances):
        raise ValueError(f"Image {image_id - 1}: {len(areas)} ground-truth areas for "
                         f"{len(instances)} instances.")
    areas = np.where(instances, areas, 0.0)
    if not np.isfinite(areas).all() or (areas < 0).any():
        raise ValueError(f"Image {image_id - 1}: ground-truth areas must be finite fractions of the "
                         f"image area, >= 0; got {areas.tolist()}.")
    return areas * float(image_size[0]) * float(image_size[1])


def _has_area(box_xywh):
    return bool(np.isfinite(box_xywh).all() and box_xywh[2] > 0 and box_xywh[3] > 0)


def _keypoint_annotation(instance, box, is_crowd, area=None):
    """pycocotools' fields of one ground-truth instance: its (K, 3) `instance` keypoints in
    pixels, its [x, y, width, height] `box` (None without), its crowd flag and its `area`
    in pixels (None without); None for padding (no labelled keypoint and no box of
    positive area).

    The area, OKS's object scale, is `area` when given and positive, else the box's;
    without either, the square on the longer side of the labelled keypoints' extent, and
    an instance without that extent (one labelled keypoint, or coincident ones) has no
    scale: it becomes an ignore region (crowd).
    """
    labelled = instance[instance[:, 2] > 0, :2]
    if box is not None and (len(labelled) or _has_area(box)):
        box_area = box[2] * box[3]
    elif not len(labelled):
        return None
    else:
        low, high = labelled.min(0), labelled.max(0)
        box = np.concatenate([low, high - low])
        box_area = np.max(high - low) ** 2
    area = area if area is not None and area > 0 else box_area
    is_crowd = is_crowd or area == 0
    return {"keypoints": instance.reshape(-1).tolist(), "num_keypoints": len(labelled),
            "bbox": box.tolist(), "area": float(area), "iscrowd": int(is_crowd)}


def _keypoint_arrays(predictions, ground_truth):
    """Each image's predicted and ground-truth keypoints as (instances, K, 3) arrays, and K
    (None when no image tells it); an empty list or array is an image without instances."""
    arrays = [[np.asarray(image["keypoints"], np.float64) for image in images]
              for images in (predictions, ground_truth)]
    for images, what in zip(arrays, ("predicted", "ground-truth")):
        for index, points in enumerate(images):
            if (points.size or points.ndim == 3) and (points.ndim != 3 or points.shape[-1] != 3):
                raise ValueError(f"Image {index}: {what} keypoints have shape {points.shape}, expected "
                                 "(instances, K, 3) of (x, y, visibility or score), or [] for none.")
    counts = {points.shape[1] for images in arrays for points in images if points.ndim == 3}
    if len(counts) > 1:
        raise ValueError(f"Instances have {sorted(counts)} keypoints in different images or in the "
                         "predictions and the ground truth: pass the same K keypoints everywhere.")
    num_keypoints = counts.pop() if counts else None
    empty = np.zeros((0, num_keypoints or 0, 3))
    found, truth = ([points if points.ndim == 3 else empty for points in images] for images in arrays)
    return found, truth, num_keypoints


def _run_cocoeval(dataset, results, iou_type, sigmas=None):
    """pycocotools' evaluate / accumulate / summarize with its prints captured; its stats."""
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        if results:
            detections = truth.loadRes(results)
        else:  # loadRes cannot take an empty list
            detections = COCO()
            detections.dataset = {"images": dataset["images"], "categories": dataset["categories"],
                                  "annotations": []}
            detections.createIndex()
        evaluator = COCOeval(truth, detections, iou_type)
        if sigmas is not None:
            evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def box_ap(predictions, ground_truth, image_size, num_classes=None):
    """COCO box AP / AR of decoded detections against raw box labels.

    Args:
        predictions: decoded detections (module docstring), boxes in pixels.
        ground_truth: raw box labels (normalised), class -1 = padding,
            optional `iscrowd` flags and `areas` (segment areas as fractions
            of the image area: they decide APs/m/l, ARs/m/l; box areas without).
        image_size: (height, width) of the model input, in pixels (or `model.image_shape`).
        num_classes: the number of classes (category ids 0..C-1); default:
            the classes seen in the ground truth and predictions. Classes
            without ground truth do not count in the mean.

    Returns:
        `{name: float}` for the 12 COCO statistics `BOX_STATS` (AP at IoU
        0.50:0.95, AP50, AP75, APs/m/l, AR with 1/10/100 detections, ARs/m/l).

    Example:
    >>> truth = {"boxes": [[[0.1, 0.1, 0.6, 0.5]]], "classes": [[0]]}
    >>> found = {"boxes": [[[6.4, 6.4, 38.4, 32.0]]], "classes": [[0]], "scores": [[0.9]]}
    >>> round(box_ap(found, truth, (64, 64))["AP"], 6)
    1.0
    """
    predictions, ground_truth = _paired(predictions, ground_truth, image_size, ("boxes", "classes", "scores"),
                                        ("boxes", "classes"))
    scale = _pixel_scale(image_size)
    annotations, results, seen = [], [], set()
    for image_id, (found, truth) in enumerate(zip(predictions, ground_truth), start=1):
        classes = np.asarray(truth["classes"], int).reshape(-1)
        boxes = _xywh(_truth_boxes(truth, image_id) * scale)
        if len(boxes) != len(classes):
            raise ValueError(f"Image {image_id - 1}: {len(boxes)} ground-truth boxes for "
                             f"{len(classes)} classes.")
        crowd = crowd_flags(truth, len(classes))
        areas = _truth_areas(truth, classes >= 0, image_size, image_id)
        for n, (box, cls, is_crowd) in enumerate(zip(boxes, classes, crowd)):
            if cls < 0:
                continue
            seen.add(int(cls))
            area = areas[n] if areas is not None and areas[n] > 0 else box[2] * box[3]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(cls) + 1, "bbox": box.tolist(),
                                "area": float(area), "iscrowd": int(is_crowd)})
        rows = _kept_rows(found, "num_detections")
        found_classes = np.asarray(found["classes"], int).reshape(-1)[rows]
        found_boxes = _xywh(found["boxes"])[rows]
        found_scores = np.asarray(found["scores"], np.float64).reshape(-1)[rows]
        for box, cls, score in zip(found_boxes, found_classes, found_scores):
            if cls < 0:
                continue
            seen.add(int(cls))
            results.append({"image_id": image_id, "category_id": int(cls) + 1,
                            "bbox": box.tolist(), "score": float(score)})
    if num_classes is not None and seen and max(seen) >= num_classes:
        raise ValueError(f"Class id {max(seen)} found, but num_classes={num_classes}.")
    class_ids = range(num_classes) if num_classes is not None else sorted(seen)
    dataset = {"images": _image_entries(len(predictions), image_size),
               "categories": [{"id": c + 1, "name": str(c)} for c in class_ids],
               "annotations": annotations}
    stats = _run_cocoeval(dataset, results, "bbox")
    return dict(zip(BOX_STATS, (float(s) for s in stats)))


def keypoint_sigmas(num_keypoints, sigmas=None):
    """The OKS per-keypoint constants: `sigmas` if given, COCO's 17 for 17
    keypoints, else `DEFAULT_KEYPOINT_SIGMA` (0.05) for every keypoint.

    Example:
    >>> keypoint_sigmas(4).tolist()
    [0.05, 0.05, 0.05, 0.05]
    """
    if sigmas is None:
        if num_keypoints == len(COCO_KEYPOINT_SIGMAS):
            return COCO_KEYPOINT_SIGMAS.copy()
        return np.full(num_keypoints, DEFAULT_KEYPOINT_SIGMA)
    sigmas = np.asarray(sigmas, np.float64).reshape(-1)
    if len(sigmas) != num_keypoints or np.any(sigmas <= 0):
        raise ValueError(f"Keypoint sigmas must be {num_keypoints} positive numbers (one per "
                         f"keypoint), got {sigmas.tolist()}.")
    return sigmas


def keypoint_ap(predictions, ground_truth, image_size, sigmas=None):
    """COCO keypoint AP / AR by object keypoint similarity (OKS) of decoded poses.

    OKS = mean over labelled keypoints of exp(-d^2 / (2 s^2 (2 sigma)^2)) with s^2
    the instance area in input pixels: the ground truth's `"areas"` when given
    (segment areas, COCO's rule), else the box area when `"boxes"` are given,
    else max(w, h)^2 for the w x h extent of the labelled keypoints (positive
    whenever two of them differ; w * h is 0 for keypoints on one vertical or
    horizontal line). An instance whose area is 0 (no area, box or extent: one
    labelled keypoint, or coincident ones) has no scale: it is an ignore
    region (a crowd), not counted as missed, but OKS to it is 0 unless a pose
    hits its keypoints exactly, so a pose on it still counts as a false
    positive. Give areas or boxes to score such instances.

    Args:
        predictions: decoded poses (module docstring), keypoints in pixels.
        ground_truth: raw keypoint labels (normalised (x, y, visibility)),
            optional `boxes`, `iscrowd` and `areas`; an instance with a box but no
            labelled keypoint is an ignore region (num_keypoints 0). An image
            without instances may come as `{"keypoints": []}`.
        image_size: (height, width) of the model input, in pixels (or `model.image_shape`).
        sigmas: K per-keypoint OKS constants; default COCO's for K = 17, else
            0.05 for each keypoint (see `keypoint_sigmas`).

    Returns:
        `{name: float}` for the 10 COCO keypoint statistics `KEYPOINT_STATS`.

    Example:
    >>> truth = {"keypoints": [[[[0.2, 0.2, 2], [0.6, 0.7, 2]]]]}
    >>> found = {"keypoints": [[[[12.8, 12.8, 1], [38.4, 44.8, 1]]]], "scores": [[0.8]]}
    >>> round(keypoint_ap(found, truth, (64, 64))["AP"], 6)
    1.0
    """
    predictions, ground_truth = _paired(predictions, ground_truth, image_size, ("keypoints", "scores"),
                                        ("keypoints",))
    found_points, truth_points, num_keypoints = _keypoint_arrays(predictions, ground_truth)
    height, width = (float(v) for v in image_size[:2])
    annotations, results = [], []
    for image_id, (found, truth, found_instances, points) in enumerate(
            zip(predictions, ground_truth, found_points, truth_points), start=1):
        points = points * [width, height, 1.0]
        crowd = crowd_flags(truth, len(points))
        boxes = (_xywh(_truth_boxes(truth, image_id) * _pixel_scale(image_size))
                 if "boxes" in truth else None)
        instances = (points[:, :, 2] > 0).any(axis=1)
        if boxes is not None and len(boxes) == len(points):
            instances |= np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        areas = _truth_areas(truth, instances, image_size, image_id)
        for n, instance in enumerate(points):
            annotation = _keypoint_annotation(instance, None if boxes is None else boxes[n], crowd[n],
                                              None if areas is None else areas[n])
            if annotation is not None:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": 1, **annotation})
        rows = _kept_rows(found, "num_instances")
        found_scores = np.asarray(found["scores"], np.float64).reshape(-1)[rows]
        for instance, score in zip(found_instances[rows], found_scores):
            results.append({"image_id": image_id, "category_id": 1,
                            "keypoints": instance.reshape(-1).tolist(), "score": float(score)})
    dataset = {"images": _image_entries(len(predictions), image_size),
               "categories": [{"id": 1, "name": "instance"}], "annotations": annotations}
    stats = _run_cocoeval(dataset, results, "keypoints",
                          None if num_keypoints is None else keypoint_sigmas(num_keypoints, sigmas))
    return dict(zip(KEYPOINT_STATS, (float(s) for s in stats)))
