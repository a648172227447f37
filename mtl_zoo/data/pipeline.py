"""The input pipeline: `(image, {task: raw label})` examples to training batches for a model.

One path for every dataset: each example's image is resized or letterboxed
to the model input (composed with the random augmentation view, so it is
resampled once), each raw label follows through its task's
`transform_label`, the model's tasks encode the labels, and batches come as
`(images, {task: targets}, {task: (batch,) mask})`: mask 1 where the example
labels the task, 0 where it does not (the model then adds no loss for it).
"""

import json
import math
import numbers
import warnings

import tensorflow as tf

from mtl_zoo.checks import check_integer
from mtl_zoo.data.augmentation import Augmentation
from mtl_zoo.data.transform import GeometricTransform, check_resize_mode
from mtl_zoo.naming import closest_names, unknown_name_error


def check_batch_size(batch_size):
    return check_integer(batch_size, "batch_size")


def batches_per_pass(count, batch_size, drop_remainder=False):
    """Batches in one pass over `count` examples: the last one partial, or dropped.

    Example:
    >>> batches_per_pass(100, 32), batches_per_pass(100, 32, drop_remainder=True)
    (4, 3)
    """
    batch_size = check_batch_size(batch_size)
    return count // batch_size if drop_remainder else -(-count // batch_size)


def check_not_empty(examples, what):
    if int(examples.cardinality()) == 0:
        raise ValueError(f"{what} is empty: it has no examples to batch.")


def with_labels_of(examples, task_names):
    """`(image, labels)` examples (or triples with per-task masks) keeping only the labels and
    masks of those of `task_names` they have: a dataset that labels more tasks than a model
    has (mtl_shapes' segmentation for a preset without it), also one of a mixture that labels
    only some of the model's tasks (the pipelines mask the others).

    Args:
        examples: a `tf.data.Dataset` of such pairs or triples.
        task_names: a list of task names, or a model (its `task_names`).

    Raises:
        ValueError: the examples are not such pairs or triples, or label none of `task_names`;
            `task_names` is one string. A name they do not label that looks like one they
            label that is not listed (a misspelling, which would leave that task without
            labels) is warned about.

    Example:
    >>> examples = tf.data.Dataset.from_tensors((tf.zeros([8, 8, 3]), {"a": 1, "b": 2}))
    >>> with_labels_of(examples, ["a", "c"]).element_spec[1]
    {'a': TensorSpec(shape=(), dtype=tf.int32, name=None)}
    """
    spec = getattr(examples, "element_spec", None)
    if not (isinstance(spec, tuple) and len(spec) in (2, 3) and isinstance(spec[1], dict)):
        raise ValueError(f"with_labels_of takes a tf.data.Dataset of (image, {{task_name: raw label}}) pairs "
                         f"(or triples with per-task masks), got {spec if spec is not None else type(examples)}.")
    task_names = getattr(task_names, "task_names", task_names)
    if isinstance(task_names, str):
        raise ValueError(f"task_names must be a list of task names (or a model), got the string {task_names!r}: "
                         f"write [{task_names!r}].")
    task_names = list(task_names)
    unlisted_labels = [label for label in spec[1] if label not in task_names]
    for name in task_names:
        alike = closest_names(name, unlisted_labels, cutoff=0.8) if name not in spec[1] else []
        if alike:  # a warning: in a mixture, another dataset may label the task
            warnings.warn(f"The examples label no task {name!r}, but they label {' and '.join(map(repr, alike))}, "
                          f"which is not listed: a misspelling? Their tasks are {sorted(spec[1])}.", stacklevel=2)
    kept = [name for name in task_names if name in spec[1]]
    if not kept:
        raise ValueError(f"The examples label none of the tasks {list(task_names)}: they label "
                         f"{sorted(spec[1])}.")

    def keep(image, labels, *masks):
        return (image, {name: labels[name] for name in kept},
                *({name: mask[name] for name in kept if name in mask} for mask in masks))

    return examples.map(keep)


