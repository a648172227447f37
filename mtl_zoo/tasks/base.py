"""`Task`: everything about one task (head, loss, metrics, encoder, decoder)."""

import dataclasses
from typing import Callable, NamedTuple, Optional

import tensorflow as tf

from mtl_zoo.configurable import Configurable
from mtl_zoo.naming import check_identifier


@dataclasses.dataclass
class Features:
    """What the shared trunk hands to the task heads.

    Attributes:
        backbone: raw backbone features `{"P2": ..., "P5": ...}`.
        pyramid: the shared feature pyramid (same keys, uniform channels), or
            None when no task asked for it.
        image_shape: (height, width, channels) of the model input.
    """

    backbone: dict
    pyramid: Optional[dict]
    image_shape: tuple


def static_rank(value):
    """The number of axes of `value` (a tensor, a KerasTensor or an array), or None when it is
    unknown (Keras traces a step again with an unknown rank after targets of two ranks).

    Example:
    >>> static_rank(tf.zeros([2, 3]).numpy()), static_rank(tf.zeros([2])), static_rank(tf.TensorSpec(None).shape)
    (2, 1, None)
    """
    shape = getattr(value, "shape", value)
    return shape.rank if isinstance(shape, tf.TensorShape) else len(shape)


def check_rank(value, expected_ranks, task, what, fix):
    """Raises a ValueError naming `task` when `value`'s rank is known and not in `expected_ranks`."""
    rank = static_rank(value)
    if rank is not None and rank not in expected_ranks:
        raise ValueError(
            f"Task {task.name!r}: {what} has shape {tuple(value.shape)} (rank {rank}), "
            f"expected rank {' or '.join(map(str, expected_ranks))}. {fix}"
        )


def check_last_dim(value, expected, task, what, fix):
    """Raises a ValueError naming `task` when `value`'s static last dimension is wrong."""
    last = value.shape[-1] if static_rank(value) else None
    if last is not None and int(last) != expected:
        raise ValueError(
            f"Task {task.name!r}: {what} has shape {tuple(value.shape)}, expected last "
            f"dimension {expected}. {fix}"
        )


def sized_like_output(target, output, task, what):
    """`target` after a check that its height and width (axes 1 and 2) are those of the head
    `output` it is compared with: a ValueError naming `task` when both sizes are known when
    the step is traced, else a run-time assertion with the same message.

    Targets encoded for another input size or pyramid level would otherwise fail deep in
    the loss with an anonymous broadcast or gather error.
    """
    target = tf.convert_to_tensor(target)
    required = f"Task {task.name!r}: {what} must have the (height, width) of the model's output"
    fix = "Encode the labels for this model: model.encode_labels, or mtl_zoo.data.build_pipeline(model, ...)."
    target_size, output_size = target.shape[1:3], output.shape[1:3]
    if target_size.is_fully_defined() and output_size.is_fully_defined():
        if target_size != output_size:
            raise ValueError(f"{required}, {tuple(output_size)}; they have {tuple(target_size)}. {fix}")
        return target
    check = tf.debugging.assert_equal(tf.shape(target)[1:3], tf.shape(output)[1:3],
                                      message=f"{required} (x: theirs, y: the output's). {fix}")
    with tf.control_dependencies([check]):
        return tf.identity(target)


def checked_coordinates(values, labelled, task, what):
    """`values` after a run-time check that the normalised image coordinates in them are
    finite and within [-1, 2] where `labelled` (a boolean mask of their leading dimensions);
    the others are returned as 0, so that a NaN placeholder cannot reach a loss.

    NaN, or pixel coordinates, would otherwise be dropped or clipped to the image edge
    without a word. Values a little outside [0, 1] pass: boxes and points that leave the
    image are clipped or marked invisible there.
    """
    values = tf.convert_to_tensor(values)
    coordinates = tf.cast(values, tf.float32)
    plausible = tf.math.is_finite(coordinates) & (coordinates >= -1.0) & (coordinates <= 2.0)
    check = tf.debugging.assert_equal(
        tf.reduce_all(plausible | tf.logical_not(labelled[..., None])), True,
        message=f"Task {task.name!r}: {what} must be finite, normalised image coordinates (0 to 1 "
                "across the image); divide pixel coordinates by the image height and width.")
    with tf.control_dependencies([check]):
        return tf.where(labelled[..., None], values, tf.zeros_like(values))


