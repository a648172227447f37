import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.data import dataset_from_arrays, generate_shapes

SHAPE = (64, 64, 3)


def _tasks():
    return [mz.tasks.Classification("count", num_classes=3),
            mz.tasks.Detection("shapes", num_classes=2),
            mz.tasks.Keypoints("extremes", num_keypoints=4, flip_pairs=[(1, 2)])]


@pytest.fixture(scope="module")
def shapes():
    return generate_shapes(16, image_size=64, seed=3)


@pytest.fixture
def model():
    model = mz.build_model("tiny", _tasks(), SHAPE, task_weights={"shapes": 0.5})
    model.compile(optimizer="sgd")  # traces in about half the time of Adam
    return model


def _batch(model, shapes, n=8):
    images, labels = shapes
    return next(iter(dataset_from_arrays(model, images[:n], tf.nest.map_structure(
        lambda a: a[:n], labels), batch_size=n)))


def test_model_outputs_are_a_flat_named_dict(model):
    assert sorted(model.output_names) == sorted([
        "count_logits", "shapes_heatmap", "shapes_size", "shapes_offset",
        "extremes_center_heatmap", "extremes_center_offset", "extremes_keypoint_offsets",
        "extremes_keypoint_heatmap"])
    assert model.task_weights == {"count": 1.0, "shapes": 0.5, "extremes": 1.0}
    assert [v.trainable for v in model.non_trainable_variables if "alpha" in v.path] == [False] * 3


def test_loss_is_the_alpha_weighted_sum_of_task_losses(model, shapes):
    images, labels = _batch(model, shapes)
    model.set_task_weights({"count": 0.25, "extremes": 2.0})
    logs = model.test_on_batch(images, labels, return_dict=True)
    expected = 0.25 * logs["count_loss"] + 0.5 * logs["shapes_loss"] + 2.0 * logs["extremes_loss"]
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)


def test_a_mask_removes_the_task_loss_and_its_gradient(model, shapes):
    images, labels = _batch(model, shapes)
    zeros, ones = tf.zeros([8]), tf.ones([8])
    masked = model.test_on_batch(images, labels, sample_weight={"count": zeros}, return_dict=True)
    assert masked["count_loss"] == 0.0
    assert masked["loss"] == pytest.approx(0.5 * masked["shapes_loss"] + masked["extremes_loss"], rel=1e-5)
    head = model.get_layer("count_logits").kernel
    with tf.GradientTape() as tape:
        losses, _ = model.compute_task_losses(labels, model(images, training=True), {"count": zeros})
        total = model.weighted_loss(losses)
    gradient = tape.gradient(total, head)
    assert gradient is None or float(tf.reduce_max(tf.abs(gradient))) == 0.0
    # half the batch masked: the loss is the mean over the other half
    half = tf.concat([tf.ones([4]), tf.zeros([4])], 0)
    partial = model.test_on_batch(images, labels, sample_weight={"count": half}, return_dict=True)
    first_half = model.test_on_batch(images[:4], tf.nest.map_structure(lambda t: t[:4], labels),
                                     return_dict=True)
    assert partial["count_loss"] == pytest.approx(first_half["count_loss"], rel=1e-4)
    full = model.test_on_batch(images, labels, sample_weight={"count": ones}, return_dict=True)
    assert full["count_loss"] > 0