def check_examples(model, examples, what="the dataset"):
    """Checks that `examples` yields `(image, {task: raw label}[, {task: mask}])` for `model`.

    Returns the task names its labels cover, in the model's order.
    """
    if not hasattr(model, "task_names"):
        raise ValueError(f"The pipelines prepare data for a mtl_zoo MultiTaskModel (mz.build_model), got "
                         f"{type(model).__name__}.")
    spec = getattr(examples, "element_spec", None)
    if spec is None:
        raise ValueError(f"{what} must be a tf.data.Dataset of (image, {{task_name: raw label}}) examples, got "
                         f"{type(examples).__name__}; for arrays, use mz.data.dataset_from_arrays.")
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ValueError(f"{what} must yield (image, {{task_name: raw label}}) pairs (or "
                         f"triples with per-task masks), got elements {spec}.")
    image, labels = spec[:2]
    if not isinstance(labels, dict):
        raise ValueError(f"{what}: labels must be a dict keyed by task name "
                         f"(tasks {model.task_names}), got {labels}.")
    for name in labels:
        if name not in model.task_names:
            error = unknown_name_error(f"task in the labels of {what}", name, model.task_names)
            raise ValueError(f"{error} To drop the labels of tasks the model lacks: "
                             "mz.data.with_labels_of(examples, model.task_names).")
    if image.dtype != tf.string and image.shape.rank != 3:
        raise ValueError(f"{what}: images must be (height, width, channels) arrays or encoded "
                         f"image bytes, got {image}.")
    if len(spec) == 3 and not (isinstance(spec[2], dict) and set(spec[2]) <= set(model.task_names)):
        raise ValueError(f"{what}: masks must be a dict {{task_name: 0/1}} over the model's "
                         f"tasks {model.task_names}, got {spec[2]}.")
    return [name for name in model.task_names if name in labels]


def _as_model_image(image, channels, what):
    """A float32 (H, W, channels) image from an array or encoded bytes."""
    if image.dtype == tf.string:
        image = tf.io.decode_image(image, channels=channels, expand_animations=False)
    given = image.shape[-1]
    if given is not None and given != channels:
        if (given, channels) == (1, 3):
            image = tf.image.grayscale_to_rgb(image)
        elif (given, channels) == (3, 1):
            image = tf.image.rgb_to_grayscale(image)
        else:
            raise ValueError(f"{what}: images have {given} channels, the model takes {channels} "
                             "(images are (height, width, channels)).")
    if given is None:  # known when the example is read
        if channels == 3:  # grayscale to RGB, as above
            image = tf.cond(tf.shape(image)[-1] == 1, lambda: tf.tile(image, [1, 1, 3]), lambda: image)
        check = tf.debugging.assert_equal(tf.shape(image)[-1], channels, message=(
            f"{what}: images must be (height, width, {channels}), channels last, as the model takes them"))
        with tf.control_dependencies([check]):
            image = tf.ensure_shape(image, [None, None, channels])
    tf.debugging.assert_positive(tf.size(image), f"{what}: an image is empty")
    return tf.cast(image, tf.float32)


