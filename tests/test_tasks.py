import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.data.transform import GeometricTransform
from mtl_zoo.tasks import heatmaps as hm

IMAGE_SHAPE = (64, 64, 3)


def _logits(probabilities):
    p = np.clip(np.asarray(probabilities, "float32"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _dense(values, indices, weights, grid):
    """Scatters per-object `values` (M, D) at flat `indices` into an (h, w, D) map."""
    out = np.zeros((grid[0] * grid[1], values.shape[-1]), "float32")
    for value, index, weight in zip(values, indices, weights):
        if weight:
            out[index] = value
    return out.reshape(grid[0], grid[1], -1)


def test_detection_encode_then_decode_recovers_boxes_within_one_stride():
    task = mz.tasks.Detection("objects", num_classes=3, level="P3")
    boxes = np.array([[0.1, 0.2, 0.5, 0.45], [0.55, 0.5, 0.95, 0.9], [0.3, 0.6, 0.42, 0.75],
                      [0, 0, 0, 0]], "float32")
    classes = np.array([2, 0, 1, -1])
    targets = {k: v.numpy() for k, v in task.encode({"boxes": boxes, "classes": classes},
                                                     IMAGE_SHAPE).items()}
    assert targets["weights"].sum() == 3
    grid = targets["heatmap"].shape[:2]
    outputs = {
        "heatmap": _logits(targets["heatmap"])[None],
        "size": _dense(targets["size"], targets["indices"], targets["weights"], grid)[None],
        "offset": _dense(targets["offset"], targets["indices"], targets["weights"], grid)[None],
    }
    decoded = task.decode({k: tf.constant(v) for k, v in outputs.items()}, IMAGE_SHAPE)
    assert int(decoded["num_detections"][0]) == 3
    found = decoded["boxes"][0, :3].numpy()
    found_classes = decoded["classes"][0, :3].numpy()
    for box, cls in zip(boxes[:3] * 64, classes[:3]):
        match = np.argmin(np.abs(found - box).sum(-1))
        assert found_classes[match] == cls
        assert np.abs(found[match] - box).max() <= task.stride


def test_objects_beyond_the_regressed_ones_still_get_heatmap_peaks():
    # 4 objects (instances) in separate cells, 2 regressed: the others are not background
    corners = np.array([[0.05, 0.05], [0.05, 0.55], [0.55, 0.05], [0.55, 0.55]], "float32")
    boxes = np.concatenate([corners, corners + 0.3], axis=1)
    detection = mz.tasks.Detection("objects", num_classes=1, max_objects=2)
    targets = detection.encode({"boxes": boxes, "classes": [0, 0, 0, 0]}, IMAGE_SHAPE)
    assert targets["weights"].numpy().tolist() == [1, 1]
    assert np.isclose(targets["heatmap"].numpy(), 1.0).sum() == 4
    pose = mz.tasks.Keypoints("pose", num_keypoints=1, max_instances=2)
    points = np.concatenate([corners[:, ::-1] + 0.15, np.full([4, 1], 2.0, "float32")], axis=1)[:, None]
    targets = pose.encode({"keypoints": points}, IMAGE_SHAPE)
    assert targets["weights"].numpy().tolist() == [1, 1]
    assert np.isclose(targets["keypoint_heatmap"].numpy(), 1.0).sum() == 4
    assert np.isclose(targets["center_heatmap"].numpy(), 1.0).sum() == 4
    # and no object at all: zero heatmaps
    empty = pose.encode({"keypoints": np.zeros([0, 1, 3], "float32")}, IMAGE_SHAPE)
    assert float(tf.reduce_max(empty["center_heatmap"])) == 0.0 and empty["keypoint_heatmap"].shape == (8, 8, 1)


def test_crowd_boxes_and_people_give_no_target_and_a_label_without_flags_encodes_as_before():
    # a crowd box first, then an object: with one regressed slot, the object takes it
    detection = mz.tasks.Detection("objects", num_classes=2, max_objects=1)
    label = {"boxes": np.array([[0.55, 0.55, 0.95, 0.95], [0.1, 0.1, 0.4, 0.4]], "float32"),
             "classes": np.array([1, 0])}
    plain = detection.encode(label, IMAGE_SHAPE)
    assert np.isclose(plain["heatmap"].numpy(), 1.0).sum() == 2
    for flags in ([True, False], np.array([1, 0], "int64")):
        crowd = detection.encode({**label, "iscrowd": flags}, IMAGE_SHAPE)
        peaks = np.argwhere(np.isclose(crowd["heatmap"].numpy(), 1.0))
        assert peaks.tolist() == [[2, 2, 0]]  # the object's centre (0.25 * 8 cells), class 0
        assert crowd["weights"].numpy().tolist() == [1.0]
        np.testing.assert_allclose(crowd["size"].numpy()[0], [0.3 * 8, 0.3 * 8], rtol=1e-6)
    unflagged = detection.encode({**label, "iscrowd": [False, False]}, IMAGE_SHAPE)
    for key, value in plain.items():
        np.testing.assert_array_equal(value, unflagged[key], err_msg=key)
    with pytest.raises(tf.errors.InvalidArgumentError, match="'objects': one iscrowd flag per instance"):
        detection.encode({**label, "iscrowd": [True]}, IMAGE_SHAPE)
    # keypoints: a crowd person and a person without a labelled keypoint (with a box) give no target
    pose = mz.tasks.Keypoints("pose", num_keypoints=1, max_instances=2)
    people = {"keypoints": np.array([[[0.75, 0.75, 2]], [[0.0, 0.0, 0]], [[0.25, 0.25, 2]]], "float32"),
              "boxes": np.array([[0.6, 0.6, 0.9, 0.9], [0.1, 0.6, 0.4, 0.9], [0.1, 0.1, 0.4, 0.4]],
                                "float32")}
    crowd = pose.encode({**people, "iscrowd": [1, 0, 0]}, IMAGE_SHAPE)
    assert crowd["weights"].numpy().tolist() == [1.0, 0.0]
    assert crowd["indices"].numpy()[0] == 2 * 8 + 2
    for key in ("center_heatmap", "keypoint_heatmap"):
        assert np.argwhere(np.isclose(crowd[key].numpy(), 1.0)).tolist() == [[2, 2, 0]], key
    assert pose.encode(people, IMAGE_SHAPE)["weights"].numpy().tolist() == [1.0, 1.0]


def test_boxes_and_keypoints_outside_the_image_give_no_target():
    """They used to give a peak at the border cell (a box of size 0, with weight 1)."""
    detection = mz.tasks.Detection("objects", num_classes=1, max_objects=1)
    boxes = np.array([[1.2, 1.2, 1.5, 1.5], [-0.5, 0.1, -0.1, 0.4], [0.8, 0.8, 1.3, 1.3]], "float32")
    targets = detection.encode({"boxes": boxes, "classes": [0, 0, 0]}, IMAGE_SHAPE)
    # only the box partly inside, clipped to [0.8, 1] (cells 6.4 to 8), gets a peak and the slot
    assert np.argwhere(np.isclose(targets["heatmap"].numpy(), 1.0)).tolist() == [[7, 7, 0]]
    assert targets["weights"].numpy().tolist() == [1.0]
    np.testing.assert_allclose(targets["size"].numpy()[0], [1.6, 1.6], rtol=1e-5)
    # keypoints outside the image count as unlabelled; a person left without any gives no target
    pose = mz.tasks.Keypoints("pose", num_keypoints=2, max_instances=1)
    people = np.array([[[1.6, 0.5, 2], [0.5, -0.2, 2]], [[0.25, 0.25, 2], [1.6, 0.25, 2]]], "float32")
    targets = pose.encode({"keypoints": people}, IMAGE_SHAPE)
    assert targets["weights"].numpy().tolist() == [1.0]
    assert targets["keypoint_weights"].numpy().tolist() == [[1.0, 0.0]]
    assert np.argwhere(np.isclose(targets["keypoint_heatmap"].numpy(), 1.0)).tolist() == [[2, 2, 0]]
    assert np.argwhere(np.isclose(targets["center_heatmap"].numpy(), 1.0)).tolist() == [[2, 2, 0]]


def test_keypoints_encode_then_decode_recovers_points_within_one_stride():
    task = mz.tasks.Keypoints("pose", num_keypoints=3, flip_pairs=[(1, 2)], level="P3")
    keypoints = np.array([
        [[0.30, 0.20, 2], [0.20, 0.40, 2], [0.42, 0.45, 1]],
        [[0.75, 0.55, 2], [0.65, 0.80, 0], [0.90, 0.85, 2]],
        [[0.00, 0.00, 0], [0.00, 0.00, 0], [0.00, 0.00, 0]],
    ], "float32")
    targets = {k: v.numpy() for k, v in task.encode({"keypoints": keypoints}, IMAGE_SHAPE).items()}
    assert targets["weights"].sum() == 2
    assert targets["keypoint_weights"][1].tolist() == [1, 0, 1]
    grid = targets["center_heatmap"].shape[:2]
    offsets = targets["keypoint_offsets"].reshape(task.max_instances, -1)
    outputs = {
        "center_heatmap": _logits(targets["center_heatmap"])[None],
        "center_offset": _dense(targets["center_offset"], targets["indices"], targets["weights"], grid)[None],
        "keypoint_offsets": _dense(offsets, targets["indices"], targets["weights"], grid)[None],
        "keypoint_heatmap": _logits(targets["keypoint_heatmap"])[None],
    }
    decoded = task.decode({k: tf.constant(v) for k, v in outputs.items()}, IMAGE_SHAPE)
    assert int(decoded["num_instances"][0]) == 2
    found = decoded["keypoints"][0, :2].numpy()
    for instance in keypoints[:2]:
        expected = instance[:, :2] * 64
        labelled = instance[:, 2] > 0
        match = np.argmin(np.abs(found[:, labelled, :2] - expected[labelled]).sum((1, 2)))
        assert np.abs(found[match, labelled, :2] - expected[labelled]).max() <= task.stride
        assert (found[match, labelled, 2] > 0.9).all()  # scored by the keypoint heatmap
    # a diverged model's NaN offsets decode without an invalid gather index (cast NaN -> INT_MIN)
    outputs["keypoint_offsets"] = np.full_like(outputs["keypoint_offsets"], np.nan)
    decoded = task.decode({k: tf.constant(v) for k, v in outputs.items()}, IMAGE_SHAPE)
    assert int(decoded["num_instances"][0]) == 2


def test_heatmap_focal_loss_is_small_for_perfect_and_large_for_wrong_predictions():
    task = mz.tasks.Detection("objects", num_classes=2)
    target = task.encode({"boxes": [[0.2, 0.2, 0.6, 0.6]], "classes": [1]}, IMAGE_SHAPE)["heatmap"][None]
    loss = hm.HeatmapFocalLoss(reduction=None)
    perfect = float(loss(target, _logits(target.numpy()))[0])
    wrong = float(loss(target, _logits(1 - target.numpy()))[0])
    assert perfect < 0.05 < 1.0 < wrong


def test_gaussian_radius_grows_with_object_size():
    radii = hm.gaussian_radius(tf.constant([2.0, 8.0, 32.0]), tf.constant([2.0, 8.0, 32.0])).numpy()
    assert np.all(np.diff(radii) > 0) and radii[0] > 0


@pytest.mark.parametrize("instances", [0, 3])
def test_peak_heatmaps_are_the_maximum_of_each_channels_gaussians(instances):
    rng = np.random.default_rng(instances)
    batch, points, channels, grid = 2, 2, 3, (5, 6)
    centers = rng.uniform(-1.0, 7.0, (batch, instances, points, 2)).astype("float32")
    sigmas = rng.uniform(0.3, 2.0, (batch, instances, points)).astype("float32")
    ids = rng.integers(-1, channels, (batch, instances, points)).astype("int32")
    maps = hm.peak_heatmaps(tf.constant(centers), tf.constant(sigmas), tf.constant(ids), channels, grid)
    # by hand: every point's Gaussian at its (clipped) cell, the maximum per channel
    cells = np.clip(np.floor(centers), 0, [grid[0] - 1, grid[1] - 1])
    ys, xs = np.mgrid[:grid[0], :grid[1]]
    expected = np.zeros((batch, *grid, channels), "float32")
    for b, m, p in np.ndindex(batch, instances, points):
        if ids[b, m, p] >= 0:
            gaussian = np.exp(-((ys - cells[b, m, p, 0]) ** 2 + (xs - cells[b, m, p, 1]) ** 2)
                              / (2 * sigmas[b, m, p] ** 2))
            expected[b, ..., ids[b, m, p]] = np.maximum(expected[b, ..., ids[b, m, p]], gaussian)
    np.testing.assert_allclose(maps.numpy(), expected, atol=1e-6)
    assert (maps.numpy().max() == 1.0) == bool((ids >= 0).any())


def _task_batch(task, rng, n=8):
    """Raw labels for `n` images, encoded."""
    encoded = [task.encode(raw, (32, 32, 3)) for raw in _raw_labels(task, rng, n)]
    return tf.nest.map_structure(lambda *xs: tf.stack(xs), *encoded)


def _raw_labels(task, rng, n):
    """`n` images' raw labels for `task`, all of one shape."""
    raw = []
    for _ in range(n):
        if task.kind == "classification":
            raw.append(rng.integers(0, task.num_classes))
        elif task.kind == "multilabel":
            raw.append(rng.integers(0, 2, task.num_labels).astype("float32"))
        elif task.kind == "detection":
            top = rng.uniform(0, 0.5, (2, 2))
            raw.append({"boxes": np.concatenate([top, top + 0.4], -1).astype("float32"),
                        "classes": rng.integers(0, task.num_classes, 2)})
        elif task.kind == "keypoints":
            points = rng.uniform(0.1, 0.9, (2, task.num_keypoints, 2))
            raw.append({"keypoints": np.concatenate([points, np.full((2, task.num_keypoints, 1), 2)],
                                                    -1).astype("float32")})
        elif task.kind == "landmarks":
            points = rng.uniform(0.1, 0.9, (task.num_landmarks, 2))
            raw.append(np.concatenate([points, np.ones((task.num_landmarks, 1))], -1).astype("float32"))
        elif task.kind == "segmentation":
            raw.append(rng.integers(0, task.num_classes, (4, 4)).astype("int32"))
        elif task.kind == "depth":
            raw.append(rng.uniform(0.5, 5.0, (4, 4)).astype("float32"))
    return raw


TASKS = [
    mz.tasks.Classification("cls", num_classes=4, label_smoothing=0.1),
    mz.tasks.MultiLabel("attrs", num_labels=6),
    mz.tasks.Detection("det", num_classes=2, level="P2", head_conv="separable"),
    mz.tasks.Keypoints("pose", num_keypoints=3, flip_pairs=[(1, 2)], level="P2"),
    mz.tasks.Landmarks("face", num_landmarks=3),
    mz.tasks.Segmentation("seg", num_classes=3, head_conv="separable"),
    mz.tasks.Depth("depth_l1", loss="l1"),
    mz.tasks.Depth("depth_silog", loss="silog"),
]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_every_task_head_trains_and_its_loss_falls(task, rng):
    model = mz.build_model("tiny", [task], input_shape=(32, 32, 3))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    images = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    targets = _task_batch(task, rng)
    labels = {task.name: targets}
    losses = [model.train_on_batch(images, labels, return_dict=True) for _ in range(40)]
    key = f"{task.name}_loss"
    assert all(np.isfinite(step["loss"]) for step in losses)
    assert np.mean([step[key] for step in losses[-5:]]) < 0.7 * losses[0][key]
    first = losses[-1]
    for name in first:
        assert name == "loss" or name.startswith(f"{task.name}_")


def test_a_batch_of_raw_labels_is_refused_by_encode_labels_and_encoded_by_encode_label_batch(rng):
    """Detection, keypoints and label maps used to flatten a batch into one example
    without a word; classification failed in an anonymous reshape."""
    model = mz.build_model("tiny", TASKS, (32, 32, 3))
    for task in TASKS:
        examples = _raw_labels(task, rng, 2)
        batch = tf.nest.map_structure(lambda *xs: np.stack(xs), *examples)
        with pytest.raises(ValueError, match=f"Task '{task.name}': .*, for ONE example .*encode_label_batch"):
            model.encode_labels({task.name: batch})
        one_by_one = [model.encode_labels({task.name: example})[task.name] for example in examples]
        expected = tf.nest.map_structure(lambda *xs: tf.stack(xs), *one_by_one)
        together = model.encode_label_batch({task.name: batch})[task.name]
        tf.nest.map_structure(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-6), together, expected)
    with pytest.raises(ValueError, match="Labels for unknown tasks \\['kind'\\]"):
        model.encode_label_batch({"kind": [1, 2]})
    # and the other way round: one example, an empty batch, instances not padded to one shape
    for task in TASKS:
        with pytest.raises(ValueError, match=f"Task '{task.name}': the batch's .* have shape .*; one example's "
                                             "have .* axes, and a batch one more in front. For one example, use "
                                             "model.encode_labels"):
            model.encode_label_batch({task.name: _raw_labels(task, rng, 1)[0]})
    with pytest.raises(ValueError, match="Task 'cls': the batch's labels hold no example"):
        model.encode_label_batch({"cls": np.zeros([0], "int32")})
    with pytest.raises(ValueError, match="Task 'det': the batch's 'boxes' are not one array .*: pad each example's "
                                         "instances to the longest"):
        model.encode_label_batch({"det": {"boxes": [[[0.1, 0.1, 0.5, 0.5]], []], "classes": [[1], []]}})


@pytest.mark.parametrize("task,message", [
    (lambda: mz.tasks.Classification("a", num_classes=0), "Task 'a': num_classes must be an integer >= 2, got 0"),
    (lambda: mz.tasks.Classification("a", num_classes=1), "Task 'a': num_classes must be >= 2: a softmax over one "
                                                          "class always predicts it"),
    (lambda: mz.tasks.Detection("a", num_classes=0), "num_classes must be >= 1"),
    (lambda: mz.tasks.Segmentation("a", num_classes=0), "num_classes must be >= 1"),
    # a void label inside the classes would be predicted and scored as a class
    (lambda: mz.tasks.Segmentation("a", num_classes=14, ignore_label=0), "ignore_label=0 is also a class id"),
    (lambda: mz.tasks.MultiLabel("a", num_labels=0), "num_labels must be >= 1"),
    (lambda: mz.tasks.Keypoints("a", num_keypoints=3, flip_pairs=[(1, 3)]), "only 3"),
    (lambda: mz.tasks.Keypoints("a", num_keypoints=3, flip_pairs=[(0, 1), (1, 2)]), "two flip pairs"),
    (lambda: mz.tasks.Detection("a", num_classes=2, level="P7"), "Unknown pyramid level"),
    (lambda: mz.tasks.Depth("a", loss="l3"), "unknown depth loss"),
    (lambda: mz.tasks.Keypoints("a", 3, head_conv="seperable"), "head_conv .* Did you mean 'separable'"),
    (lambda: mz.tasks.Detection("a", 2, head_channels=0), "Task 'a': head_channels must be an integer >= 1, got 0"),
    (lambda: mz.tasks.Depth("a", head_channels=31.5), "Task 'a': head_channels .* got 31.5"),
    (lambda: mz.tasks.Segmentation("a", 2, head_channels="32"), "Task 'a': head_channels .* got '32'"),
    (lambda: mz.build_model("tiny", [mz.tasks.Detection("a", 2)], (32, 32, 3), pyramid_channels=-8),
     "pyramid_channels must be an integer >= 1, got -8"),
    (lambda: mz.tasks.Classification("my task", num_classes=2), "Invalid task name"),
    (lambda: mz.tasks.get_task({"kind": "clasification", "name": "a"}), "Did you mean 'classification'"),
    (lambda: mz.tasks.get_task({"kind": "classification", "name": "a", "classes": 3}), "Bad options"),
])
def test_bad_task_arguments_name_the_problem(task, message):
    with pytest.raises(ValueError, match=message):
        task()


def test_separable_heads_replace_each_tower_conv_and_cost_fewer_weights():
    def tower_convs(head_conv):
        tasks = [mz.tasks.Detection("det", 2, head_conv=head_conv),
                 mz.tasks.Depth("depth", head_conv=head_conv)]
        model = mz.build_model("tiny", tasks, input_shape=(32, 32, 3))
        return [layer for layer in model.layers if "_tower_conv" in layer.name]

    standard, separable = tower_convs("standard"), tower_convs("separable")
    assert [layer.name for layer in standard] == [layer.name for layer in separable]
    assert len(separable) == 3  # two in the detection tower, one in the depth head
    assert all(type(layer) is keras.layers.Conv2D for layer in standard)
    assert all(isinstance(layer, keras.layers.SeparableConv2D) for layer in separable)
    for full, light in zip(standard, separable):
        assert light.count_params() < full.count_params() / 5


def test_head_and_pyramid_channels_set_the_dense_parts_widths():
    tasks = [mz.tasks.Detection("det", 2, head_channels=16, head_conv="separable"),
             mz.tasks.Keypoints("pose", 3, head_channels=24), mz.tasks.Classification("cls", 3)]
    model = mz.build_model("tiny", tasks, input_shape=(32, 32, 3), pyramid_channels=8)
    widths = {layer.name: layer.filters for layer in model.layers if "_tower_conv" in layer.name}
    assert widths == {"det_tower_conv1": 16, "det_tower_conv2": 16,
                      "pose_tower_conv1": 24, "pose_tower_conv2": 24}
    pyramid = [layer for layer in model.layers if layer.name.startswith("pyramid_")
               and isinstance(layer, keras.layers.Conv2D)]
    assert pyramid and all(layer.filters == 8 for layer in pyramid)
    assert model.get_layer("det_tower_conv1").input.shape[-1] == 8
    assert mz.tasks.get_task({"kind": "detection", **tasks[0].get_config()}).head_channels == 16


@pytest.mark.parametrize("sharing", ["hard", "soft"])
def test_a_separable_pyramid_replaces_its_smoothing_convs(sharing, tmp_path):
    def smoothing_convs(pyramid_conv):
        tasks = [mz.tasks.Detection("det", 2), mz.tasks.Classification("cls", 3)]
        model = mz.build_model("tiny", tasks, input_shape=(32, 32, 3), sharing=sharing,
                               pyramid_conv=pyramid_conv)
        return model, [layer for layer in model.layers if layer.name.endswith("_smooth")]

    (_, standard), (light_model, separable) = smoothing_convs("standard"), smoothing_convs("separable")
    assert [layer.name for layer in standard] == [layer.name for layer in separable]
    assert len(separable) == 1  # the head reads P3: the coarser levels' smoothing is pruned
    assert all(type(layer) is keras.layers.Conv2D for layer in standard)
    # the light smoothing: depthwise 3x3, then pointwise 1x1, each with batch norm and ReLU
    name = separable[0].name
    block = [light_model.get_layer(f"{name}{part}") for part in (
        "_depthwise", "_depthwise_bn", "_depthwise_relu", "_pointwise", "_pointwise_bn", "")]
    assert [type(layer).__name__ for layer in block] == [
        "DepthwiseConv2D", "BatchNormalization", "ReLU", "Conv2D", "BatchNormalization", "ReLU"]
    assert block[0].kernel.shape[:2] == (3, 3) and block[3].kernel.shape[:2] == (1, 1)
    assert sum(layer.count_params() for layer in block) < standard[0].count_params() / 5
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    light_model(images, training=True)  # batch norm statistics move in training
    assert not np.allclose(block[1].moving_mean.numpy(), 0.0)
    light_model.save(tmp_path / "light.keras")
    reloaded = mz.load_model(tmp_path / "light.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0)["det_heatmap"],
                               light_model.predict(images, verbose=0)["det_heatmap"], atol=1e-6)
    with pytest.raises(ValueError, match="pyramid_conv .*Did you mean 'separable'"):
        mz.build_model("tiny", [mz.tasks.Detection("det", 2)], input_shape=(32, 32, 3),
                       pyramid_conv="seperable")


def test_target_checks_reject_bad_values_of_labelled_examples_only():
    mask = tf.constant([1.0, 0.0])  # the second example is not labelled: placeholders pass
    cases = [(mz.tasks.Segmentation("parts", num_classes=3), [[[0, 255]], [[7, 7]]], [[[0, 3]], [[0, 0]]],
              "pixel class ids must lie in \\[0, 3\\) or be the ignore_label 255"),
             (mz.tasks.MultiLabel("attrs", num_labels=3), [[1, -1, 0.25], [2, 2, 2]], [[1, 0, 2], [0, 0, 0]],
              "labels must be 1 \\(present\\)"),
             (mz.tasks.MultiLabel("attrs", num_labels=3), [[1, 0, 0], [0, 0, 0]], [[1, np.nan, 0], [0, 0, 0]],
              "labels must be 1"),
             (mz.tasks.Classification("cls", 3), [2, -1], [3, 0], "class ids must lie in \\[0, 3\\)"),
             (mz.tasks.Classification("cls", 3), [2.0, 0.5], [1.5, 0.0],  # once truncated to 1
              "class ids must lie in \\[0, 3\\) as whole numbers"),
             # targets that are the raw labels: once trained on as they came
             (mz.tasks.Landmarks("face", 2), [[[0.5, 0.5, 1], [40, np.nan, 0]], [[40, 40, 1]] * 2],
              [[[0.5, 0.5, 1], [20, 16, 1]], [[0, 0, 0]] * 2], "labelled landmark coordinates must be finite, "
              "normalised"),
             (mz.tasks.Landmarks("face", 2), [[[0.5, 0.5, 1]] * 2] * 2, [[[0.5, np.nan, 2]] * 2] * 2,
              "labelled landmark"),
             (mz.tasks.Depth("depth"), [[[0.0, np.nan, np.inf, 2.5]], [[-1.0] * 4]], [[[1.0, -0.5, 1.0, 1.0]]] * 2,
              "depths must be >= 0 \\(0, NaN or inf: missing\\)")]
    for task, good, bad, message in cases:
        task.target_checks(tf.constant(good), mask)
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"Task '{task.name}': {message}"):
            task.target_checks(tf.constant(bad), mask)
    for task, what in [(mz.tasks.Segmentation("parts", 3), "masks"), (mz.tasks.Depth("depth"), "depth maps")]:
        with pytest.raises(ValueError, match=f"'{task.name}': {what} has shape \\(2, 8, 8, 3\\)"):
            task.validate_targets(tf.zeros([2, 8, 8, 3]))


