import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.data import (Augmentation, build_pipeline, dataset_from_arrays, generate_shapes,
                          raw_batches)

SHAPE = (64, 64, 3)


@pytest.fixture(scope="module")
def model():
    tasks = [mz.tasks.Classification("count", num_classes=3),
             mz.tasks.Detection("shapes", num_classes=2),
             mz.tasks.Keypoints("extremes", num_keypoints=4, flip_pairs=[(1, 2)])]
    return mz.build_model("tiny", tasks, SHAPE)


@pytest.fixture(scope="module")
def examples():
    images, labels = generate_shapes(24, image_size=48, seed=4)
    return tf.data.Dataset.from_tensor_slices((images, labels))


def _rectangle_example(mask_value=1):
    """A 40x80 image with a bright rectangle on rows 10-30, columns 20-40, and its box."""
    image = np.zeros((40, 80, 3), np.uint8)
    image[10:30, 20:40] = 255
    labels = {"shapes": {"boxes": np.array([[0.25, 0.25, 0.75, 0.5]], np.float32),
                         "classes": np.array([1], np.int32)}}
    return tf.data.Dataset.from_tensors((image, labels))


def test_masked_examples_may_hold_placeholders_encode_would_refuse(model):
    images = np.zeros((2, 32, 32, 3), np.uint8)
    labels = {"count": np.array([-1, 2]),  # a negative class id where the mask is 0
              "shapes": {"boxes": np.array([[[np.nan] * 4], [[0.1, 0.1, 0.5, 0.5]]], np.float32),
                         "classes": np.array([[7], [1]]),  # class 7 of 2
                         "iscrowd": np.array([[True], [False]])}}
    masks = {"count": np.array([0, 1], np.float32), "shapes": np.array([0, 1], np.float32)}
    _, targets, batch_masks = next(iter(dataset_from_arrays(model, images, labels, 2, masks=masks)))
    assert targets["count"].numpy().tolist() == [0, 2]
    assert float(tf.reduce_max(targets["shapes"]["heatmap"][0])) == 0.0  # no object, no NaN
    assert float(tf.reduce_max(targets["shapes"]["heatmap"][1])) == pytest.approx(1.0)
    assert batch_masks["count"].numpy().tolist() == [0, 1]