class ExamplePreparation:
    """Moves examples to the model input (resize/letterbox, augmentation, label transforms)
    and encodes batches of them for the model's tasks.

    Args:
        model: the `MultiTaskModel` whose input size and tasks are used.
        augmentation: an `Augmentation`, or None.
        resize: "stretch" or "letterbox".
        pad_value: image value of pixels with no source content (letterbox bands).
        what: how error messages name the dataset.

    Example:
    >>> prepare = ExamplePreparation(model, resize="letterbox")  # doctest: +SKIP
    >>> dataset = examples.map(prepare)  # (image, raw labels) at the model's input size  # doctest: +SKIP
    >>> moved = examples.map(prepare.move)  # (image, raw labels, masks, colours)  # doctest: +SKIP
    >>> batches = moved.padded_batch(8, padding_values=prepare.padding(moved.element_spec))  # doctest: +SKIP
    >>> batches = batches.map(prepare.encode_batch)  # (images, targets, masks)  # doctest: +SKIP
    """

    def __init__(self, model, augmentation=None, resize="stretch", pad_value=0.0,
                 what="the dataset"):
        check_resize_mode(resize)
        if augmentation is not None and not isinstance(augmentation, Augmentation):
            raise ValueError(f"augmentation must be a mtl_zoo.data.Augmentation or None, "
                             f"got {augmentation!r}.")
        self.model = model
        self.augmentation = augmentation
        if augmentation is not None:
            augmentation.check_channels(model.image_shape[-1])
            for name in augmentation.crop_sensitive_tasks:
                model.get_task(name)  # an unknown name is an error naming the model's tasks
        self.resize = resize
        if isinstance(pad_value, bool) or not isinstance(pad_value, numbers.Real) or not math.isfinite(pad_value):
            raise ValueError(f"pad_value must be a number, the image value of padding (e.g. 0.0 or 114.0), "
                             f"got {pad_value!r}.")
        self.pad_value = float(pad_value)
        self.what = what

    # Plain Python control flow over the tasks only: no autograph conversion (faster tracing).
    @tf.autograph.experimental.do_not_convert
    def __call__(self, image, labels, seed=None):
        """Returns the float32 model-size image and the moved raw labels of one example."""
        if self.augmentation is not None and self.augmentation.masks_cropped_views:
            raise ValueError("The augmentation masks crop-sensitive tasks, and this call returns "
                             "no masks: use `move` (as build_pipeline does).")
        image, moved, colours, _ = self._moved(image, labels, seed)
        if self.augmentation is not None:
            image = self.augmentation.adjust_colours(image[None], colours[None])[0]
        return image, moved

    def _moved(self, image, labels, seed):
        """The resampled image, the moved raw labels, the (4,) colour factors (neutral
        without augmentation; not applied yet) and whether the whole image stays in view,
        of one example."""
        image = _as_model_image(image, self.model.image_shape[-1], self.what)
        output_size = self.model.image_shape[:2]
        visibility = 0.25 if self.augmentation is None else self.augmentation.min_box_visibility
        transform = GeometricTransform.resize(tf.shape(image)[:2], output_size, self.resize, visibility)
        colours = tf.constant([0.0, 1.0, 1.0, 0.0])
        if self.augmentation is not None:
            view_seed, colour_seed = tf.unstack(tf.random.split(seed, 2))
            transform = self.augmentation.view(view_seed, output_size).then(transform)
            colours = self.augmentation.colour_factors(colour_seed)
        image = transform.resample_image(image, self.pad_value)
        moved = {}
        for name, label in labels.items():
            task = self.model.get_task(name)
            try:
                moved[name] = task.transform_label(label, transform)
            except (KeyError, TypeError, ValueError, IndexError) as error:
                raise _label_error(self.what, task, label, error) from None
        return image, moved, colours, transform.shows_whole_source

    @tf.autograph.experimental.do_not_convert
    def move(self, image, labels, seed=None, masks=None):
        """`(image, {task: moved raw label}, {task: mask}, colour factors)` of one example, the
        image resampled but its colours not changed yet, masks for every model task (0 where
        unlabelled, and for the augmentation's crop-sensitive tasks where the view is
        cropped); batch these with `padding`, then `encode_batch`.

        The label of a task whose mask is 0 may hold any placeholder (an out-of-range
        class id, NaN coordinates): it is replaced by the task's padding."""
        given = masks or {}
        labels = {name: self._placeholder_where_masked(name, label, given.get(name))
                  for name, label in labels.items()}
        image, labels, colours, whole_view = self._moved(image, labels, seed)
        crop_sensitive = self.augmentation.crop_sensitive_tasks if self.augmentation is not None else ()
        example_masks = {}
        for name in self.model.task_names:
            mask = tf.cast(given.get(name, 1.0), tf.float32) * float(name in labels)
            if name in crop_sensitive:
                mask *= tf.cast(whole_view, tf.float32)
            example_masks[name] = mask
        return image, labels, example_masks, colours

    def padding(self, moved_spec):
        """`padded_batch` padding values of `move`'s elements: each task's `label_padding`
        for the labels (padding rows encode to nothing)."""
        image, labels, masks, colours = moved_spec
        return (tf.zeros([], image.dtype),
                {name: self.model.get_task(name).label_padding(spec) for name, spec in labels.items()},
                tf.nest.map_structure(lambda spec: tf.zeros([], spec.dtype), masks),
                tf.zeros([], colours.dtype))

    @tf.autograph.experimental.do_not_convert
    def encode_batch(self, images, labels, masks, colours):
        """`(images, {task: targets}, masks)` of a padded batch of `move` results: the images'
        colours changed (`Augmentation.adjust_colours`), the labels encoded.

        Each task encodes the whole batch at once (`Task.encode_batch`: the
        per-example `Task.encode` through `tf.vectorized_map`, unless the task
        kind writes its encoding for batches), so its many small ops run once
        per batch, not once per example."""
        if self.augmentation is not None:
            images = self.augmentation.adjust_colours(images, colours)
        targets = {}
        for name, label in labels.items():
            task = self.model.get_task(name)
            try:
                targets[name] = batch_encoder(task, self.model.image_shape)(label)
            except (KeyError, TypeError, ValueError, IndexError) as error:
                raise _label_error(self.what, task, label, error) from None
        return images, targets, masks

    def _placeholder_where_masked(self, name, label, mask):
        """`label`, or the task's padding values in its shapes when `mask` is 0."""
        if mask is None:
            return label
        label = tf.nest.map_structure(tf.convert_to_tensor, label)
        padding = self.model.get_task(name).label_padding(
            tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), label))
        labelled = tf.cast(mask, tf.float32) > 0
        return tf.nest.map_structure(
            lambda value, pad: tf.where(labelled, value, tf.fill(tf.shape(value), pad)), label, padding)