def test_per_task_masks_go_with_arrays_as_with_datasets(model, shapes):
    """Keras takes sample_weight with arrays only in y's structure: a {task: mask} dict used to
    fail inside Keras unless it covered every task and matched nested targets."""
    images, labels = (tf.nest.map_structure(lambda t: t.numpy(), part) for part in _batch(model, shapes))
    half = np.array([1.0] * 4 + [0.0] * 4, "float32")
    # a mask for the detection task alone (nested targets), the others unmasked
    from_arrays = model.evaluate(images, labels, sample_weight={"shapes": half}, batch_size=8, verbose=0,
                                 return_dict=True)
    from_dataset = model.evaluate(tf.data.Dataset.from_tensors((images, labels, {"shapes": half})), verbose=0,
                                  return_dict=True)
    assert from_arrays == pytest.approx(from_dataset, rel=1e-5)
    assert from_arrays["shapes_loss"] != pytest.approx(model.evaluate(images, labels, batch_size=8, verbose=0,
                                                                      return_dict=True)["shapes_loss"])
    # fit: a mask dict (a list, too), in validation_data as well; and one mask for every task
    history = model.fit(images, labels, sample_weight={"count": half.tolist()}, batch_size=8, epochs=1,
                        validation_data=(images, labels, {"shapes": half}), verbose=0).history
    assert history["val_shapes_loss"][0] > 0 and np.isfinite(history["count_loss"][0])
    assert np.isfinite(model.fit(images, labels, sample_weight=np.ones(8), batch_size=8,
                                 verbose=0).history["loss"][0])
    with pytest.raises(ValueError, match=r"The masks name \['other'\], which y does not label.*"
                                         r"dataset_from_arrays\(model, images, raw_labels, masks="):
        model.fit(images, labels, sample_weight={"other": half}, verbose=0)


def test_images_scaled_to_0_1_are_warned_about(model, shapes):
    images = shapes[0][:2]
    with pytest.warns(UserWarning, match="The images given to predict are floats in \\[0.*, .*1\\], but the models "
                                         "take raw 0-255 images"):
        model.predict_decoded(images.astype("float32") / 255.0)  # it used to decode near-black images
    with pytest.warns(UserWarning, match="The images given to dataset_from_arrays are floats in \\[-1, .*\\]"):
        dataset_from_arrays(model, images.astype("float32") / 127.5 - 1.0, {"count": np.array([0, 1])})
    with pytest.warns(UserWarning, match="The images given to predict are floats") as caught:
        model.predict(tf.constant(images, tf.float32) / 255.0, verbose=0)  # a tensor too
    assert caught[0].filename == __file__  # the warning points at the call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(images, verbose=0)
        model.predict(images.astype("float32"), verbose=0)


def test_a_masked_example_adds_no_metric_update(model, shapes):
    images, labels = _batch(model, shapes)
    predicted = np.argmax(model.predict(images, verbose=0)["count_logits"], -1)
    wrong = np.arange(8) % 2 == 1  # every other label is made wrong on purpose
    labels = {**labels, "count": tf.constant(np.where(wrong, (predicted + 1) % 3, predicted))}
    unmasked = model.test_on_batch(images, labels, return_dict=True)
    assert unmasked["count_accuracy"] == 0.5
    masked = model.test_on_batch(images, labels, sample_weight={"count": 1.0 - wrong}, return_dict=True)
    assert masked["count_accuracy"] == 1.0


@pytest.mark.parametrize("tasks,clash", [
    # Keypoints' output center_heatmap is 'pose_center' + '_heatmap'
    (lambda: [mz.tasks.Keypoints("pose", 3), mz.tasks.Detection("pose_center", 2)],
     "'pose' and 'pose_center' would both name .* 'pose_center_heatmap'"),
    # Detection logs its size term as shapes_size_loss, the classifier's loss name
    (lambda: [mz.tasks.Classification("shapes_size", 3), mz.tasks.Detection("shapes", 2)],
     "'shapes_size' and 'shapes' would both name .* 'shapes_size_loss'"),
])
def test_task_names_whose_outputs_or_metrics_clash_are_refused(tasks, clash):
    with pytest.raises(ValueError, match=clash):
        mz.build_model("tiny", tasks(), (32, 32, 3))


def test_a_task_without_labels_needs_a_mask(model, shapes):
    images, labels = _batch(model, shapes)
    without = {k: v for k, v in labels.items() if k != "count"}
    with pytest.raises(ValueError, match="lack task 'count'"):
        model.test_on_batch(images, without)
    logs = model.test_on_batch(images, without, sample_weight={"count": tf.zeros([8])}, return_dict=True)
    assert logs["count_loss"] == 0.0 and logs["shapes_loss"] > 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="lack task .+count.+, but its mask is not all zeros"):
        model.test_on_batch(images, without, sample_weight={"count": tf.one_hot(3, 8)})