def _every_task_kind():
    """A model with one task of each kind, and 5 examples of different sizes whose boxes and
    instances number 0 to 4 (more than max_objects and max_instances), some crowd flags and
    unlabelled points among them."""
    tasks = [mz.tasks.Classification("kind", 3), mz.tasks.MultiLabel("tags", 4),
             mz.tasks.Detection("things", 3, max_objects=2),
             mz.tasks.Keypoints("people", 3, flip_pairs=[(0, 1)], max_instances=2),
             mz.tasks.Landmarks("corners", 2), mz.tasks.Segmentation("regions", 3),
             mz.tasks.Depth("depth")]
    model = mz.build_model("tiny", tasks, (32, 32, 3))
    rng = np.random.default_rng(3)

    def example(i, count):
        height, width = 28 + 4 * i, 40 - 2 * i
        corners = rng.uniform(0.05, 0.5, (count, 2))
        boxes = np.concatenate([corners, corners + rng.uniform(0.1, 0.45, (count, 2))], 1)
        points = np.concatenate([rng.uniform(0, 1, (count, 3, 2)),
                                 rng.integers(0, 3, (count, 3, 1))], -1)
        return (rng.integers(0, 256, (height, width, 3)).astype(np.uint8), {
            "kind": np.int32(i % 3), "tags": rng.integers(-1, 2, 4).astype(np.float32),
            "things": {"boxes": boxes.astype(np.float32), "classes": rng.integers(0, 3, count).astype(np.int32),
                       "iscrowd": (np.arange(count) == 1).astype(np.int32)},
            "people": {"keypoints": points.astype(np.float32)},
            "corners": np.concatenate([rng.uniform(0, 1, (2, 2)), [[2], [0]]], -1).astype(np.float32),
            "regions": rng.integers(0, 3, (height // 2, width // 2)).astype(np.int32),
            "depth": rng.uniform(0, 5, (height, width)).astype(np.float32)})

    drawn = [example(i, count) for i, count in enumerate([0, 1, 3, 4, 2])]
    spec = tf.nest.map_structure(lambda a: tf.TensorSpec([None] * np.ndim(a), tf.as_dtype(np.asarray(a).dtype)),
                                 drawn[0])
    return model, tf.data.Dataset.from_generator(lambda: iter(drawn), output_signature=spec)


def test_batches_encode_as_each_example_encodes_alone():
    from mtl_zoo.data import ExamplePreparation

    model, examples = _every_task_kind()
    _, targets, _ = next(iter(build_pipeline(model, examples, batch_size=5, deterministic=True, seed=0)))
    prepare = ExamplePreparation(model)
    for index, (image, labels) in enumerate(examples):
        alone = model.encode_labels(prepare(image, labels)[1])
        assert sorted(alone) == sorted(targets) == sorted(model.task_names)
        tf.nest.map_structure(lambda batched, one: np.testing.assert_allclose(batched[index], one, atol=1e-6),
                              targets, alone)
    weights = targets["things"]["weights"].numpy()  # at most 2 regressed; the crowd box none
    assert weights.tolist() == [[0, 0], [1, 0], [1, 1], [1, 1], [1, 0]]


def test_every_task_kind_encodes_a_batch_without_a_per_example_loop():
    from mtl_zoo.data import ExamplePreparation
    from mtl_zoo.tasks import Task

    model, examples = _every_task_kind()
    prepare = ExamplePreparation(model)
    moved = examples.map(prepare.move)
    _, labels, _, _ = next(iter(moved.padded_batch(5, padding_values=prepare.padding(moved.element_spec))))
    written_for_batches = set()
    for task in model.tasks:
        if type(task).encode_batch is Task.encode_batch:
            # fallback_to_while_loop=False raises on any op of encode that pfor cannot batch
            encoded = tf.vectorized_map(lambda one, task=task: task.encode(one, model.image_shape),
                                        labels[task.name], fallback_to_while_loop=False)
        else:
            written_for_batches.add(task.kind)
            encoded = task.encode_batch(labels[task.name], model.image_shape)
        assert all(leaf.shape[0] == 5 for leaf in tf.nest.flatten(encoded))
    assert written_for_batches == {"detection", "keypoints"}


def test_unshuffled_examples_keep_their_order(model):
    images = np.zeros((48, 16, 16, 3), np.uint8)
    counts = np.arange(48) % 3
    data = dataset_from_arrays(model, images, {"count": counts}, batch_size=16)
    assert data.options().deterministic
    order = np.concatenate([targets["count"].numpy() for _, targets, _ in data])
    assert order.tolist() == counts.tolist()
    shuffled = dataset_from_arrays(model, images, {"count": counts}, batch_size=16, shuffle=True, seed=0)
    assert not shuffled.options().deterministic  # any order: shuffled anyway


def test_letterbox_maps_a_box_to_the_right_pixels(model):
    images, labels = next(iter(raw_batches(model, _rectangle_example(), 1, resize="letterbox",
                                           pad_value=7.0)))
    # scale 64 / 80 = 0.8: the image fills rows 16..48; the rectangle rows 24..40, columns 16..32
    np.testing.assert_allclose(labels["shapes"]["boxes"][0, 0], [24 / 64, 16 / 64, 40 / 64, 32 / 64],
                               atol=1e-6)
    image = images[0, ..., 0].numpy()
    bright = np.argwhere(image > 127)
    assert bright.min(0).tolist() == [24, 16] and bright.max(0).tolist() == [39, 31]
    assert (image[:16] == 7.0).all() and (image[48:] == 7.0).all()
    # black down to the rectangle but for its antialiased edge: shrunk 0.8x, row 23's kernel,
    # widened to 1.25 source pixels, reaches the rectangle's first row
    np.testing.assert_allclose(image[16:23], 0.0, atol=1e-4)
    assert 0 < image[23, 20:30].min() < 127


def test_stretch_maps_a_box_to_the_right_pixels(model):
    images, labels = next(iter(raw_batches(model, _rectangle_example(), 1, resize="stretch")))
    np.testing.assert_allclose(labels["shapes"]["boxes"][0, 0], [0.25, 0.25, 0.75, 0.5], atol=1e-6)
    bright = np.argwhere(images[0, ..., 0].numpy() > 127)
    assert bright.min(0).tolist() == [16, 16] and bright.max(0).tolist() == [47, 31]


def test_raw_batches_pad_boxes_with_class_minus_one(model):
    boxes = [np.array([[0.1, 0.1, 0.3, 0.3]] * n, np.float32) for n in (1, 3)]
    examples = tf.data.Dataset.from_generator(
        lambda: ((np.zeros((32, 32, 3), np.uint8), {"shapes": {"boxes": b, "classes": np.zeros(
            len(b), np.int32)}, "extremes": {"keypoints": np.ones((len(b), 4, 3), np.float32)}})
                 for b in boxes),
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), {
            "shapes": {"boxes": tf.TensorSpec((None, 4), tf.float32),
                       "classes": tf.TensorSpec((None,), tf.int32)},
            "extremes": {"keypoints": tf.TensorSpec((None, 4, 3), tf.float32)}}))
    _, labels = next(iter(raw_batches(model, examples, 2)))
    assert labels["shapes"]["classes"].numpy().tolist() == [[0, -1, -1], [0, 0, 0]]
    assert labels["extremes"]["keypoints"][0, 1:, :, 2].numpy().max() == 0.0