# (task class, task config, input shape) -> the tf.function that encodes batches alike.
_BATCH_ENCODERS = {}


def batch_encoder(task, image_shape):
    """A `tf.function` that encodes a padded batch of `task`'s raw labels for `image_shape`
    (`Task.encode_batch`).

    One per task class, configuration and input shape in a process (tasks with equal
    `get_config()` encode alike), so that later pipelines for such a task reuse its trace.
    """
    key = (type(task), json.dumps(task.get_config(), sort_keys=True, default=str), tuple(image_shape))
    if key not in _BATCH_ENCODERS:
        # Task code is plain graph code, as in `move`: autograph's conversion of it took
        # most of the first trace (1.3 of 1.5 s for detection).
        _BATCH_ENCODERS[key] = tf.function(lambda labels: task.encode_batch(labels, image_shape),
                                           autograph=False)
    return _BATCH_ENCODERS[key]


def _label_error(what, task, label, error):
    spec = tf.nest.map_structure(lambda t: f"{t.dtype.name}{t.shape}", label)
    return ValueError(f"{what}: the raw label of task {task.name!r} ({type(task).__name__}) has "
                      f"the wrong structure {spec}: {error}. See the README's Tasks table for "
                      "the raw label formats.")


def with_example_seeds(examples, seed, reshuffle=True):
    """Zips each example with a (2,) int64 stateless seed, the same ones per `seed`: new ones
    for each iterator, or with `reshuffle` False the same ones for every iterator."""
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=reshuffle).batch(2)
    return tf.data.Dataset.zip((examples, seeds))


# Epoch e of an epoch-indexed pipeline draws its order and augmentation from seed * this + e,
# in a dataset function whose graph-level seed is EPOCH_GRAPH_SEED.
EPOCH_SEED_STRIDE = 1_000_003
EPOCH_GRAPH_SEED = 1


# Examples whose labels the tasks encode at once (`ExamplePreparation.encode_batch`).
ENCODING_CHUNK = 32


