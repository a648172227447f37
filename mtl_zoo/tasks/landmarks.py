"""Single-instance landmark regression (e.g. five face landmarks)."""

import keras
import tensorflow as tf
from keras import layers, ops

from mtl_zoo.tasks.base import (Task, at_most_rank, check_last_dim, check_rank, checked_coordinates, checked_label,
                                labelled_values_check, one_example_message)
from mtl_zoo.tasks.flipping import check_flip_pairs
from mtl_zoo.tasks.heatmaps import masked_l1


@keras.saving.register_keras_serializable(package="mtl_zoo")
class Landmarks(Task):
    """A fixed set of K points per image, regressed directly (one instance).

    Head: the flattened stride-32 backbone features, a hidden dense layer and
    2K sigmoid outputs, i.e. normalised (x, y) per landmark. Loss: L1 over the
    labelled landmarks. Metric: mean Euclidean error in normalised units.

    Labels: (K, 3) normalised (x, y, visibility); visibility 0 means
    unlabelled. Decoded: `landmarks` (B, K, 2) as (x, y) in input pixels.

    Args:
        name: task name.
        num_landmarks: K (>= 1).
        flip_pairs: (left, right) index pairs swapped by horizontal flips.
        hidden_units: width of the hidden dense layer.
        landmark_names: optional list of K names.

    Example:
    >>> task = Landmarks("face", num_landmarks=5, flip_pairs=[(0, 1), (3, 4)])
    >>> task.encode([[0.3, 0.4, 1]] * 5, (64, 64, 3)).shape
    TensorShape([5, 3])
    """

    kind = "landmarks"
    example_label_ranks = {None: (2,)}
    output_keys = ("coordinates",)

    def __init__(self, name, num_landmarks, flip_pairs=(), hidden_units=128, landmark_names=None):
        super().__init__(name)
        if int(num_landmarks) < 1:
            raise ValueError(f"Task {name!r}: num_landmarks must be >= 1, got {num_landmarks}.")
        if landmark_names is not None and len(landmark_names) != int(num_landmarks):
            raise ValueError(
                f"Task {name!r}: {len(landmark_names)} landmark_names for num_landmarks={num_landmarks}.")
        self.num_landmarks = int(num_landmarks)
        self.flip_pairs = check_flip_pairs(flip_pairs, self.num_landmarks, name)
        self.hidden_units = int(hidden_units)
        self.landmark_names = list(landmark_names) if landmark_names is not None else None

    def build_head(self, features):
        x = layers.Flatten(name=f"{self.name}_flatten")(features.backbone["P5"])
        x = layers.Dense(self.hidden_units, activation="relu", name=f"{self.name}_hidden")(x)
        x = layers.Dense(2 * self.num_landmarks, activation="sigmoid", dtype="float32",
                         name=f"{self.name}_dense")(x)
        coordinates = layers.Reshape((self.num_landmarks, 2), dtype="float32",
                                     name=self.output_name("coordinates"))(x)
        return {self.output_name("coordinates"): coordinates}

    def transform_label(self, label, transform):
        """Landmarks follow the image; pairs swap on a flip; those leaving it get visibility 0."""
        return transform.map_keypoints(self._checked_landmarks(label), self.flip_pairs)

    def encode(self, labels, image_shape):
        return tf.cast(self._checked_landmarks(labels), tf.float32)

    def _checked_landmarks(self, label):
        """The (L, 3) landmarks of a raw label, after run-time checks of their shape and of the
        coordinates of the labelled ones."""
        message = f"Task {self.name!r}: landmarks must be ({self.num_landmarks}, 3) normalised (x, y, visibility)"
        label = at_most_rank(checked_label(label, [self.num_landmarks, 3], message), 2, one_example_message(message))
        label = tf.reshape(label, [self.num_landmarks, 3])
        return tf.concat([checked_coordinates(label[:, :2], label[:, 2] > 0, self, "landmark coordinates"),
                          label[:, 2:]], axis=-1)

    def validate_targets(self, targets):
        check_rank(targets, (3,), self, "labels", f"Pass (batch, {self.num_landmarks}, 3) (x, y, visibility).")
        check_last_dim(targets, 3, self, "labels", "Each landmark is (x, y, visibility).")
        if targets.shape[1] is not None and int(targets.shape[1]) != self.num_landmarks:
            raise ValueError(f"Task {self.name!r}: labels have {targets.shape[1]} landmarks, "
                             f"expected num_landmarks={self.num_landmarks}.")

    def target_checks(self, targets, mask):
        """Landmarks given to `fit` as they are (their targets are the raw labels) get the
        check that encoding makes: labelled ones are finite, normalised coordinates."""
        def normalised(values):
            inside = tf.reduce_all((values[..., :2] >= -1.0) & (values[..., :2] <= 2.0), axis=-1)
            return (values[..., 2] <= 0) | inside  # NaN fails both comparisons

        return [labelled_values_check(self, tf.cast(targets, tf.float32), mask, normalised,
                                      "labelled landmark coordinates must be finite, normalised image "
                                      "coordinates (x, y in [0, 1]; pixel coordinates are not)")]

    def per_example_loss(self, targets, outputs):
        targets = ops.cast(targets, "float32")
        return masked_l1(outputs["coordinates"], targets[..., :2], targets[..., 2] > 0)

    def build_metrics(self):
        return [keras.metrics.Mean(name=self._metric_name("mean_error"))]

    def update_metrics(self, metrics, targets, outputs, weights):
        targets = ops.cast(targets, "float32")
        distance = ops.sqrt(ops.sum((outputs["coordinates"] - targets[..., :2]) ** 2, axis=-1))
        labelled = ops.cast(targets[..., 2] > 0, "float32") * ops.expand_dims(weights, -1)
        metrics[0].update_state(distance, sample_weight=labelled)

    def decode(self, outputs, image_shape):
        scale = tf.constant([image_shape[1], image_shape[0]], tf.float32)
        return {"landmarks": tf.cast(outputs["coordinates"], tf.float32) * scale}

    def decoded_to_image_pixels(self, decoded, mapping):
        return {"landmarks": mapping.points(decoded["landmarks"])}

    def describe_decoded(self):
        return {"landmarks": f"(x, y) of each of the {self.num_landmarks} landmarks in input pixels"}

    def get_config(self):
        return {**super().get_config(), "num_landmarks": self.num_landmarks,
                "flip_pairs": [list(p) for p in self.flip_pairs],
                "hidden_units": self.hidden_units, "landmark_names": self.landmark_names}