def test_crowd_flags_move_and_pad_with_their_boxes(model):
    """A crowd box (bottom left) and an object (top left) on a 32x64 image; the crowd box alone
    in the first example, so the second's flags are padded in raw batches."""
    crowd_box, object_box = [0.6, 0.1, 0.9, 0.4], [0.1, 0.1, 0.3, 0.4]
    labels = [([crowd_box], [True]), ([crowd_box, object_box], [True, False])]
    examples = tf.data.Dataset.from_generator(
        lambda: ((np.zeros((32, 64, 3), np.uint8), {"shapes": {
            "boxes": np.array(boxes, np.float32), "classes": np.zeros(len(boxes), np.int32),
            "iscrowd": np.array(flags)}}) for boxes, flags in labels),
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), {"shapes": {
            "boxes": tf.TensorSpec((None, 4), tf.float32), "classes": tf.TensorSpec((None,), tf.int32),
            "iscrowd": tf.TensorSpec((None,), tf.bool)}}))
    _, raw = next(iter(raw_batches(model, examples, 2, resize="letterbox")))
    assert raw["shapes"]["iscrowd"].numpy().tolist() == [[True, False], [True, False]]
    assert raw["shapes"]["classes"].numpy().tolist() == [[0, -1], [0, 0]]
    # letterboxed into rows 16..48 of 64: the crowd box keeps its flag at rows 0.55..0.7
    np.testing.assert_allclose(raw["shapes"]["boxes"][:, 0], [[0.55, 0.1, 0.7, 0.4]] * 2, atol=1e-6)
    _, targets, _ = next(iter(build_pipeline(model, examples, 2, Augmentation(horizontal_flip=True),
                                             seed=3, deterministic=True)))
    heatmaps = targets["shapes"]["heatmap"].numpy()
    assert heatmaps[0].max() == 0.0  # only a crowd box: no object
    peaks = np.argwhere(np.isclose(heatmaps[1], 1.0))
    assert len(peaks) == 1 and peaks[0, 0] == 1 and peaks[0, 1] in (2, 6)  # the object, maybe mirrored


def _batches(model, examples, seed):
    data = build_pipeline(model, examples, 8, Augmentation(scale_range=(0.7, 1.4), brightness=0.2,
                                                           hue=0.05),
                          resize="letterbox", shuffle_buffer=24, seed=seed, deterministic=True)
    return [tf.nest.flatten(batch) for batch in data]