def encoded_pass(prepare, examples, shuffle_buffer=0, seed=None):
    """Unbatched `(image, {task: targets}, {task: mask})` examples of one pass over `examples`
    (see `moved_pass`), encoded a chunk at a time. Targets cover the tasks `examples`
    labels; masks cover all the model's tasks."""
    moved = moved_pass(prepare, examples, shuffle_buffer, seed)
    return encoded_batches(moved, prepare, ENCODING_CHUNK).unbatch()


def encoded_batches(moved, prepare, batch_size, drop_remainder=False):
    """`(images, {task: targets}, {task: mask})` batches of `moved_pass`' dataset: padded,
    then encoded a batch at once (`ExamplePreparation.encode_batch`)."""
    return (moved.padded_batch(batch_size, padding_values=prepare.padding(moved.element_spec),
                               drop_remainder=drop_remainder)
            .map(prepare.encode_batch, num_parallel_calls=tf.data.AUTOTUNE))


def checked_preparation(model, examples, augmentation=None, resize="stretch", pad_value=0.0,
                        what="the dataset"):
    """The `ExamplePreparation` of `examples` for `model`, once they are checked to suit it."""
    check_examples(model, examples, what)
    check_not_empty(examples, what)
    return ExamplePreparation(model, augmentation, resize, pad_value, what)


def moved_pass(prepare, examples, shuffle_buffer=0, seed=None, reshuffle=True):
    """One pass over `examples`, shuffled and moved by `prepare` (`ExamplePreparation.move`).

    The order and the augmentation come from `seed`: anew for each iterator, or with
    `reshuffle` False the same for every iterator (an epoch-indexed pipeline's epochs)."""
    if shuffle_buffer:
        examples = examples.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=reshuffle)
    if prepare.augmentation is None:
        return examples.map(lambda image, labels, *masks: prepare.move(
            image, labels, None, *masks), num_parallel_calls=tf.data.AUTOTUNE)
    return with_example_seeds(examples, seed, reshuffle).map(
        lambda example, seed_pair: prepare.move(example[0], example[1], seed_pair, *example[2:]),
        num_parallel_calls=tf.data.AUTOTUNE)


def checked_epoch_range(epochs, first_epoch, seed):
    """`(epochs, first_epoch)` of an epoch-indexed stream as ints, or None when `epochs` is None;
    a ValueError for a `first_epoch` without `epochs`, a missing seed, or a bad range."""
    if epochs is None:
        if first_epoch != 0:
            raise ValueError(f"first_epoch={first_epoch!r} needs epochs=... (an epoch-indexed "
                             "stream).")
        return None
    if seed is None:
        raise ValueError("epochs=... draws each epoch's order and augmentation from the seed and "
                         "the epoch's index: give a seed (e.g. seed=0).")
    epochs = check_integer(epochs, "epochs")
    first_epoch = check_integer(first_epoch, "first_epoch", minimum=0)
    if first_epoch > epochs:
        raise ValueError(f"first_epoch={first_epoch} is past the last of epochs={epochs}.")
    return epochs, first_epoch


def check_finite_for_epochs(examples, what="these examples"):
    """A ValueError if `examples` never end: an epoch-indexed stream starts each epoch with a
    new pass over them."""
    if examples.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"epochs=... starts each epoch with a new pass over the examples, and "
                         f"{what} never end (a repeat()?): give a finite dataset.")