def test_fit_trains_with_validation_data_and_masks(model, shapes):
    images, labels = shapes
    masks = {"count": (np.arange(16) % 2).astype("float32")}
    data = dataset_from_arrays(model, images, labels, batch_size=8, masks=masks)
    history = model.fit(data, validation_data=data, epochs=2, verbose=0)
    assert {"loss", "val_loss", "count_accuracy", "val_shapes_loss"} <= set(history.history)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_data_that_gives_no_batch_is_an_error_before_any_callback_saves(model, shapes, tmp_path):
    images, labels = shapes
    data = dataset_from_arrays(model, images, labels, batch_size=8)
    empty = data.filter(lambda *batch: tf.constant(False))
    saved = tmp_path / "model.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(str(saved))
    with pytest.raises(ValueError, match=r"training data gave no batch in epoch 1 \(the data is empty: an array of no examples, a dataset"), \
            pytest.warns(UserWarning, match="ran out of data"):  # Keras's own warning comes first
        model.fit(empty, epochs=2, callbacks=[checkpoint], verbose=0)
    assert not saved.exists()  # Keras alone would have saved the untrained model
    with pytest.raises(ValueError, match=r"evaluation \(or validation\) data gave no batch"):
        model.evaluate(empty, verbose=0)
    with pytest.raises(ValueError, match=r"\(or validation\) data gave no batch"):
        model.fit(data, validation_data=empty, epochs=1, verbose=0)
    # Keras's own predict fails with an UnboundLocalError here
    with pytest.raises(ValueError, match=r"data to predict on gave no batch \(the data is empty"):
        model.predict(empty.map(lambda images, *labels: images), verbose=0)
    with pytest.raises(ValueError, match=r"data to predict on gave no batch"):
        model.predict(images[:0], verbose=0)
    assert model.predict(images[:3], verbose=0)["count_logits"].shape[0] == 3
    own_list = keras.callbacks.CallbackList([checkpoint], model=model)  # a CallbackList of one's own
    with pytest.raises(ValueError, match="training data gave no batch in epoch 1"):
        model.fit(empty, epochs=2, callbacks=own_list, verbose=0)
    assert not saved.exists()
    # data that gives batches trains as before, with the callbacks given by position too
    history = model.fit(data, None, None, 1, 0, [checkpoint])
    assert saved.exists() and len(history.history["loss"]) == 1


@pytest.mark.parametrize("mutate,message", [
    (lambda labels: {**labels, "colour": labels["count"]}, "unknown tasks \\['colour'\\]"),
    (lambda labels: {**labels, "count": tf.one_hot(labels["count"], 3)}, "looks one-hot"),
    (lambda labels: {**labels, "shapes": {"heatmap": labels["shapes"]["heatmap"]}}, "targets lack"),
    (lambda labels: [labels["count"]], "Labels must be a dict"),
    # targets encoded for another input size, or another max_instances
    (lambda labels: {**labels, "shapes": {**labels["shapes"],
                                          "heatmap": labels["shapes"]["heatmap"][:, :4, :4]}},
     "'shapes': targets\\['heatmap'\\] must have the \\(height, width\\) of the model's output"),
    (lambda labels: {**labels, "extremes": {**labels["extremes"],
                                            "indices": labels["extremes"]["indices"][:, :3]}},
     "'extremes': targets\\['indices'\\] has shape \\(8, 3\\), expected last dimension 16"),
])
def test_bad_labels_are_rejected_with_the_fix(model, shapes, mutate, message):
    images, labels = _batch(model, shapes)
    with pytest.raises(ValueError, match=message):
        model.test_on_batch(images, mutate(labels))