def test_deterministic_mode_gives_identical_batches(model, examples):
    first, second = _batches(model, examples, seed=5), _batches(model, examples, seed=5)
    assert len(first) == 3
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    other = _batches(model, examples, seed=6)
    assert not np.array_equal(first[0][0], other[0][0])


def test_epochs_draw_new_augmentations(model, examples):
    data = build_pipeline(model, examples.take(8), 8, Augmentation(scale_range=(0.5, 2.0)), seed=1,
                          deterministic=True)
    epoch_1, epoch_2 = (next(iter(data))[0] for _ in range(2))
    assert not np.array_equal(epoch_1, epoch_2)


def _flat(batches):
    return [[x.numpy() for x in tf.nest.flatten(batch)] for batch in batches]


def test_epoch_indexed_batches_resume_where_an_uninterrupted_run_would_be(model, examples):
    def stream(first_epoch, seed=3):
        return build_pipeline(model, examples, 10, Augmentation(scale_range=(0.5, 2.0)),
                              shuffle_buffer=24, seed=seed, deterministic=True, epochs=3,
                              first_epoch=first_epoch)

    whole, resumed = stream(0), stream(1)
    assert int(whole.cardinality()) == 9 and int(resumed.cardinality()) == 6  # 3 batches an epoch
    whole_batches, resumed_batches = _flat(whole), _flat(resumed)
    assert [len(batch[0]) for batch in whole_batches] == [10, 10, 4] * 3  # epochs never share a batch
    for a, b in zip(whole_batches[3:], resumed_batches, strict=True):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    tf.random.set_seed(0)  # each iterator replays the same epochs, whatever the global seed
    replayed = _flat(stream(0))
    tf.random.set_seed(123)
    for a, b, c in zip(replayed, _flat(stream(0)), whole_batches, strict=True):
        for x, y, z in zip(a, b, c, strict=True):
            np.testing.assert_array_equal(x, z)
            np.testing.assert_array_equal(y, z)
    epochs = [np.concatenate([batch[0] for batch in whole_batches[i:i + 3]]) for i in (0, 3, 6)]
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    # each epoch holds every example once: the images' sums are one permutation apart
    raw = _flat(build_pipeline(model, examples, 24, epochs=2, shuffle_buffer=24, seed=3))
    assert [len(batch[0]) for batch in raw] == [24, 24]
    np.testing.assert_allclose(np.sort(raw[0][0].sum(axis=(1, 2, 3))), np.sort(raw[1][0].sum(axis=(1, 2, 3))),
                               rtol=1e-5)
    assert not np.array_equal(raw[0][0], raw[1][0])
    assert not np.array_equal(_flat(stream(1, seed=4))[0][0], resumed_batches[0][0])
    assert int(stream(3).cardinality()) == 0  # resumed after the last epoch: nothing left
    dropped = build_pipeline(model, examples, 10, seed=3, epochs=2, drop_remainder=True)
    assert [len(batch[0]) for batch in _flat(dropped)] == [10, 10] * 2
    assert int(dropped.cardinality()) == 2 * mz.data.steps_per_epoch([24], 10, drop_remainder=True)
    for epochs in (None, 2):  # once zero batches, and fit trained nothing
        with pytest.raises(ValueError, match="has 24 examples, fewer than batch_size=32, so drop_remainder=True"):
            build_pipeline(model, examples, 32, seed=3, epochs=epochs, drop_remainder=True)


def test_batches_hold_model_size_images_encoded_targets_and_masks(model, examples):
    data = build_pipeline(model, examples, 8, Augmentation(), shuffle_buffer=8, seed=0)
    images, targets, masks = next(iter(data))
    assert images.shape == (8,) + SHAPE and images.dtype == tf.float32
    assert {name: m.numpy().tolist() for name, m in masks.items()} == {
        name: [1.0] * 8 for name in ("count", "shapes", "extremes")}
    assert targets["shapes"]["heatmap"].shape == (8, 8, 8, 2)
    assert targets["extremes"]["keypoint_heatmap"].shape == (8, 8, 8, 4)
    logs = model.compute_task_losses(targets, model(images), masks)[0]
    assert all(np.isfinite(float(loss)) and float(loss) > 0 for loss in logs.values())