COORDINATES = "coordinates must be finite, normalised image coordinates"


@pytest.mark.parametrize("task, label, message", [
    (mz.tasks.Detection("objects", 2), {"boxes": [[3, 3, 15, 16]], "classes": [1]}, f"box {COORDINATES}"),
    (mz.tasks.Detection("objects", 2), {"boxes": [[np.nan, 0.1, 0.5, 0.5]], "classes": [1]}, f"box {COORDINATES}"),
    (mz.tasks.Detection("objects", 2), {"boxes": [[0.1, 0.1, 0.5, 0.5]], "classes": [1, 0]}, "one class per box"),
    (mz.tasks.Keypoints("pose", 2), {"keypoints": [[[12, 15, 2], [0, 0, 0]]]}, f"keypoint {COORDINATES}"),
    (mz.tasks.Keypoints("pose", 2), {"keypoints": [[[0.5, 0.5, 2], [0, 0, 0]]], "boxes": [[3, 3, 16, 16]]},
     f"box {COORDINATES}"),
    (mz.tasks.Keypoints("pose", 2),
     {"keypoints": [[[0.5, 0.5, 2], [0, 0, 0]]], "boxes": [[0.1, 0.1, 0.6, 0.6]] * 2},
     "boxes must be \\(N, 4\\), one per instance"),
    (mz.tasks.Landmarks("face", 2), [[20, 0.5, 1], [0.2, 0.3, 1]], f"landmark {COORDINATES}"),
    (mz.tasks.Detection("objects", 2), {"boxes": [[0.5, 0.1, 0.2, 0.4]], "classes": [1]},
     "boxes must be \\[ymin, xmin, ymax, xmax\\] with ymin <= ymax and xmin <= xmax"),
    (mz.tasks.Detection("objects", 2), {"boxes": [[0.1, 0.1, 0.5, 0.5]], "classes": [-2]},
     "box class ids are 0 to num_classes - 1, or -1 for padding"),
])
def test_raw_labels_with_pixel_or_nan_coordinates_are_refused(task, label, message):
    """They used to be clipped to the image edge or dropped without a word."""
    for convert in (lambda: task.encode(label, (32, 32, 3)),
                    lambda: task.transform_label(label, GeometricTransform.resize([32, 32], (32, 32)))):
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"Task '{task.name}': {message}"):
            convert()