def epoch_indexed(build_epoch, seed, epochs, first_epoch, elements_per_epoch=None):
    """The elements `build_epoch(epoch_seed, epoch)` of epochs `first_epoch` to `epochs - 1`,
    back to back, where `epoch_seed` (an int64 tensor) is `seed * EPOCH_SEED_STRIDE + epoch`.

    `build_epoch` runs in a dataset function whose graph-level seed is EPOCH_GRAPH_SEED,
    so an epoch's random draws depend on `seed` and the epoch alone, not on the global seed
    the program set. (With a global seed of 0, TensorFlow's seed helper would also test the
    epoch's seed tensor as a Python bool, which fails in a graph.) With `elements_per_epoch`,
    the stream's cardinality is asserted (`fit` and the strategies use it; `flat_map` does
    not know it).

    Example:
    >>> stream = epoch_indexed(lambda epoch_seed, epoch: tf.data.Dataset.from_tensors(epoch_seed),
    ...                        seed=2, epochs=3, first_epoch=1, elements_per_epoch=1)
    >>> [int(s) for s in stream], int(stream.cardinality())
    ([2000007, 2000008], 2)
    """

    def one_epoch(epoch):
        tf.random.set_seed(EPOCH_GRAPH_SEED)
        return build_epoch(tf.constant(seed, tf.int64) * EPOCH_SEED_STRIDE + epoch, epoch)

    stream = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)
    if elements_per_epoch is not None:
        stream = stream.apply(tf.data.experimental.assert_cardinality(
            (epochs - first_epoch) * elements_per_epoch))
    return stream


def epoch_batches(prepare, examples, batch_size, shuffle_buffer, seed, drop_remainder, epochs,
                  first_epoch):
    """Encoded batches of epochs `first_epoch` to `epochs - 1` back to back, each epoch's order
    and augmentation drawn from `seed` and its index alone (see `build_pipeline`)."""
    check_finite_for_epochs(examples)

    def one_epoch(epoch_seed, epoch):
        moved = moved_pass(prepare, examples, shuffle_buffer, epoch_seed, reshuffle=False)
        return encoded_batches(moved, prepare, batch_size, drop_remainder)

    count = int(examples.cardinality())
    per_epoch = batches_per_pass(count, batch_size, drop_remainder) if count >= 0 else None
    return epoch_indexed(one_epoch, seed, epochs, first_epoch, per_epoch)


def deterministic_options(deterministic, seed, shuffled=True):
    """`tf.data.Options` for the pipeline; deterministic order needs a seed. Unshuffled
    examples keep their order whatever `deterministic` says (parallel maps may otherwise
    hand them on out of order)."""
    if deterministic and seed is None:
        raise ValueError("deterministic=True needs a seed (e.g. seed=0) so that augmentation and "
                         "shuffling repeat across runs.")
    options = tf.data.Options()
    options.deterministic = bool(deterministic) or not shuffled
    return options