def test_bad_masks_and_labels_covering_no_task_are_rejected(model, shapes):
    images, labels = _batch(model, shapes)
    with pytest.raises(ValueError, match="Masks for unknown tasks \\['cuont'\\]"):
        model.test_on_batch(images, labels, sample_weight={"cuont": tf.zeros([8])})
    masks = {name: tf.zeros([8]) for name in model.task_names}
    with pytest.raises(ValueError, match="cover none of the model's tasks"):
        model.test_on_batch(images, {}, sample_weight=masks)
    for mask, message in [(tf.ones([7]), "one value per example"), (tf.ones([1]), "one value per example"),
                          (tf.constant([1.0, np.nan] * 4), "finite and >= 0"),
                          (tf.constant([1.0, -1.0] * 4), "finite and >= 0")]:
        with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=rf"count\W* must .*{message}"):
            model.test_on_batch(images, labels, sample_weight={"count": mask})
    # batches of unknown size: the length is checked when the step runs
    examples = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    short_masks = tf.data.Dataset.from_tensor_slices(tf.ones([7])).batch(7)
    data = tf.data.Dataset.zip(examples, short_masks).map(lambda xy, mask: (*xy, {"count": mask}))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"count\W* must hold one value per example"):
        model.evaluate(data, verbose=0)


def test_labels_must_line_up_with_the_images(model, shapes):
    images, labels = _batch(model, shapes)
    with pytest.raises(ValueError, match=r"targets of task 'count' must hold one example per image .*"
                                         r"they hold 2 for 8 images"):
        model.test_on_batch(images, {**labels, "count": labels["count"][:2]})
    task = model.get_task("count")
    task.validate_targets = lambda targets: None  # as a task of one's own might leave it
    with pytest.raises(ValueError, match=r"targets of task 'count' must hold one example .*; they are a scalar"):
        model.test_on_batch(images, {**labels, "count": tf.constant(1)})
    del task.validate_targets
    # batches of unknown size: checked when the step runs, before the forward pass
    unlabelled = {"shapes": np.zeros(8, "float32"), "extremes": np.zeros(8, "float32")}
    spec = (tf.TensorSpec((None,) + SHAPE), {"count": tf.TensorSpec((None,), tf.int32)},
            {name: tf.TensorSpec((None,)) for name in unlabelled})
    short = tf.data.Dataset.from_generator(
        lambda: iter([(images, {"count": labels["count"][:2]}, unlabelled)]), output_signature=spec)
    before = model.get_weights()
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"targets of task \W{1,2}count\W{1,2} must hold one example"):
        model.fit(short, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_targets_of_another_size_fail_with_the_task_name_before_any_metric_sees_them():
    model = mz.build_model("tiny", [mz.tasks.Segmentation("parts", 2)], (32, 32, 3))
    model.compile(optimizer="sgd")
    spec = (tf.TensorSpec((None, 32, 32, 3)), {"parts": tf.TensorSpec((None, None, None), tf.int32)})
    small_masks = tf.data.Dataset.from_generator(
        lambda: iter([(np.zeros((4, 32, 32, 3), "float32"), {"parts": np.zeros((4, 16, 16), "int32")})]),
        output_signature=spec)
    # the mIoU update once raced the loss's check and lost about one time in four
    for _ in range(16):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"parts\W{1,2}: masks must have the \(height"):
            model.evaluate(small_masks, verbose=0)


def test_targets_with_and_without_a_trailing_axis_of_one_train_the_same_model_in_turn():
    """Keras traces the steps again for targets of unknown rank once both ranks were seen;
    the checks and the losses used to fail on that rank with a bare Python error."""
    model = mz.build_model("tiny", [mz.tasks.Classification("kind", 3), mz.tasks.Segmentation("parts", 3),
                                    mz.tasks.Depth("depth")], (32, 32, 3))
    model.compile(optimizer="sgd")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 32, 32, 3)).astype("uint8")
    plain = {"kind": rng.integers(0, 3, 8), "parts": rng.integers(0, 3, (8, 32, 32)),
             "depth": rng.uniform(1, 5, (8, 32, 32)).astype("float32")}
    trailing = {name: values[..., None] for name, values in plain.items()}
    for labels in (plain, trailing, plain):
        assert np.isfinite(model.fit(images, labels, batch_size=8, verbose=0).history["loss"][0])
    losses = [model.evaluate(images, labels, batch_size=8, verbose=0, return_dict=True) for labels in (plain, trailing)]
    assert losses[0] == pytest.approx(losses[1])