@pytest.mark.parametrize("make, message", [
    (lambda: mz.tasks.Detection("objects", 2).encode({"boxes": [[0.1, 0.1, 0.5, 0.5]]}, (32, 32, 3)),
     "Task 'objects': a raw label is a dict with 'boxes' \\(N, 4\\) and 'classes' \\(N,\\); this one "
     "lacks \\['classes'\\]"),
    (lambda: mz.tasks.Keypoints("pose", 2).encode([[0.5, 0.5, 2]], (32, 32, 3)),
     "Task 'pose': a raw label is a dict with 'keypoints' \\(N, 2, 3\\) .*, got EagerTensor"),
    (lambda: mz.tasks.Classification("action", 3).encode(2.7, (32, 32, 3)),  # once truncated to 2
     "Task 'action': class ids must be whole numbers"),
    (lambda: mz.tasks.Classification("action", 3).encode("cat", (32, 32, 3)),  # once a dtype error of Round
     "Task 'action': class ids must be numbers, got strings; map class names to ids"),
    (lambda: mz.tasks.Detection("objects", 2).encode({"boxes": [[0.1, 0.1, 0.5, 0.5]], "classes": [1.5]},
                                                     (32, 32, 3)), "Task 'objects': box class ids must be whole"),
    (lambda: mz.tasks.Segmentation("parts", 3).encode(np.full((4, 4), 1.5), (32, 32, 3)),
     "Task 'parts': pixel class ids must be whole numbers"),
    (lambda: mz.tasks.MultiLabel("attributes", 3).encode([1, 0], (32, 32, 3)),
     "Task 'attributes': a raw label holds one value per attribute, num_labels=3"),
    (lambda: mz.tasks.Detection("objects", 2, max_objects=0), "Task 'objects': max_objects must be an integer >= 1"),
    (lambda: mz.tasks.Detection("objects", 2, score_threshold=2.0),
     "Task 'objects': score_threshold must be a finite number in \\[0.0, 1.0\\], got 2.0"),
    (lambda: mz.tasks.Keypoints("pose", 2, max_instances=-1), "Task 'pose': max_instances must be an integer >= 1"),
])
def test_bad_raw_labels_and_task_arguments_name_the_task(make, message):
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=message):
        make()