def whole_numbers(values):
    """True where `values` hold whole numbers: everywhere for an integer dtype, else where
    rounding leaves them as they are (class ids given as floats must not be truncated).

    Example:
    >>> whole_numbers(tf.constant([1.0, 2.5])).numpy()
    array([ True, False])
    """
    values = tf.convert_to_tensor(values)
    if values.dtype.is_integer or values.dtype == tf.bool:
        return tf.ones_like(values, tf.bool)
    return tf.equal(values, tf.round(values))


def checked_class_ids(values, task, what="class ids"):
    """`values` as a tensor, after checks that they are numbers (strings: a ValueError) and,
    at run time, whole numbers, with messages that name `task` and `what` they are: a cast
    to integers would truncate 1.5 to 1 without a word.

    Example:
    >>> checked_class_ids([1.0, 2.0], Task("kind")).numpy().tolist()
    [1.0, 2.0]
    >>> checked_class_ids(["cat"], Task("kind"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Task 'kind': class ids must be numbers, got strings; map class names to ids first ...
    """
    values = tf.convert_to_tensor(values)
    if values.dtype == tf.string:
        raise ValueError(f"Task {task.name!r}: {what} must be numbers, got strings; map class names to ids "
                         "first (e.g. with a dict, or class_names.index(name)).")
    check = tf.debugging.assert_equal(tf.reduce_all(whole_numbers(values)), True,
                                      f"Task {task.name!r}: {what} must be whole numbers")
    with tf.control_dependencies([check]):
        return tf.identity(values)


def labelled_values_check(task, targets, mask, is_valid, requirement):
    """A `tf.debugging` assertion that `is_valid(values)` holds everywhere in the targets of
    the examples whose `mask` is above 0; it fails with "Task 'name': `requirement`"."""
    values = tf.boolean_mask(tf.convert_to_tensor(targets), mask > 0)
    return tf.debugging.assert_equal(tf.reduce_all(is_valid(values)), True,
                                     message=f"Task {task.name!r}: {requirement}")


ONE_EXAMPLE_FIX = ("model.encode_labels and Task.encode take ONE example's raw labels: encode each "
                   "example before batching, or a padded batch with model.encode_label_batch")


def at_most_rank(value, max_rank, message):
    """`value` as a tensor, after a check that it has at most `max_rank` axes: a ValueError
    now when its rank is known, else a run-time assertion, with `message` either way.

    Raw labels are reshaped to rows, so a batch given where one example belongs would
    otherwise be flattened into one example's instances without a word.

    Example:
    >>> at_most_rank(tf.zeros([3, 4]), 2, "boxes must be (N, 4)").shape
    TensorShape([3, 4])
    >>> at_most_rank(tf.zeros([2, 3, 4]), 2, "boxes must be (N, 4)")
    Traceback (most recent call last):
    ...
    ValueError: boxes must be (N, 4); got shape (2, 3, 4).
    """
    value = tf.convert_to_tensor(value)
    if value.shape.rank is not None:
        if value.shape.rank > max_rank:
            raise ValueError(f"{message}; got shape {tuple(value.shape)}.")
        return value
    check = tf.debugging.assert_less_equal(tf.rank(value), max_rank, message=message)
    with tf.control_dependencies([check]):
        return tf.identity(value)


def checked_size(value, size, message):
    """`value` as a tensor, after a check that it holds `size` values: a ValueError now when
    its shape is known, else a run-time assertion, with `message` either way."""
    value = tf.convert_to_tensor(value)
    if value.shape.is_fully_defined():
        if value.shape.num_elements() != size:
            raise ValueError(f"{message}; got shape {tuple(value.shape)}.")
        return value
    check = tf.debugging.assert_equal(tf.size(value), size, message=message)
    with tf.control_dependencies([check]):
        return tf.identity(value)


def one_example_message(message, batch_dims=0):
    """`message` (what a raw label must be) told for one example, or for a padded batch
    with `batch_dims` 1."""
    return f"{message}, with a leading batch axis" if batch_dims else f"{message}, for ONE example ({ONE_EXAMPLE_FIX})"