def test_class_ids_out_of_range_are_an_error_unless_masked(model, shapes):
    images, labels = _batch(model, shapes)
    bad = tf.tensor_scatter_nd_update(tf.cast(labels["count"], tf.int64), [[0]], [tf.constant(5, tf.int64)])
    before, steps = model.get_weights(), int(model.optimizer.iterations.numpy())
    for aggregator in (None, mz.weighting.PCGrad()):  # the plain step and the per-task one
        model.compile(optimizer="sgd", aggregator=aggregator)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"count\W*: class ids must lie in \[0, 3\)"):
            model.train_on_batch(images, {**labels, "count": bad})
        # nothing changed, batch-norm statistics and the optimizer's step count included
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
        assert int(model.optimizer.iterations.numpy()) == steps
    masked = {"count": tf.constant([0.0] + [1.0] * 7)}  # the example with id 5 is not labelled
    assert np.all(np.isfinite(model.train_on_batch(images, {**labels, "count": bad}, sample_weight=masked)))


def test_keras_file_round_trip_reproduces_outputs_and_alphas(model, shapes, tmp_path):
    model.compile(optimizer="adam")  # whose moments are state to save and restore
    images, labels = _batch(model, shapes)
    model.fit(tf.data.Dataset.from_tensors((images, labels)), epochs=1, verbose=0)
    model.set_task_weights({"count": 0.3, "extremes": 1.7})
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = mz.load_model(path)
    assert isinstance(loaded, mz.MultiTaskModel)
    assert loaded.task_weights == model.task_weights
    assert [t.get_config() for t in loaded.tasks] == [t.get_config() for t in model.tasks]
    before, after = model.predict(images, verbose=0), loaded.predict(images, verbose=0)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])
    # the optimizer state came back too, so training continues from where it was
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 1
    loaded.fit(tf.data.Dataset.from_tensors((images, labels)), epochs=1, verbose=0)


def test_predict_decoded_returns_every_task(model, shapes):
    images, _ = shapes
    decoded = model.predict_decoded(images[:3])
    assert decoded["count"]["probabilities"].shape == (3, 3)
    np.testing.assert_allclose(decoded["count"]["probabilities"].sum(-1), 1.0, rtol=1e-5)
    assert decoded["shapes"]["boxes"].shape[::2] == (3, 4)
    assert decoded["extremes"]["keypoints"].shape[0] == 3 and decoded["extremes"]["keypoints"].shape[2:] == (4, 3)
    with pytest.raises(ValueError, match="non-empty batch"):
        model.predict_decoded(images[:0])
    with pytest.raises(ValueError, match="resize"):
        model.predict_decoded(np.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="Images have 1 channel.*grayscale_to_rgb"):
        model.predict_decoded(np.zeros((1,) + SHAPE[:2] + (1,)))


def test_decode_names_the_outputs_it_lacks(model):
    outputs = model(np.zeros((1,) + SHAPE, "float32"))
    with pytest.raises(ValueError, match=r"decode takes the model's raw outputs .*missing \['count_logits'\]"):
        model.decode({name: value for name, value in outputs.items() if name != "count_logits"})


def test_task_weights_must_be_finite_and_none_is_assigned_when_one_is_bad(model):
    before = model.task_weights
    for bad in (float("nan"), float("inf"), -0.5, "x", None):
        with pytest.raises(ValueError, match=r"Task weight of 'extremes' must be a finite number >= 0"):
            model.set_task_weights({"count": 0.25, "extremes": bad})
        assert model.task_weights == before
    with pytest.raises(ValueError, match="set_task_weights names unknown task 'zz'"):
        model.set_task_weights({"count": 0.25, "zz": 1.0})  # count comes first, and stays as it was
    with pytest.raises(ValueError, match=r"set_task_weights holds 2 value\(s\) for the 3 tasks"):
        model.set_task_weights([0.25, 1.0])
    assert model.task_weights == before
    model.set_task_weights([0.25, 1.0, 2.0])  # a list in task order, as build_model takes
    assert model.task_weights == {"count": 0.25, "shapes": 1.0, "extremes": 2.0}