def test_crops_mask_the_crop_sensitive_tasks_of_their_examples(model, examples):
    from mtl_zoo.data.pipeline import ExamplePreparation

    def masks(augmentation):
        data = build_pipeline(model, examples.take(16), 16, augmentation, seed=2, deterministic=True)
        return {name: m.numpy() for name, m in next(iter(data))[2].items()}

    cropped = masks(Augmentation(scale_range=(1.2, 1.5), crop_sensitive_tasks=["count"]))
    assert cropped["count"].tolist() == [0.0] * 16  # every view is a crop
    assert cropped["shapes"].tolist() == cropped["extremes"].tolist() == [1.0] * 16
    shrunk = masks(Augmentation(scale_range=(0.7, 1.0), crop_sensitive_tasks=["count"]))
    assert shrunk["count"].tolist() == [1.0] * 16  # the whole image stays in view
    mixed = masks(Augmentation(scale_range=(0.8, 1.25), crop_sensitive_tasks=["count"]))["count"]
    assert 0 < mixed.sum() < 16
    with pytest.raises(ValueError, match="Unknown task 'people'"):
        build_pipeline(model, examples, 4, Augmentation(crop_sensitive_tasks=["people"]))
    for not_a_list in ("count", None, (name for name in ["count"])):
        with pytest.raises(ValueError, match="crop_sensitive_tasks must be a list of task names"):
            Augmentation(crop_sensitive_tasks=not_a_list)
    prepare = ExamplePreparation(model, Augmentation(scale_range=(0.8, 1.2), crop_sensitive_tasks=["count"]))
    with pytest.raises(ValueError, match="returns no masks: use `move`"):
        examples.map(lambda image, labels: prepare(image, labels, tf.constant([1, 2], tf.int64)))
    # in-memory arrays keep the masks that cropped views set
    images, labels = generate_shapes(8, image_size=48, seed=4)
    batch = next(iter(dataset_from_arrays(model, images, labels, batch_size=8, seed=0, augmentation=Augmentation(
        scale_range=(1.2, 1.5), crop_sensitive_tasks=["count"]))))
    assert batch[2]["count"].numpy().tolist() == [0.0] * 8


def test_encoded_images_and_other_sizes_are_decoded_and_resized(model):
    image = tf.io.encode_png(tf.fill((20, 30, 1), tf.constant(200, tf.uint8)))
    examples = tf.data.Dataset.from_tensors((image, {"count": 2}))
    images, targets, masks = next(iter(build_pipeline(model, examples, 1)))
    assert images.shape == (1,) + SHAPE and np.allclose(images, 200.0, atol=1e-3)
    assert masks["shapes"].numpy().tolist() == [0.0] and "shapes" not in targets
    arrays = dataset_from_arrays(model, np.zeros((2, 40, 40, 3), np.uint8),
                                 {"count": np.array([0, 1])})
    assert next(iter(arrays))[0].shape == (2,) + SHAPE


def test_an_undecodable_image_raises_instead_of_being_dropped(model):
    examples = tf.data.Dataset.from_tensor_slices((tf.constant([b"not an image"]), {"count": [1]}))
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(build_pipeline(model, examples, 1))


def test_a_malformed_label_raises_naming_the_task(model):
    image = tf.zeros((32, 32, 3), tf.uint8)
    static = tf.data.Dataset.from_tensors((image, {"extremes": {"keypoints": tf.zeros((2, 5, 3))}}))
    with pytest.raises(ValueError, match="raw label of task 'extremes' .Keypoints."):
        build_pipeline(model, static, 1)
    # shapes known only at run time: the error comes when the example is read, naming the task
    dynamic = tf.data.Dataset.from_generator(
        lambda: iter([(np.zeros((32, 32, 3), np.uint8), {"extremes": {"keypoints": np.zeros(
            (2, 5, 3), np.float32)}})]),
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8),
                          {"extremes": {"keypoints": tf.TensorSpec((None, None, 3), tf.float32)}}))
    with pytest.raises(tf.errors.InvalidArgumentError, match="extremes.{0,4}: keypoints must be .N, 4, 3."):
        list(build_pipeline(model, dynamic, 1))
    no_classes = tf.data.Dataset.from_tensors((image, {"shapes": {"boxes": tf.zeros((2, 4))}}))
    with pytest.raises(ValueError, match="raw label of task 'shapes' .Detection. has the wrong"):
        build_pipeline(model, no_classes, 1)