def checked_label(value, trailing_shape, message):
    """`value` as a tensor, after a run-time check that its last dimensions are `trailing_shape`
    or that it is empty (an image without objects may come as `[]`).

    For raw labels whose shapes are known only when an example is read: a
    wrong one raises `InvalidArgumentError` with `message` instead of failing
    later in an anonymous reshape.
    """
    value = tf.convert_to_tensor(value)
    shape, expected = tf.shape(value), tf.cast(trailing_shape, tf.int32)
    tail = shape[tf.maximum(tf.size(shape) - tf.size(expected), 0):]
    tail = tf.pad(tail, [[tf.size(expected) - tf.size(tail), 0]], constant_values=-1)  # rank too low
    check = tf.debugging.assert_equal(tf.reduce_all(tf.equal(tail, expected)) | tf.equal(tf.size(value), 0),
                                      True, message)
    with tf.control_dependencies([check]):
        return tf.identity(value)


def checked_rows(value, row_shape, message, batch_dims=0):
    """`checked_label(value, row_shape, message)` as (N, *row_shape) rows, or with
    `batch_dims` 1 as a batch's (B, N, *row_shape) (empty labels give N = 0).

    Example:
    >>> checked_rows([], [4], "boxes must be (N, 4)").shape
    TensorShape([0, 4])
    >>> checked_rows(tf.zeros([2, 3, 4]), [4], "boxes must be (N, 4)", batch_dims=1).shape
    TensorShape([2, 3, 4])
    """
    value = at_most_rank(checked_label(value, row_shape, message), batch_dims + 1 + len(row_shape),
                         one_example_message(message, batch_dims))
    row_shape = tf.constant(row_shape, tf.int32, shape=[len(row_shape)])
    return tf.reshape(value, tf.concat([tf.shape(value)[:batch_dims], [-1], row_shape], 0))


def checked_crowd_flags(label, shape, task):
    """The bool `"iscrowd"` flags of a raw label, one per instance, in the instances' `shape`
    ((N,), or (B, N) for a batch; all False when the label has none), after a run-time check
    that there is one flag per instance.

    Crowd instances are ignore regions (COCO's crowd annotations, VOC's difficult objects):
    they give no training target, and the evaluation neither counts them as missed nor the
    detections on them as false positives.

    Example:
    >>> checked_crowd_flags({"iscrowd": [0, 1]}, [2], Task("objects")).numpy().tolist()
    [False, True]
    """
    if "iscrowd" not in label:
        return tf.zeros(shape, tf.bool)
    flags = _one_per_instance(label, "iscrowd", tf.reduce_prod(shape), task, "iscrowd flag")
    return tf.reshape(tf.cast(flags, tf.bool), shape)


def checked_areas(label, instances, task):
    """The (N,) float32 `"areas"` of a raw label (None when it has none), after run-time
    checks that there is one per row and that those of the rows `instances` ((N,) bool:
    the instances, not padding) are >= 0; padding rows get 0, whatever they held.

    An area is the instance's segment area as a fraction of the image's area (COCO's
    `area` / (height * width)); the evaluation uses it as COCO does, for OKS's object
    scale and the small / medium / large ranges. 0 means unknown.

    Example:
    >>> checked_areas({"areas": [0.25, -1.0]}, tf.constant([True, False]), Task("objects")).numpy().tolist()
    [0.25, 0.0]
    """
    if "areas" not in label:
        return None
    areas = tf.cast(_one_per_instance(label, "areas", tf.size(instances), task, "area"), tf.float32)
    check = tf.debugging.assert_equal(
        tf.reduce_all((areas >= 0.0) | ~instances), True,
        message=f"Task {task.name!r}: areas must be fractions of the image area, >= 0")
    with tf.control_dependencies([check]):
        return tf.where(instances, areas, 0.0)


def map_instance_areas(label, boxes, instances, transform, task):
    """`{"areas": ...}` of a raw label moved by a `GeometricTransform` (see `map_areas`),
    or `{}` when the label has no areas. `boxes` are the (N, 4) instance boxes before the
    transform (None without); `instances` (N,) bool marks the rows that are instances,
    not padding (see `checked_areas`).

    Example:
    >>> from mtl_zoo.data.transform import GeometricTransform
    >>> zoom = GeometricTransform.window([0.0, 0.0], [0.5, 0.5], (32, 32))
    >>> moved = map_instance_areas({"areas": [0.0625]}, tf.constant([[0.1, 0.1, 0.3, 0.3]]),
    ...                            tf.constant([True]), zoom, Task("objects"))
    >>> moved["areas"].numpy().tolist()  # 4x, its box wholly inside the window
    [0.25]
    """
    if "areas" not in label:
        return {}
    moved = transform.map_areas(checked_areas(label, instances, task), boxes)
    return {"areas": tf.where(instances, moved, 0.0)}  # padding boxes may be anything, NaN included