def build_pipeline(model, examples, batch_size=32, augmentation=None, resize="stretch",
                   shuffle_buffer=0, seed=None, deterministic=False, pad_value=0.0,
                   drop_remainder=False, epochs=None, first_epoch=0):
    """Batches `(images, {task: targets}, {task: mask})` for `model.fit` from raw examples.

    Each image is resized (`"stretch"`) or letterboxed (`"letterbox"`: aspect
    kept, padded with `pad_value`) to the model input, jointly augmented with
    its labels when `augmentation` is given, and its raw labels are encoded by
    the model's tasks. Tasks the examples do not label get mask 0 (and no
    targets). Maps run with `num_parallel_calls=AUTOTUNE`; batches are
    prefetched.

    Args:
        model: a `MultiTaskModel`.
        examples: a `tf.data.Dataset` of `(image, {task: raw label})` (a
            source's `load`), or `(image, labels, {task: mask})` triples.
            Images are uint8 (H, W, C) arrays of any size, or encoded bytes.
        batch_size: examples per batch (>= 1).
        augmentation: an `Augmentation`, or None.
        resize: "stretch" or "letterbox".
        shuffle_buffer: shuffle buffer size; 0 keeps the order.
        seed: seed of the shuffling and of the augmentation.
        deterministic: same seed -> identical batches across runs (stateless
            per-example randomness, `options.deterministic`); needs a seed.
            When False, shuffled examples may come in a different order each
            run (parallel maps hand on whichever is ready first).
        pad_value: image value of letterbox bands and zoomed-out borders.
        drop_remainder: drop the last, smaller batch.
        epochs: None: each iterator (each epoch of `fit`) is one pass over the
            examples, reshuffled and newly augmented. An int: one dataset of the
            epochs `first_epoch` to `epochs - 1` back to back, each epoch's order
            and augmentation drawn from `seed` and the epoch's index alone, so a
            run resumed at epoch k trains on the batches an uninterrupted run
            would (deterministic, whatever `deterministic` says). Give `fit` the
            same `epochs` and `steps_per_epoch=mz.data.steps_per_epoch([examples],
            batch_size, drop_remainder)`: without it, `fit` would take the whole
            stream for its first epoch. Needs a seed and finite examples.
        first_epoch: with `epochs`, the epoch to start from, e.g.
            `mz.SharedBackupAndRestore.backed_up_epoch()`.

    Example:
    >>> images, labels = generate_shapes(64, image_size=96)  # doctest: +SKIP
    >>> examples = tf.data.Dataset.from_tensor_slices((images, labels))  # doctest: +SKIP
    >>> data = build_pipeline(model, examples, 16, Augmentation(scale_range=(0.8, 1.2)),
    ...                       resize="letterbox", shuffle_buffer=64, seed=0)  # doctest: +SKIP
    >>> model.fit(data, epochs=2)  # doctest: +SKIP
    >>> resumable = build_pipeline(model, examples, 16, shuffle_buffer=64, seed=0, epochs=10,
    ...                            first_epoch=backup.backed_up_epoch())  # doctest: +SKIP
    >>> model.fit(resumable, epochs=10, steps_per_epoch=steps_per_epoch([64], 16),
    ...           callbacks=[backup])  # doctest: +SKIP
    """
    batch_size = check_batch_size(batch_size)
    shuffle_buffer = check_integer(int(shuffle_buffer) if hasattr(shuffle_buffer, "numpy") else shuffle_buffer,
                                   "shuffle_buffer", minimum=0)  # a tensor too: examples.cardinality()
    epoch_range = checked_epoch_range(epochs, first_epoch, seed)
    options = deterministic_options(deterministic or epoch_range is not None, seed,
                                    shuffled=bool(shuffle_buffer))
    prepare = checked_preparation(model, examples, augmentation, resize, pad_value)
    count = int(examples.cardinality())  # -1 endless, -2 unknown
    if drop_remainder and 0 <= count < batch_size:
        raise ValueError(f"The dataset has {count} examples, fewer than batch_size={batch_size}, so "
                         "drop_remainder=True would leave no batch: lower the batch size, or keep "
                         "the remainder.")
    if epoch_range is None:
        batches = encoded_batches(moved_pass(prepare, examples, shuffle_buffer, seed), prepare,
                                  batch_size, drop_remainder)
    else:
        batches = epoch_batches(prepare, examples, batch_size, shuffle_buffer, seed, drop_remainder,
                                *epoch_range)
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)


def raw_batches(model, examples, batch_size=32, resize="stretch", pad_value=0.0):
    """Batches `(images, {task: raw labels})` at the model input, for evaluation.

    Images are resized or letterboxed like `build_pipeline` (no augmentation)
    and the raw labels moved with them, so decoded predictions and labels share
    the model-input coordinates. Variable numbers of boxes and instances are
    padded per batch with each task's `label_padding` (detection: class -1,
    keypoints: visibility 0, segmentation: the ignore label).

    Example:
    >>> images, labels = next(iter(raw_batches(model, examples, 8)))  # doctest: +SKIP
    """
    batch_size = check_batch_size(batch_size)
    check_examples(model, examples)
    check_not_empty(examples, "the dataset")
    prepare = ExamplePreparation(model, resize=resize, pad_value=pad_value)
    moved = examples.map(lambda image, labels, *masks: prepare(image, labels),
                         num_parallel_calls=tf.data.AUTOTUNE)
    label_specs = moved.element_spec[1]
    padding = (tf.constant(0.0), {name: model.get_task(name).label_padding(spec)
                                  for name, spec in label_specs.items()})
    return moved.padded_batch(batch_size, padding_values=padding).prefetch(tf.data.AUTOTUNE)