def test_load_model_names_a_truncated_file(model, tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    model.save(path)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated.keras is not a .keras archive.*truncated or corrupt"):
        mz.load_model(truncated)
    for missing in ("missing.keras", "missing.h5"):
        with pytest.raises(ValueError, match=f"File not found: .*{missing}"):
            mz.load_model(tmp_path / missing)
    with pytest.raises(ValueError, match="is a folder that holds no saved model; load_model takes a .keras file.*"
                                         "tf.saved_model.load"):
        mz.load_model(tmp_path)  # an export's folder once asked to install orbax-checkpoint
    # saving: Keras's legacy format is refused before a byte is written (it used to fail
    # halfway and leave a partial file), and a .keras file is written whole
    with pytest.raises(ValueError, match="Cannot save to .*m.h5: Keras's legacy HDF5 format .*model.save_weights"):
        model.save(tmp_path / "m.h5")
    model.save(path)  # over the earlier one, through a staging folder that is then removed
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "truncated.keras"]
    assert mz.load_model(path).task_names == model.task_names
    before = path.read_bytes()

    def fails_halfway(self, store):  # a save that fails once part of the archive is written
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(type(model), "save_own_variables", fails_halfway)
        with pytest.raises(OSError, match="disk full"):
            model.save(path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.keras", "truncated.keras"]


@pytest.mark.parametrize("kwargs,message", [
    ({"backbone": "resnet"}, "Unknown backbone 'resnet'"),
    ({"tasks": [mz.tasks.Classification("a", 2), mz.tasks.Classification("a", 3)]}, "Duplicate task names"),
    ({"tasks": [{"kind": "pose", "name": "a"}]}, "Unknown task kind 'pose'"),
    ({"tasks": []}, "at least one task"),
    ({"tasks": mz.tasks.Classification("a", 2)}, r"tasks must be a list of tasks, got one Classification"),
    ({"input_shape": (24, 24, 3)}, "too small"),
    ({"input_shape": (3, 64, 96)}, r"looks like \(channels, height, width\): give \(height, width, channels\), "
                                   r"e.g. \(64, 96, 3\)"),
    ({"sharing": "medium"}, "Unknown sharing scheme"),
    ({"task_weights": {"cuont": 1.0}}, "task_weights names unknown task 'cuont'. Did you mean 'count'?"),
    ({"task_weights": {"count": "x"}}, "Task weight of 'count' must be a finite number >= 0, got 'x'"),
    ({"task_weights": {"count": None}}, "Task weight of 'count' must be a finite number >= 0, got None"),
    ({"task_weights": [1.0, 2.0]}, r"task_weights holds 2 value\(s\) for the 1 tasks \['count'\]"),
    ({"task_weights": 0.5}, "task_weights must be a dict .* or a list of one weight per task"),
    ({"task_weights": {"count": -1.0}}, ">= 0"),
    ({"task_weights": {"count": float("nan")}}, "finite number >= 0, got nan"),
])
def test_build_model_rejects_bad_input(kwargs, message):
    arguments = {"backbone": "tiny", "tasks": [mz.tasks.Classification("count", 3)], "input_shape": SHAPE}
    with pytest.raises(ValueError, match=message):
        mz.build_model(**{**arguments, **kwargs})


def test_compile_refuses_a_loss(model):
    with pytest.raises(ValueError, match="come from the tasks"):
        model.compile(optimizer="adam", loss="mse")


def test_build_model_takes_a_backbone_instance_and_task_dicts():
    backbone = mz.Backbone("tiny", input_shape=(32, 32, 1))
    model = mz.build_model(backbone, [{"kind": "classification", "name": "digit", "num_classes": 10}])
    assert model.image_shape == (32, 32, 1)
    assert model.predict(np.zeros((1, 32, 32, 1)), verbose=0)["digit_logits"].shape == (1, 10)