def _one_per_instance(label, key, count, task, what):
    """`label[key]` flattened, after a run-time check that it has `count` values."""
    values = tf.reshape(tf.convert_to_tensor(label[key]), [-1])
    check = tf.debugging.assert_equal(tf.size(values), tf.cast(count, tf.int32),
                                      message=f"Task {task.name!r}: one {what} per instance")
    with tf.control_dependencies([check]):
        return tf.identity(values)


def encoded_alone(task, labels, image_shape):
    """`task.encode_batch` of ONE example's raw labels: the `encode` of a task kind whose
    encoding is written for batches. A key of the label with more axes than
    `task.example_label_ranks` allows (a batch, given for one example) is refused with a
    ValueError.

    Example:
    >>> from mtl_zoo.tasks import Detection
    >>> targets = encoded_alone(Detection("objects", 2), {"boxes": [[0.1, 0.1, 0.5, 0.5]], "classes": [1]},
    ...                         (32, 32, 3))
    >>> targets["heatmap"].shape, targets["weights"].shape
    (TensorShape([4, 4, 2]), TensorShape([32]))
    """
    def batch_of_one(value, key=None):
        value = tf.convert_to_tensor(value)
        if key in task.example_label_ranks:
            most = max(task.example_label_ranks[key])
            value = at_most_rank(value, most, one_example_message(
                f"Task {task.name!r}: a raw label's {key!r} has at most {most} axes"))
        return value[None]

    # a raw label is a dict of arrays or one array, whose nested lists are values, not structure
    batch = ({key: batch_of_one(value, key) for key, value in labels.items()} if isinstance(labels, dict)
             else batch_of_one(labels))
    return tf.nest.map_structure(lambda value: value[0], task.encode_batch(batch, image_shape))


class ImageMapping(NamedTuple):
    """From model-input pixels to each original image's pixels, for serving: a value v
    along an axis becomes (v - offset) * scale there, clipped to the image.

    Fields are (B, 2) float32 in (y, x) order: `offset`, where each image's content
    starts in the model input (0 when stretched; the band width when letterboxed);
    `scale`, image pixels per model-input pixel; `sizes`, the images' (height, width).
    `resize_maps` maps (B, h, w, C) model-input maps to the images' sizes.

    Example:
    >>> mapping = ImageMapping(tf.constant([[8.0, 0.0]]), tf.constant([[2.0, 2.0]]),
    ...                        tf.constant([[32.0, 64.0]]), resize_maps=None)
    >>> mapping.points(tf.constant([[[10.0, 12.0]]])).numpy().tolist()  # (x, y)
    [[[20.0, 8.0]]]
    >>> mapping.boxes(tf.constant([[[4.0, 0.0, 30.0, 40.0]]])).numpy().tolist()  # into the bands: clipped
    [[[0.0, 0.0, 32.0, 64.0]]]
    """

    offset: tf.Tensor
    scale: tf.Tensor
    sizes: tf.Tensor
    resize_maps: Callable

    def _along(self, values, yx_order):
        """`values` (B, ..., 2) mapped per axis; `yx_order` False for (x, y) pairs."""
        shape = [-1] + [1] * (len(values.shape) - 2) + [2]
        order = (lambda t: t) if yx_order else (lambda t: t[:, ::-1])
        offset, scale, limit = (tf.reshape(order(tf.cast(t, tf.float32)), shape)
                                for t in (self.offset, self.scale, self.sizes))
        return tf.clip_by_value((values - offset) * scale, 0.0, limit)

    def points(self, xy):
        """(B, ..., 2) (x, y) points in model-input pixels to image pixels."""
        return self._along(xy, yx_order=False)

    def boxes(self, boxes):
        """(B, n, 4) [ymin, xmin, ymax, xmax] boxes in model-input pixels to image pixels."""
        corners = tf.reshape(boxes, tf.concat([tf.shape(boxes)[:-1], [2, 2]], 0))
        return tf.reshape(self._along(corners, yx_order=True), tf.shape(boxes))