@pytest.mark.parametrize("make,kwargs,message", [
    (lambda e: e, {"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    (lambda e: e, {"batch_size": None}, "batch_size must be an integer >= 1, got None"),
    (lambda e: e, {"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
    (lambda e: e.take(0), {}, "is empty"),
    (lambda e: next(iter(e.batch(4))), {}, "must be a tf.data.Dataset of .* examples, got tuple; for arrays, "
                                           "use mz.data.dataset_from_arrays"),
    (lambda e: e, {"shuffle_buffer": -5}, "shuffle_buffer must be an integer >= 0, got -5"),
    (lambda e: e, {"resize": "letterbox", "pad_value": "black"}, "pad_value must be a number"),
    (lambda e: e.map(lambda i, l: (i, {"cont": l["count"]})), {}, "Did you mean 'count'"),
    (lambda e: e.map(lambda i, l: (i, {**l, "colour": l["count"]})), {},
     r"task in the labels of the dataset 'colour'.*: mz.data.with_labels_of\(examples, model.task_names\)"),
    (lambda e: e.map(lambda i, l: (i, l["count"])), {}, "labels must be a dict"),
    (lambda e: e, {"deterministic": True}, "needs a seed"),
    (lambda e: e, {"resize": "crop"}, "Unknown resize mode"),
    (lambda e: e, {"epochs": 2}, "epochs=... draws each epoch's order .* give a seed"),
    (lambda e: e, {"epochs": 0, "seed": 0}, "epochs must be an integer >= 1, got 0"),
    (lambda e: e, {"epochs": 2, "first_epoch": -1, "seed": 0}, "first_epoch must be an integer >= 0"),
    (lambda e: e, {"epochs": 2, "first_epoch": 3, "seed": 0}, "first_epoch=3 is past the last of epochs=2"),
    (lambda e: e, {"first_epoch": 2, "seed": 0}, "first_epoch=2 needs epochs="),
    (lambda e: e.repeat(), {"epochs": 2, "seed": 0}, "these examples never end"),
])
def test_bad_input_is_rejected_with_the_fix(model, examples, make, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_pipeline(model, make(examples), **kwargs)


def test_images_whose_channels_are_known_only_when_read_are_checked(model, examples):
    """Images of unknown channel count (a generator's, a decoder's) used to go through
    unchecked, RGBA and channels-first alike, and fail inside the model's first layer."""
    def unknown_channels(transform):
        return examples.map(lambda image, labels: (tf.ensure_shape(tf.py_function(
            transform, [image], tf.uint8), [None, None, None]), labels))

    gray = build_pipeline(model, unknown_channels(lambda image: image[..., :1]), 8)
    assert next(iter(gray))[0].shape == (8, *SHAPE)  # grayscale becomes RGB, as when known
    for transform in (lambda image: tf.concat([image, image[..., :1]], -1),  # RGBA
                      lambda image: tf.transpose(image, [2, 0, 1])):  # channels first
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="images must be \\(height, width, 3\\), channels last, as the model takes them"):
            next(iter(build_pipeline(model, unknown_channels(transform), 8)))


def test_labels_of_tasks_the_model_lacks_can_be_dropped(model, examples):
    extra = examples.map(lambda image, labels: (image, {**labels, "colour": labels["count"]}))
    kept = mz.data.with_labels_of(extra, model.task_names)
    assert sorted(kept.element_spec[1]) == sorted(model.task_names)
    assert mz.data.with_labels_of(extra, model).element_spec == kept.element_spec  # or the model itself
    assert len(list(build_pipeline(model, kept, 8))) == len(list(build_pipeline(model, examples, 8)))
    # a dataset of a mixture labels some of the model's tasks: those it has are kept, masks too
    first = model.task_names[0]
    masked = extra.map(lambda image, labels: (image, labels, {first: 1.0, "colour": 0.0}))
    partial = mz.data.with_labels_of(masked, [first, "not_in_the_dataset"])
    assert list(partial.element_spec[1]) == [first] and list(partial.element_spec[2]) == [first]
    with pytest.raises(ValueError, match=r"label none of the tasks \['other'\]: they label \["):
        mz.data.with_labels_of(extra, ["other"])
    with pytest.raises(ValueError, match=r"with_labels_of takes a tf.data.Dataset of \(image, \{task_name: raw label\}\) pairs"):
        mz.data.with_labels_of(extra.map(lambda image, labels: image), model.task_names)
    # a misspelt task used to be dropped quietly, leaving the task it meant unlabelled
    with pytest.warns(UserWarning, match=r"The examples label no task 'colur', but they label 'colour', which is "
                                         r"not listed: a misspelling\?"):
        mz.data.with_labels_of(extra, iter([first, "colur"]))  # any iterable of names
    with pytest.raises(ValueError, match=r"task_names must be a list of task names \(or a model\), got the string"):
        mz.data.with_labels_of(extra, first)


def test_arrays_of_different_lengths_name_the_task(model):
    images, labels = generate_shapes(4, image_size=64, seed=1)
    short_boxes = {**labels, "shapes": {**labels["shapes"], "boxes": labels["shapes"]["boxes"][:3]}}
    with pytest.raises(ValueError, match=r"4 images but labels of task 'shapes' with \[3, 4\] rows"):
        dataset_from_arrays(model, images, short_boxes)
    with pytest.raises(ValueError, match=r"4 images but masks of task 'count' with \[5\] rows"):
        dataset_from_arrays(model, images, labels, masks={"count": np.ones(5)})
    with pytest.raises(ValueError, match=r"4 images but labels of task 'count' with \[0\] rows"):
        dataset_from_arrays(model, images, {**labels, "count": 2})
    with pytest.raises(ValueError, match=r"takes labels as a dict \{task_name: arrays\}, got ndarray"):
        dataset_from_arrays(model, images, labels["count"])
    # nested lists are arrays too (a list of class ids was counted as having [0] rows)
    as_lists = {**labels, "count": labels["count"].tolist(), "shapes": {
        key: value.tolist() for key, value in labels["shapes"].items()}}
    assert next(iter(dataset_from_arrays(model, images, as_lists, batch_size=4)))[0].shape[0] == 4
    ragged = {**as_lists, "shapes": {"boxes": [[[0.1, 0.1, 0.5, 0.5]]] * 3 + [[]], "classes": [[1]] * 3 + [[]]}}
    with pytest.raises(ValueError, match=r"The labels of task 'shapes' are not one array: pad each image's"):
        dataset_from_arrays(model, images, ragged)


@pytest.mark.slow
def test_the_pipeline_benchmark_runs_quickly_and_reports_positive_rates():
    from mtl_zoo.benchmarks import run_benchmark

    table = run_benchmark("pipeline", quick=True)
    assert table.columns == ["configuration", "images/s", "x training", "middle half of rounds", "verdict"]
    names = [row[0] for row in table.rows]
    assert names[0] == "training (model.train_on_batch)" and len(names) == 6
    assert names[4] == "training (model.train_on_batch), after a from_generator dataset"
    assert names[5] == "pipeline, augmentation: flip + scale/crop + colour, after a from_generator dataset"
    for _, rate, ratio, quartiles, verdict in table.rows:
        assert np.isfinite(rate) and rate > 0
        if ratio != "-":
            low, high = map(float, quartiles.split("-"))
            assert 0 < ratio and low - 0.005 <= ratio <= high + 0.005 and "the target" in verdict  # 2-decimal quartiles
