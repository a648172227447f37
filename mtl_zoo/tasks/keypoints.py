"""Multi-instance pose: keypoints grouped by instance centre (CenterNet, Zhou et al. 2019)."""

import keras
import tensorflow as tf

from mtl_zoo.backbones.backbone import level_stride
from mtl_zoo.checks import check_integer, check_number
from mtl_zoo.tasks import heatmaps as hm
from mtl_zoo.tasks.base import (Task, check_last_dim, check_rank, checked_coordinates,
                                checked_crowd_flags, checked_rows, encoded_alone,
                                map_instance_areas, sized_like_output)
from mtl_zoo.tasks.flipping import check_flip_pairs
from mtl_zoo.tasks.heads import checked_head_channels, checked_head_conv, conv_tower, prediction_conv

_FAR = 1e9


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Keypoints(Task):
    """Keypoints of any number of instances (people, figures), bottom-up by centre.

    Head (on the shared pyramid at `level`): a conv tower, then four 1x1 convs:
    the instance-centre heatmap, the centre's sub-cell offset, the offsets
    from the centre cell to each keypoint (2K channels, grid cells) and one
    heatmap per keypoint type (K channels) that scores each keypoint. Loss:
    focal loss on both heatmaps + 1 * L1 centre offset + 0.1 * L1 keypoint
    offsets over labelled keypoints, each L1 summing |error| over (x, y) per
    point. This differs from "Objects as Points" (Zhou et al. 2019), whose code
    averages its L1 terms over x and y and weighs the keypoint offsets by 1
    (hp_weight): here they weigh 0.2 times as much, and the centre offset
    (weight 1, as theirs) twice as much. The 0.1 is CenterNet's box-size weight
    (wh_weight), chosen to keep the keypoint offsets, in grid cells and often
    several cells large, from dominating the focal losses. Metrics: the four
    loss terms.

    Labels: `{"keypoints": (N, K, 3)}` of normalised (x, y, visibility), with
    visibility 0 for unlabelled keypoints, optionally `"boxes": (N, 4)`
    normalised [ymin, xmin, ymax, xmax] whose centres are the instance centres
    (otherwise the centre of the labelled keypoints' bounding box), and
    optionally `"iscrowd": (N,)` bool or 0/1 for ignore regions (COCO crowd
    annotations), and optionally `"areas": (N,)`, each instance's segment area
    as a fraction of the image area (0: unknown): the evaluation's object scale
    for OKS and its APm / APl ranges, as in COCO's evaluation (without areas,
    box areas, or the labelled keypoints' extent). Labelled keypoints outside
    the image (coordinates outside [0, 1]) are encoded as unlabelled. The targets are the instances with a
    labelled keypoint in the image that are not crowd; the others give no
    target. For the evaluation (`mtl_zoo.evaluation.keypoint_ap`), crowd
    instances with a labelled keypoint or a box, and instances with a box but
    no labelled keypoint, are ignore regions, on which the poses found are not
    false positives; instances with neither are padding.
    Decoded: `keypoints` (B, n, K, 3) as (x, y, score) in input pixels,
    `scores` (B, n) and `num_instances` (B,).

    Args:
        name: task name.
        num_keypoints: K (>= 1).
        flip_pairs: (left, right) index pairs swapped by horizontal flips.
        level: pyramid level of the head.
        max_instances: instances per image whose centre offset and keypoint offsets are
            regressed; every instance is drawn in the heatmaps, so extra ones are not
            taught as background.
        max_detections: instances returned by the decoder.
        score_threshold: minimum decoded instance score.
        head_channels: width of the conv tower.
        head_conv: the tower's 3x3 convs: "standard", or "separable" (depthwise +
            pointwise, about 8x fewer multiply-adds; the light heads for mobile backbones).
        keypoint_names: optional list of K names.

    Example:
    >>> task = Keypoints("pose", num_keypoints=3, flip_pairs=[(1, 2)])
    >>> t = task.encode({"keypoints": [[[0.5, 0.2, 2], [0.3, 0.6, 2], [0.7, 0.6, 1]]]}, (64, 64, 3))
    >>> t["keypoint_heatmap"].shape
    TensorShape([8, 8, 3])
    >>> crowd = task.encode({"keypoints": [[[0.5, 0.2, 2], [0.3, 0.6, 2], [0.7, 0.6, 1]]],
    ...                      "iscrowd": [1]}, (64, 64, 3))
    >>> float(crowd["center_heatmap"].numpy().max()), float(crowd["weights"].numpy().sum())
    (0.0, 0.0)
    """

    kind = "keypoints"
    example_label_ranks = {"keypoints": (3,), "boxes": (2,), "iscrowd": (1,), "areas": (1,)}
    uses_pyramid = True
    output_keys = ("center_heatmap", "center_offset", "keypoint_offsets", "keypoint_heatmap")
    center_offset_loss_weight = 1.0
    keypoint_offset_loss_weight = 0.1

    def __init__(self, name, num_keypoints, flip_pairs=(), level="P3", max_instances=16,
                 max_detections=20, score_threshold=0.3, head_channels=64, head_conv="standard",
                 keypoint_names=None):
        super().__init__(name)
        if int(num_keypoints) < 1:
            raise ValueError(f"Task {name!r}: num_keypoints must be >= 1, got {num_keypoints}.")
        if keypoint_names is not None and len(keypoint_names) != int(num_keypoints):
            raise ValueError(
                f"Task {name!r}: {len(keypoint_names)} keypoint_names for num_keypoints={num_keypoints}.")
        self.num_keypoints = int(num_keypoints)
        self.flip_pairs = check_flip_pairs(flip_pairs, self.num_keypoints, name)
        self.level = level
        self.stride = level_stride(level)
        owner = f"Task {name!r}"
        self.max_instances = check_integer(max_instances, "max_instances", owner=owner)
        self.max_detections = check_integer(max_detections, "max_detections", owner=owner)
        self.score_threshold = check_number(score_threshold, "score_threshold", 0.0, 1.0, owner=owner)
        self.head_channels = checked_head_channels(name, head_channels)
        self.head_conv = checked_head_conv(name, head_conv)
        self.keypoint_names = list(keypoint_names) if keypoint_names is not None else None

    def build_head(self, features):
        x = conv_tower(features.pyramid[self.level], self.head_channels, 2, self.name,
                       self.head_conv)
        k = self.num_keypoints
        return {
            self.output_name("center_heatmap"): prediction_conv(
                x, 1, self.output_name("center_heatmap"), prior_probability=0.1),
            self.output_name("center_offset"): prediction_conv(x, 2, self.output_name("center_offset")),
            self.output_name("keypoint_offsets"): prediction_conv(
                x, 2 * k, self.output_name("keypoint_offsets")),
            self.output_name("keypoint_heatmap"): prediction_conv(
                x, k, self.output_name("keypoint_heatmap"), prior_probability=0.1),
        }

    def transform_label(self, label, transform):
        """Keypoints follow the image (pairs swap on a flip; those leaving it get visibility 0);
        instance boxes are clipped to the image; `iscrowd` flags stay with their instances;
        `areas` scale with the image and, with boxes, shrink with the share of their box cut off."""
        keypoints, boxes = self._checked_keypoints_and_boxes(label)
        # instances: rows with a labelled keypoint or a box of positive area (ignore regions)
        instances = tf.reduce_any(keypoints[..., 2] > 0, axis=-1)
        if boxes is not None:
            instances |= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        moved = {**label, **map_instance_areas(label, boxes, instances, transform, self),
                 "keypoints": transform.map_keypoints(keypoints, self.flip_pairs)}
        if boxes is not None:
            moved["boxes"] = transform.map_boxes(boxes)[0]
        return moved

    def _checked_keypoints_and_boxes(self, label, batch_dims=0):
        """The (N, K, 3) keypoints of a raw label and its (N, 4) boxes (None without; with
        `batch_dims` 1, a batch's (B, N, K, 3) and (B, N, 4)), after run-time checks of their
        shapes and of the coordinates of the labelled keypoints and of the boxes of instances
        with any."""
        self._require_label_keys(label, ("keypoints",), f"'keypoints' (N, {self.num_keypoints}, 3) "
                                 "and optionally 'boxes' (N, 4)")
        keypoints = checked_rows(label["keypoints"], [self.num_keypoints, 3],
                                 f"Task {self.name!r}: keypoints must be (N, {self.num_keypoints}, 3) "
                                 "normalised (x, y, visibility)", batch_dims)
        labelled = keypoints[..., 2] > 0
        keypoints = tf.concat([checked_coordinates(keypoints[..., :2], labelled, self, "keypoint coordinates"),
                               keypoints[..., 2:]], axis=-1)
        if "boxes" not in label:
            return keypoints, None
        message = f"Task {self.name!r}: boxes must be (N, 4), one per instance of keypoints"
        boxes = checked_rows(label["boxes"], [4], message, batch_dims)
        with tf.control_dependencies([tf.debugging.assert_equal(tf.shape(boxes)[:-1],
                                                                tf.shape(keypoints)[:-2], message)]):
            boxes = tf.identity(boxes)
        return keypoints, checked_coordinates(boxes, tf.reduce_any(labelled, axis=-1), self, "box coordinates")

    # -- targets ----------------------------------------------------------------------
    def encode(self, labels, image_shape):
        return encoded_alone(self, labels, image_shape)

    def encode_batch(self, labels, image_shape):
        grid = hm.grid_shape(image_shape, self.stride)
        keypoints, boxes = self._checked_keypoints_and_boxes(labels, batch_dims=1)
        keypoints = tf.cast(keypoints, tf.float32)
        inside = tf.reduce_all((keypoints[..., :2] >= 0.0) & (keypoints[..., :2] <= 1.0), axis=-1)
        labelled = (keypoints[..., 2] > 0) & inside  # points outside the image count as unlabelled
        points = tf.stack([keypoints[..., 1] * grid[0], keypoints[..., 0] * grid[1]], -1)  # (B, N, K, yx)
        if boxes is not None:
            scale = tf.constant([grid[0], grid[1], grid[0], grid[1]], tf.float32)
            boxes = tf.cast(boxes, tf.float32) * scale
        else:
            low = tf.reduce_min(tf.where(labelled[..., None], points, _FAR), axis=-2)
            high = tf.reduce_max(tf.where(labelled[..., None], points, -_FAR), axis=-2)
            boxes = tf.concat([low, high], axis=-1)
        valid = tf.reduce_any(labelled, axis=-1) & tf.logical_not(
            checked_crowd_flags(labels, tf.shape(keypoints)[:2], self))
        centers = (boxes[..., :2] + boxes[..., 2:]) / 2.0
        center_heatmap, keypoint_heatmap = self._heatmaps(points, labelled, centers, boxes, valid, grid)
        points, labelled, centers, weights = hm.keep_first(
            valid, self.max_instances, points, labelled, centers)
        cells, indices, center_offsets = hm.encode_centers(centers, grid)
        keypoint_weights = tf.cast(labelled, tf.float32) * weights[..., None]
        return {
            "center_heatmap": center_heatmap,
            "keypoint_heatmap": keypoint_heatmap,
            "indices": indices,
            "center_offset": center_offsets,
            "keypoint_offsets": (points - cells[..., None, :]) * keypoint_weights[..., None],
            "keypoint_weights": keypoint_weights,
            "weights": weights,
        }

    def _heatmaps(self, points, labelled, centers, boxes, valid, grid):
        """The (B, h, w, 1) centre and (B, h, w, K) keypoint heatmaps of the `valid` ((B, M)
        bool) of M instances: (B, M, K, yx) grid-unit `points`, (B, M, K) `labelled` flags,
        (B, M, yx) `centers` and (B, M, 4) grid-unit `boxes`, whose size sets the Gaussians'."""
        sizes = tf.maximum(boxes[..., 2:] - boxes[..., :2], 1.0)
        sigmas = hm.gaussian_sigma(sizes[..., :1], sizes[..., 1:])  # (B, M, 1)
        center_heatmap = hm.peak_heatmaps(centers[..., None, :], sigmas,
                                          tf.where(valid, 0, -1)[..., None], 1, grid)
        shown = labelled & valid[..., None]
        keypoint_ids = tf.broadcast_to(tf.range(self.num_keypoints), tf.shape(shown))
        keypoint_heatmap = hm.peak_heatmaps(points, tf.broadcast_to(sigmas, tf.shape(shown)),
                                            tf.where(shown, keypoint_ids, -1), self.num_keypoints, grid)
        return center_heatmap, keypoint_heatmap

    def validate_targets(self, targets):
        self._require_keys(targets, ("center_heatmap", "keypoint_heatmap", "indices", "center_offset",
                                     "keypoint_offsets", "keypoint_weights", "weights"))
        check_rank(targets["keypoint_offsets"], (4,), self, "targets['keypoint_offsets']",
                   "Encode raw labels with Keypoints.encode.")
        check_last_dim(targets["keypoint_heatmap"], self.num_keypoints, self,
                       "targets['keypoint_heatmap']", "One heatmap channel per keypoint.")
        check_last_dim(targets["indices"], self.max_instances, self, "targets['indices']",
                       f"Encode the labels with this task's max_instances={self.max_instances}.")

    # -- loss and metrics ---------------------------------------------------------------
    def _loss_terms(self, targets, outputs):
        focal = hm.HeatmapFocalLoss(reduction=None)
        targets = {**targets, **{key: sized_like_output(targets[key], outputs[key], self, f"targets[{key!r}]")
                                 for key in ("center_heatmap", "keypoint_heatmap")}}
        offsets = hm.gather_at(outputs["keypoint_offsets"], targets["indices"])
        offsets = tf.reshape(offsets, [-1, self.max_instances, self.num_keypoints, 2])
        return {
            "center_loss": focal(targets["center_heatmap"], outputs["center_heatmap"]),
            "keypoint_heatmap_loss": focal(targets["keypoint_heatmap"], outputs["keypoint_heatmap"]),
            "center_offset_loss": hm.masked_l1(hm.gather_at(outputs["center_offset"], targets["indices"]),
                                               targets["center_offset"], targets["weights"]),
            "keypoint_offset_loss": hm.masked_l1(offsets, targets["keypoint_offsets"],
                                                 targets["keypoint_weights"]),
        }

    def per_example_loss(self, targets, outputs):
        terms = self._loss_terms(targets, outputs)
        return (terms["center_loss"] + terms["keypoint_heatmap_loss"]
                + self.center_offset_loss_weight * terms["center_offset_loss"]
                + self.keypoint_offset_loss_weight * terms["keypoint_offset_loss"])

    def build_metrics(self):
        return [keras.metrics.Mean(name=self._metric_name(term)) for term in
                ("center_loss", "keypoint_heatmap_loss", "center_offset_loss", "keypoint_offset_loss")]

    def update_metrics(self, metrics, targets, outputs, weights):
        terms = self._loss_terms(targets, outputs)
        for metric in metrics:
            metric.update_state(terms[metric.name[len(self.name) + 1:]], sample_weight=weights)

    # -- decoding ------------------------------------------------------------------------
    def decode(self, outputs, image_shape):
        k = self.num_keypoints
        scores, ys, xs, _, cells = hm.find_peaks(outputs["center_heatmap"], self.max_detections)
        offsets = tf.reshape(hm.gather_at(outputs["keypoint_offsets"], cells), [tf.shape(cells)[0], -1, k, 2])
        centers = tf.cast(tf.stack([ys, xs], -1), tf.float32)
        points = centers[:, :, None, :] + offsets  # (B, n, K, yx) in grid cells
        heatmap = tf.sigmoid(tf.cast(outputs["keypoint_heatmap"], tf.float32))
        grid = tf.shape(heatmap)[1:3]
        limits = tf.cast(grid - 1, tf.float32)
        finite = tf.where(tf.math.is_finite(points), points, 0.0)  # NaN cast to int: no index
        point_cells = tf.cast(tf.clip_by_value(tf.floor(finite), 0.0, limits), tf.int32)
        flat_cells = point_cells[..., 0] * grid[1] + point_cells[..., 1]  # (B, n, K)
        flat_heatmap = tf.transpose(tf.reshape(heatmap, [tf.shape(heatmap)[0], -1, k]), [0, 2, 1])
        point_scores = tf.gather(flat_heatmap, tf.transpose(flat_cells, [0, 2, 1]), batch_dims=2)
        point_scores = tf.transpose(point_scores, [0, 2, 1])
        limits_px = tf.constant([image_shape[0], image_shape[1]], tf.float32)
        pixels = tf.clip_by_value(points * float(self.stride), 0.0, limits_px)
        keypoints = tf.stack([pixels[..., 1], pixels[..., 0], point_scores], axis=-1)
        keep = scores >= self.score_threshold
        return {
            "keypoints": tf.where(keep[..., None, None], keypoints, 0.0),
            "scores": tf.where(keep, scores, 0.0),
            "num_instances": tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1),
        }

    def decoded_to_image_pixels(self, decoded, mapping):
        keypoints = decoded["keypoints"]  # (x, y, score)
        return {**decoded, "keypoints": tf.concat([mapping.points(keypoints[..., :2]), keypoints[..., 2:]], -1)}

    def describe_decoded(self):
        return {"keypoints": f"(x, y, score) of each of the {self.num_keypoints} keypoints per "
                             "instance, in input pixels; zeros past num_instances",
                "scores": f"instance-centre score, 0 past num_instances (kept when >= "
                          f"{self.score_threshold})",
                "num_instances": "number of real instances per image"}

    def get_config(self):
        return {**super().get_config(), "num_keypoints": self.num_keypoints,
                "flip_pairs": [list(p) for p in self.flip_pairs], "level": self.level,
                "max_instances": self.max_instances, "max_detections": self.max_detections,
                "score_threshold": self.score_threshold, "head_channels": self.head_channels,
                "head_conv": self.head_conv,
                "keypoint_names": self.keypoint_names}