def test_class_ids_may_come_as_whole_floats_or_bools():
    task = mz.tasks.Classification("kind", 2)
    assert [int(task.encode(label, (32, 32, 3))) for label in (1.0, True, np.int64(0))] == [1, 1, 0]


def test_padding_and_unlabelled_points_may_hold_any_coordinates_and_encode_finite():
    image = (32, 32, 3)
    detection = mz.tasks.Detection("objects", 2).encode(
        {"boxes": [[0.1, 0.1, 0.5, 0.5], [np.nan, 7, 9, 9]], "classes": [1, -1]}, image)
    assert detection["weights"].numpy().tolist()[:2] == [1.0, 0.0]
    keypoints = mz.tasks.Keypoints("pose", 2).encode({"keypoints": [[[0.5, 0.5, 2], [np.nan, 40, 0]]]}, image)
    assert keypoints["keypoint_weights"].numpy()[0].tolist() == [1.0, 0.0]
    landmarks = mz.tasks.Landmarks("face", 2).encode([[0.5, 0.5, 1], [np.nan, np.nan, 0]], image)
    for targets in (detection, keypoints, {"landmarks": landmarks}):
        for key, value in targets.items():
            assert np.all(np.isfinite(value.numpy())), key  # a NaN placeholder reaches no loss


