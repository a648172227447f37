"""Anchor-free object detection in the CenterNet style (Zhou et al. 2019)."""

import keras
import tensorflow as tf

from mtl_zoo.backbones.backbone import level_stride
from mtl_zoo.checks import check_integer, check_number
from mtl_zoo.tasks import heatmaps as hm
from mtl_zoo.tasks.base import (Task, check_last_dim, check_rank, checked_coordinates,
                                checked_class_ids, checked_crowd_flags, checked_label, checked_rows,
                                encoded_alone, map_instance_areas, sized_like_output)
from mtl_zoo.tasks.heads import checked_head_channels, checked_head_conv, conv_tower, prediction_conv


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Detection(Task):
    """Boxes with classes, as centre heatmaps plus size and offset regression.

    Head (on the shared pyramid at `level`): a small conv tower, then three
    1x1 convs: class-centre heatmap logits (num_classes), box size (h, w in
    grid cells) and sub-cell centre offset (dy, dx). Loss: penalty-reduced
    focal loss on the heatmap + 0.1 * L1 size + 1 * L1 offset, the weights of
    "Objects as Points" (Zhou et al. 2019); each L1 term sums |error| over (h, w) per
    object, where CenterNet's code averages over the two, so the box terms weigh
    twice theirs. Metrics: the three loss terms.

    Labels: `{"boxes": (N, 4) normalised [ymin, xmin, ymax, xmax],
    "classes": (N,) int}`; rows with class -1 are padding. Boxes are clipped
    to the image; one with no area left inside it gives no target. An optional
    `"iscrowd": (N,)` bool or 0/1 marks ignore regions (COCO crowd boxes, VOC
    difficult objects): they give no target (no heatmap peak, no regression),
    but stay in the label for the evaluation, which ignores detections on them
    (`mtl_zoo.evaluation.box_ap`). An optional `"areas": (N,)` gives each
    object's segment area as a fraction of the image area, for the
    evaluation's size ranges (COCO's rule; box areas without it). Decoded:
    peaks of the heatmap (3x3 max-pool suppression), top `max_detections` by score,
    kept when score >= score_threshold: `boxes` (B, k, 4) in input pixels
    [ymin, xmin, ymax, xmax], `classes` (B, k; -1 where empty), `scores`
    (B, k; 0 where empty) and `num_detections` (B,).

    Args:
        name: task name.
        num_classes: number of object classes (>= 1).
        level: pyramid level of the head ("P2" = stride 4 ... "P5").
        max_objects: objects per image whose size and offset are regressed; every
            object gets its peak in the heatmap, so extra ones are not taught as background.
        max_detections: k of the decoder.
        score_threshold: minimum decoded score.
        head_channels: width of the conv tower.
        head_conv: the tower's 3x3 convs: "standard", or "separable" (depthwise +
            pointwise, about 8x fewer multiply-adds; the light heads for mobile backbones).
        class_names: optional list of num_classes names.

    Example:
    >>> task = Detection("objects", num_classes=3)
    >>> targets = task.encode({"boxes": [[0.1, 0.1, 0.5, 0.4]], "classes": [2]}, (64, 64, 3))
    >>> targets["heatmap"].shape
    TensorShape([8, 8, 3])
    >>> crowd = task.encode({"boxes": [[0.1, 0.1, 0.5, 0.4]], "classes": [2], "iscrowd": [True]},
    ...                     (64, 64, 3))
    >>> float(crowd["heatmap"].numpy().max()), float(crowd["weights"].numpy().sum())
    (0.0, 0.0)
    """

    kind = "detection"
    example_label_ranks = {"boxes": (2,), "classes": (1,), "iscrowd": (1,), "areas": (1,)}
    uses_pyramid = True
    output_keys = ("heatmap", "size", "offset")
    size_loss_weight = 0.1
    offset_loss_weight = 1.0

    def __init__(self, name, num_classes, level="P3", max_objects=32, max_detections=100,
                 score_threshold=0.3, head_channels=64, head_conv="standard", class_names=None):
        super().__init__(name)
        if int(num_classes) < 1:
            raise ValueError(f"Task {name!r}: num_classes must be >= 1, got {num_classes}.")
        if class_names is not None and len(class_names) != int(num_classes):
            raise ValueError(f"Task {name!r}: {len(class_names)} class_names for num_classes={num_classes}.")
        self.num_classes = int(num_classes)
        self.level = level
        self.stride = level_stride(level)
        owner = f"Task {name!r}"
        self.max_objects = check_integer(max_objects, "max_objects", owner=owner)
        self.max_detections = check_integer(max_detections, "max_detections", owner=owner)
        self.score_threshold = check_number(score_threshold, "score_threshold", 0.0, 1.0, owner=owner)
        self.head_channels = checked_head_channels(name, head_channels)
        self.head_conv = checked_head_conv(name, head_conv)
        self.class_names = list(class_names) if class_names is not None else None

    def build_head(self, features):
        x = conv_tower(features.pyramid[self.level], self.head_channels, 2, self.name,
                       self.head_conv)
        return {
            self.output_name("heatmap"): prediction_conv(
                x, self.num_classes, self.output_name("heatmap"), prior_probability=0.1),
            self.output_name("size"): prediction_conv(x, 2, self.output_name("size")),
            self.output_name("offset"): prediction_conv(x, 2, self.output_name("offset")),
        }

    # -- targets ----------------------------------------------------------------------
    def encode(self, labels, image_shape):
        return encoded_alone(self, labels, image_shape)

    def encode_batch(self, labels, image_shape):
        grid = hm.grid_shape(image_shape, self.stride)
        boxes, classes = self._checked_boxes_and_classes(labels, batch_dims=1)
        boxes, classes = tf.cast(boxes, tf.float32), tf.cast(classes, tf.int32)
        tf.debugging.assert_less(classes, self.num_classes,
                                 f"Task {self.name!r}: a box class id >= num_classes={self.num_classes}")
        crowd = checked_crowd_flags(labels, tf.shape(classes), self)
        scale = tf.constant([grid[0], grid[1], grid[0], grid[1]], tf.float32)
        boxes = tf.clip_by_value(boxes, 0.0, 1.0) * scale
        valid = ((classes >= 0) & tf.logical_not(crowd)  # a target needs area inside the image
                 & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1]))
        centers, sizes = (boxes[..., :2] + boxes[..., 2:]) / 2.0, boxes[..., 2:] - boxes[..., :2]
        heatmap = hm.peak_heatmaps(centers[:, :, None], hm.gaussian_sigma(sizes[..., :1], sizes[..., 1:]),
                                   tf.where(valid, classes, -1)[..., None], self.num_classes, grid)
        centers, sizes, weights = hm.keep_first(valid, self.max_objects, centers, sizes)
        _, indices, offsets = hm.encode_centers(centers, grid)
        return {"heatmap": heatmap, "indices": indices, "size": sizes, "offset": offsets,
                "weights": weights}

    def transform_label(self, label, transform):
        """Boxes follow the image and are clipped to it; a box left mostly outside gets class -1
        (its row, and its `iscrowd` flag, stay in place); `areas` scale with the image and
        shrink with the share of their box cut off."""
        boxes, classes = self._checked_boxes_and_classes(label)
        moved = {**label, **map_instance_areas(label, boxes, classes >= 0, transform, self)}
        boxes, keep = transform.map_boxes(boxes)
        return {**moved, "boxes": boxes, "classes": tf.where(keep, classes, tf.cast(-1, classes.dtype))}

    def _checked_boxes_and_classes(self, label, batch_dims=0):
        """The (N, 4) boxes and (N,) classes of a raw label (with `batch_dims` 1, (B, N, 4) and
        (B, N) of a batch's), after run-time checks of their shapes and of the coordinates of
        the boxes with a class (not padding)."""
        self._require_label_keys(label, ("boxes", "classes"), "'boxes' (N, 4) and 'classes' (N,)")
        boxes = checked_rows(label["boxes"], [4], f"Task {self.name!r}: boxes must be "
                             "(N, 4) normalised [ymin, xmin, ymax, xmax]", batch_dims)
        classes = checked_class_ids(label["classes"], self, "box class ids")
        classes = tf.reshape(classes, tf.concat([tf.shape(boxes)[:batch_dims], [-1]], 0))
        classes = checked_label(classes, tf.shape(boxes)[batch_dims:batch_dims + 1],
                                f"Task {self.name!r}: one class per box")
        labelled = classes >= 0
        boxes = checked_coordinates(boxes, labelled, self, "box coordinates")  # NaN and pixels first
        ordered = (boxes[..., 2] >= boxes[..., 0]) & (boxes[..., 3] >= boxes[..., 1])
        checks = [tf.debugging.assert_greater_equal(classes, tf.cast(-1, classes.dtype), message=(
                      f"Task {self.name!r}: box class ids are 0 to num_classes - 1, or -1 for padding")),
                  tf.debugging.assert_equal(tf.reduce_all(ordered | tf.logical_not(labelled)), True, message=(
                      f"Task {self.name!r}: boxes must be [ymin, xmin, ymax, xmax] with ymin <= ymax and "
                      "xmin <= xmax; convert [x, y, width, height] or [xmin, ymin, xmax, ymax] boxes"))]
        with tf.control_dependencies(checks):
            return tf.identity(boxes), tf.identity(classes)

    def label_padding(self, label_spec):
        """Raw labels pad with zero boxes of class -1 (and `iscrowd` 0)."""
        padding = super().label_padding(label_spec)
        return {**padding, "classes": tf.constant(-1, label_spec["classes"].dtype)}

    def validate_targets(self, targets):
        self._require_keys(targets, ("heatmap", "indices", "size", "offset", "weights"))
        check_rank(targets["heatmap"], (4,), self, "targets['heatmap']",
                   "Encode raw labels with Detection.encode.")
        check_last_dim(targets["heatmap"], self.num_classes, self, "targets['heatmap']",
                       "One heatmap channel per class.")
        check_last_dim(targets["size"], 2, self, "targets['size']", "Sizes are (h, w).")

    # -- loss and metrics ---------------------------------------------------------------
    def _loss_terms(self, targets, outputs):
        heatmap = hm.HeatmapFocalLoss(reduction=None)(
            sized_like_output(targets["heatmap"], outputs["heatmap"], self, "targets['heatmap']"),
            outputs["heatmap"])
        size = hm.masked_l1(hm.gather_at(outputs["size"], targets["indices"]),
                            targets["size"], targets["weights"])
        offset = hm.masked_l1(hm.gather_at(outputs["offset"], targets["indices"]),
                              targets["offset"], targets["weights"])
        return {"heatmap_loss": heatmap, "size_loss": size, "offset_loss": offset}

    def per_example_loss(self, targets, outputs):
        terms = self._loss_terms(targets, outputs)
        return (terms["heatmap_loss"] + self.size_loss_weight * terms["size_loss"]
                + self.offset_loss_weight * terms["offset_loss"])

    def build_metrics(self):
        return [keras.metrics.Mean(name=self._metric_name(term))
                for term in ("heatmap_loss", "size_loss", "offset_loss")]

    def update_metrics(self, metrics, targets, outputs, weights):
        terms = self._loss_terms(targets, outputs)
        for metric in metrics:
            metric.update_state(terms[metric.name[len(self.name) + 1:]], sample_weight=weights)

    # -- decoding ------------------------------------------------------------------------
    def decode(self, outputs, image_shape):
        scores, ys, xs, classes, cells = hm.find_peaks(outputs["heatmap"], self.max_detections)
        sizes = hm.gather_at(outputs["size"], cells)
        offsets = hm.gather_at(outputs["offset"], cells)
        centers = tf.stack([tf.cast(ys, tf.float32), tf.cast(xs, tf.float32)], -1) + offsets
        half = tf.maximum(sizes, 0.0) / 2.0
        boxes = tf.concat([centers - half, centers + half], axis=-1) * float(self.stride)
        limits = tf.constant([image_shape[0], image_shape[1]] * 2, tf.float32)
        boxes = tf.clip_by_value(boxes, 0.0, limits)
        keep = scores >= self.score_threshold
        return {
            "boxes": tf.where(keep[..., None], boxes, 0.0),
            "classes": tf.where(keep, classes, -1),
            "scores": tf.where(keep, scores, 0.0),
            "num_detections": tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1),
        }

    def decoded_to_image_pixels(self, decoded, mapping):
        return {**decoded, "boxes": mapping.boxes(decoded["boxes"])}

    def describe_decoded(self):
        return {"boxes": f"[ymin, xmin, ymax, xmax] in input pixels, best {self.max_detections} "
                         "first, zeros past num_detections",
                "classes": f"class id of each box (0..{self.num_classes - 1}), -1 past num_detections",
                "scores": f"centre-heatmap score, 0 past num_detections (kept when >= "
                          f"{self.score_threshold})",
                "num_detections": "number of real boxes per image"}

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "level": self.level,
                "max_objects": self.max_objects, "max_detections": self.max_detections,
                "score_threshold": self.score_threshold, "head_channels": self.head_channels,
                "head_conv": self.head_conv,
                "class_names": self.class_names}