class Task(Configurable):
    """Base class of every task kind.

    A subclass defines:
      * `kind`: the registry name used in configs ("classification", ...);
      * `uses_pyramid`: whether its head reads the shared feature pyramid;
      * `build_head(features)`: Keras layers on `Features`, returning a dict of
        outputs named `f"{name}_{key}"`;
      * `encode(labels, image_shape)`: raw labels of ONE example to training
        targets (TensorFlow ops, traced without autograph, as `transform_label`
        is: Python `if` and `for` may test shapes and settings, not tensor
        values). The input pipeline encodes padded batches with `encode_batch`,
        which by default runs `encode` through `tf.vectorized_map`: fixed-shape
        ops (masks and `tf.where`, not `tf.boolean_mask`) batch, others fall
        back to a per-example loop; padding rows (`label_padding`) must encode
        to nothing. A kind may instead write `encode_batch` for batches and
        derive `encode` from it (`encoded_alone`), as detection and keypoints do;
      * `per_example_loss(targets, outputs)`: a (batch,) loss;
      * `build_metrics()` and `update_metrics(metrics, targets, outputs, weights)`;
      * `decode(outputs, image_shape)`: raw head outputs to user-facing values;
      * `validate_targets(targets)`: a ValueError for targets of the wrong shape.

    `outputs` passed to the methods above is the task's own slice of the
    model outputs, keyed without the task-name prefix (e.g. `"logits"`).

    Example, a task that regresses one number per image (its mean brightness):
    >>> import keras
    >>> import mtl_zoo as mz
    >>> class Brightness(Task):
    ...     kind, output_keys = "brightness", ("value",)
    ...     def build_head(self, features):
    ...         pooled = keras.layers.GlobalAveragePooling2D()(features.backbone["P5"])
    ...         return {self.output_name("value"): keras.layers.Dense(1, name=self.output_name("value"))(pooled)}
    ...     def encode(self, labels, image_shape):
    ...         return tf.reshape(tf.cast(labels, tf.float32), [1])
    ...     def per_example_loss(self, targets, outputs):
    ...         return tf.reduce_mean(tf.square(outputs["value"] - targets), axis=-1)
    ...     def update_metrics(self, metrics, targets, outputs, weights):
    ...         pass
    ...     def decode(self, outputs, image_shape):
    ...         return {"value": outputs["value"][:, 0]}
    ...     def validate_targets(self, targets):
    ...         pass
    >>> model = mz.build_model("tiny", [Brightness("brightness")], (32, 32, 3))
    >>> model.compile(optimizer="adam")
    >>> images = tf.random.uniform([4, 32, 32, 3])
    >>> targets = {"brightness": tf.reduce_mean(images, axis=[1, 2, 3])[:, None]}
    >>> logs = model.fit(images, targets, epochs=2, verbose=0).history
    >>> sorted(logs)
    ['brightness_loss', 'loss']
    >>> model.decode(model(images))["brightness"]["value"].shape
    TensorShape([4])

    Args:
        name: the task's name: the key of its labels and the prefix of its
            outputs and metrics. Letters, digits and underscores.
    """

    kind = None
    uses_pyramid = False
    # the numbers of axes one example's raw label may have: {key of a dict label, or None for
    # an array label: ranks}; a label of instances may also come empty. `encode_labels` and
    # `encode_label_batch` tell one example from a batch by them ({}: not checked)
    example_label_ranks = {}
    # True for kinds whose raw label is one (H, W) or (H, W, 1) map: then a batch's (B, H, W)
    # is told from one example's (H, W, 1) by its last axis
    raw_label_is_map = False

    def __init__(self, name):
        self.name = check_identifier(name, "task name")

    def as_spec(self):
        """This task as the dict `mtl_zoo.tasks.get_task` builds it from (`{"kind": ...,
        **get_config()}`), as `build_model` configs and preset.json files hold tasks.

        Example:
        >>> from mtl_zoo.tasks import Classification
        >>> Classification("digit", 10).as_spec()["kind"]
        'classification'
        """
        return {"kind": self.kind, **self.get_config()}

    # -- naming -----------------------------------------------------------------
    def output_name(self, key):
        """The model output name of this task's head output `key`."""
        return f"{self.name}_{key}"

    def own_outputs(self, model_outputs):
        """This task's slice of the model's flat output dict, keyed without prefix."""
        prefix = f"{self.name}_"
        return {name[len(prefix):]: value for name, value in model_outputs.items()
                if name.startswith(prefix) and name[len(prefix):] in self.output_keys}

    @property
    def output_keys(self):
        """The keys (without prefix) of this task's head outputs."""
        raise NotImplementedError

    # -- the contract -------------------------------------------------------------
    def build_head(self, features):
        raise NotImplementedError

    def encode(self, labels, image_shape):
        raise NotImplementedError

    def encode_batch(self, labels, image_shape):
        """Raw labels of a padded batch (each leaf with a leading batch axis, padded with
        `label_padding`) to a batch of targets: `encode` on each example at once, through
        `tf.vectorized_map`. Kinds whose per-example intermediates grow large when
        vectorised (one heatmap per instance) write this method for batches instead."""
        return tf.vectorized_map(lambda one: self.encode(one, image_shape), labels,
                                 fallback_to_while_loop=True)

    def transform_label(self, label, transform):
        """ONE example's raw label, moved with its image by a geometric transform.

        The input pipeline (`mtl_zoo.data`) resizes, letterboxes, crops and
        flips images with one `mtl_zoo.data.GeometricTransform`; each task kind
        says here how its raw label follows (boxes, keypoints, label maps), so a
        new task kind brings its own rule. Image-level labels do not move: the
        default returns `label` unchanged.

        Args:
            label: this task's raw label of one example (TF tensors).
            transform: the `GeometricTransform` applied to the image.
        """
        return label

    def label_padding(self, label_spec):
        """Padding values for batching raw labels of different lengths (`padded_batch`).

        Returns one scalar per component of `label_spec` (the label's
        `tf.TypeSpec` structure); the default pads with zeros.
        """
        return tf.nest.map_structure(lambda spec: tf.zeros([], spec.dtype), label_spec)

    def per_example_loss(self, targets, outputs):
        raise NotImplementedError

    def build_metrics(self):
        return []

    def update_metrics(self, metrics, targets, outputs, weights):
        raise NotImplementedError

    def decode(self, outputs, image_shape):
        raise NotImplementedError

    def validate_targets(self, targets):
        raise NotImplementedError

    def target_checks(self, targets, mask):
        """Run-time checks of a batch of `targets` in the train and test steps: a list of
        `tf.debugging` assertions about the examples whose `mask` is above 0 (masked ones may
        hold placeholders), each failing with a message that names the task. None by default;
        `validate_targets` checks shapes when the step is traced."""
        return []

    # -- serving ------------------------------------------------------------------------
    def decoded_to_image_pixels(self, decoded, mapping):
        """Maps `decode`'s values from model-input pixels to each original image's pixels.

        The serving export stretches or letterboxes images of any size to the
        model input; this puts coordinates (`mapping.points`, `mapping.boxes`)
        and dense maps (`mapping.resize_maps`) back on the images as given.
        Global outputs (probabilities, labels) need nothing: the default
        returns `decoded` unchanged.

        Args:
            decoded: this task's `decode` result.
            mapping: an `ImageMapping` from model-input pixels to the images'.

        Returns:
            A dict with the same keys as `decoded`.
        """
        return decoded

    def describe_decoded(self):
        """`{decoded key: meaning}`, the text of the serving-output docs and model cards."""
        return {}

    # -- helpers for subclasses ---------------------------------------------------------
    def _metric_name(self, metric):
        return f"{self.name}_{metric}"

    def _require_label_keys(self, label, keys, form):
        """A ValueError unless the raw `label` is a dict holding `keys`; `form` says what
        each key holds, e.g. "'boxes' (N, 4) and 'classes' (N,)"."""
        if not isinstance(label, dict):
            raise ValueError(f"Task {self.name!r}: a raw label is a dict with {form}, got "
                             f"{type(label).__name__}.")
        missing = [key for key in keys if key not in label]
        if missing:
            raise ValueError(f"Task {self.name!r}: a raw label is a dict with {form}; this one "
                             f"lacks {missing}.")

    def _require_keys(self, targets, keys):
        if not isinstance(targets, dict):
            raise ValueError(
                f"Task {self.name!r} expects its targets as a dict with keys {sorted(keys)} "
                f"(from {type(self).__name__}.encode), got {type(targets).__name__}."
            )
        missing = sorted(set(keys) - set(targets))
        if missing:
            raise ValueError(
                f"Task {self.name!r}: targets lack {missing}; encode raw labels with "
                f"model.encode_labels or {type(self).__name__}.encode."
            )

    # -- serialization -----------------------------------------------------------------
    def get_config(self):
        return {"name": self.name}