def test_an_image_without_objects_may_come_as_empty_lists():
    targets = mz.tasks.Detection("objects", 2).encode({"boxes": [], "classes": []}, (32, 32, 3))
    assert targets["weights"].numpy().sum() == 0 and targets["heatmap"].numpy().max() == 0
    targets = mz.tasks.Keypoints("pose", 2).encode({"keypoints": [], "boxes": []}, (32, 32, 3))
    assert targets["weights"].numpy().sum() == 0


def test_targets_of_another_size_than_the_head_outputs_name_the_task():
    cases = [(mz.tasks.Depth("depth"), {"depth": tf.ones([2, 8, 8, 1])}, tf.ones([2, 4, 4]), "depth maps"),
             (mz.tasks.Segmentation("parts", 3), {"logits": tf.zeros([2, 8, 8, 3])}, tf.zeros([2, 4, 4], tf.int32),
              "masks")]
    for task, outputs, targets, what in cases:
        message = (f"Task .{{1,2}}{task.name}.{{1,2}}: {what} must have the \\(height, width\\) "
                   "of the model.{1,2}s output")
        with pytest.raises(ValueError, match=message + ", \\(8, 8\\); they have \\(4, 4\\)"):  # when traced
            task.per_example_loss(targets, outputs)
        loss = tf.function(lambda t: task.per_example_loss(t, outputs),  # noqa: B023
                           input_signature=[tf.TensorSpec([None, None, None], targets.dtype)])
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):  # when run
            loss(targets)
        assert loss(tf.zeros([2, 8, 8], targets.dtype)).shape == (2,)


def test_depth_pixels_that_are_nan_count_as_missing():
    task = mz.tasks.Depth("depth")
    predicted = {"depth": tf.fill([1, 4, 4, 1], 2.0)}
    with_nan = np.ones([1, 4, 4], "float32")
    with_nan[0, 0, :2] = np.nan
    with_zero = np.nan_to_num(with_nan, nan=0.0)
    loss = task.per_example_loss(tf.constant(with_nan), predicted)
    assert np.isfinite(loss.numpy()).all()
    np.testing.assert_allclose(loss, task.per_example_loss(tf.constant(with_zero), predicted))


def test_task_configs_round_trip():
    for task in TASKS:
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(task))
        assert type(clone) is type(task) and clone.get_config() == task.get_config()


@pytest.mark.parametrize("source", [(7, 9), (33, 17), (100, 64), (5, 128)])
def test_label_maps_resize_to_the_pixels_tf_image_resize_picks(source):
    from mtl_zoo.tasks.dense import resize_label_map

    label_map = np.random.default_rng(0).integers(0, 255, (*source, 1)).astype(np.int32)
    for size in [(32, 32), (64, 48), (7, 129)]:
        expected = tf.image.resize(label_map, size, method="nearest").numpy()
        np.testing.assert_array_equal(resize_label_map(label_map, size, tf.int32).numpy(), expected)
