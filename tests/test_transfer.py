"""A preset's trained trunk under other tasks: `from_preset(name, tasks=[...])` and `transfer_weights`."""

import numpy as np
import pytest

import mtl_zoo as mz
from mtl_zoo.data import dataset_from_arrays
from mtl_zoo.presets.transfer import transfer_weights, trunk_layers
from local_presets import write_preset

PRESET = "mtl_shapes_tiny_cls_det_pose"


@pytest.fixture(scope="module")
def preset_model():
    return mz.from_preset(PRESET)


def _classifiers(*names):
    return [mz.tasks.Classification(name, 3) for name in names]


def test_kept_tasks_keep_their_trained_heads_and_a_new_task_starts_fresh(preset_model):
    model = mz.from_preset(PRESET, tasks=["pose", "objects", mz.tasks.Classification("scene", 3)])
    assert model.task_names == ["pose", "objects", "scene"]
    images = np.random.default_rng(0).integers(0, 256, (4, 128, 128, 3)).astype("uint8")
    expected, outputs = preset_model.predict(images, verbose=0), model.predict(images, verbose=0)
    assert sorted(outputs) == sorted([name for name in expected if not name.startswith("action")]
                                     + ["scene_logits"])
    for name in outputs:
        if name != "scene_logits":  # the trunk and both kept heads are the trained ones
            np.testing.assert_allclose(outputs[name], expected[name], atol=1e-5, err_msg=name)
    transfer = transfer_weights(preset_model, model, new_tasks=["scene"])
    assert transfer.fresh == ["scene_logits"]
    assert {"tiny_backbone", "pyramid_P3_smooth", "objects_heatmap", "pose_keypoint_heatmap"} <= set(
        transfer.copied)


def test_a_new_task_named_like_a_preset_task_replaces_its_head(preset_model):
    model = mz.from_preset(PRESET, tasks=[mz.tasks.Classification("action", 6), "objects"])
    for trained, new in zip(preset_model.get_layer("tiny_backbone").get_weights(),
                            model.get_layer("tiny_backbone").get_weights()):
        np.testing.assert_array_equal(new, trained)
    trained_kernel = preset_model.get_layer("action_logits").get_weights()[0]
    assert not np.allclose(model.get_layer("action_logits").get_weights()[0], trained_kernel)
    architecture = mz.from_preset(PRESET, pretrained=False, tasks=["objects"])
    assert architecture.task_names == ["objects"]
    assert not np.allclose(architecture.get_layer("objects_heatmap").get_weights()[0],
                           preset_model.get_layer("objects_heatmap").get_weights()[0])


@pytest.mark.parametrize("tasks,message", [
    (["objects", "poses"], r"Unknown task name 'poses'\. Did you mean 'pose'.* Valid choices: action, objects, "
                           r"pose\. Those are the tasks of preset 'mtl_shapes_tiny_cls_det_pose'; a new "
                           r"task is a mtl_zoo\.tasks\.Task or a task dict, not a name"),
    ([], r"tasks is empty: name tasks of preset .+\['action', 'objects', 'pose'\]"),
    ("objects", r"tasks must be a list of preset task names and new tasks, got 'objects'"),
    (["objects", "objects"], r"'objects'"),
])
def test_bad_tasks_for_a_preset_get_a_clear_error(tasks, message):
    with pytest.raises(ValueError, match=message):
        mz.from_preset(PRESET, pretrained=False, tasks=tasks)


def test_learned_uncertainty_goes_over_for_kept_tasks_only():
    source = mz.build_model("tiny", _classifiers("a", "b"), (32, 32, 3), uncertainty_weighting=True)
    source._log_variances["a"].assign(0.7)
    source._log_variances["b"].assign(-0.3)
    target = mz.build_model("tiny", _classifiers("a", "b", "c"), (32, 32, 3), uncertainty_weighting=True)
    transfer = transfer_weights(source, target, new_tasks=["b", "c"])
    assert transfer.fresh == ["b_logits", "c_logits"]
    assert {name: float(v.numpy()) for name, v in target._log_variances.items()} == pytest.approx(
        {"a": 0.7, "b": 0.0, "c": 0.0})


def test_transfers_that_cannot_carry_the_trunk_are_an_error():
    two = mz.build_model("tiny", _classifiers("a", "b"), (64, 64, 3))
    with pytest.raises(ValueError, match=r"new_tasks \['z'\] are not tasks of the model"):
        transfer_weights(two, mz.build_model("tiny", _classifiers("a"), (64, 64, 3)), new_tasks=["z"])
    other_trunk = mz.build_model("mobilenet_v3_small", _classifiers("a", "b"), (64, 64, 3))
    with pytest.raises(ValueError, match="No trunk layer of .+ goes over to .+ the two trunks differ"):
        transfer_weights(two, other_trunk)
    one = mz.build_model("tiny", _classifiers("a"), (64, 64, 3))
    with pytest.raises(ValueError, match=r"has one task \('a'\), which the new model does not keep"):
        transfer_weights(one, two, new_tasks=["a", "b"])
    kept = transfer_weights(one, two, new_tasks=["b"])  # its one task kept: all of it goes over
    assert kept.fresh == ["b_logits"]


def test_a_preset_built_for_another_input_size_keeps_every_trained_weight(preset_model):
    model = mz.from_preset(PRESET, input_shape=(64, 96, 3))
    assert model.input_shape == (None, 64, 96, 3) and model.task_names == preset_model.task_names
    for layer in preset_model.layers:
        for trained, new in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(new, trained, err_msg=layer.name)
    images = np.random.default_rng(1).integers(0, 256, (2, 64, 96, 3)).astype("uint8")
    assert model.predict(images, verbose=0)["objects_heatmap"].shape == (2, 8, 12, 4)


def test_a_kept_head_that_does_not_fit_is_an_error():
    def faces(size):
        tasks = [mz.tasks.Classification("smiling", 2), mz.tasks.Landmarks("eyes", 2)]
        return mz.build_model("tiny", tasks, (size, size, 3))

    small, large = faces(32), faces(64)  # the landmarks head's dense layer reads P5 flattened
    untouched = large.get_layer("tiny_backbone").get_weights()
    with pytest.raises(ValueError, match=r"do not fit the layers .* of the same names .*'eyes_hidden': "
                                         r"\('eyes', \[\(64, 128\), \(128,\)\], \[\(256, 128\), "
                                         r"\(128,\)\]\).* Nothing was copied\. Give such tasks as new tasks"):
        transfer_weights(small, large)
    for before, after in zip(untouched, large.get_layer("tiny_backbone").get_weights()):
        np.testing.assert_array_equal(after, before)  # all or nothing
    assert transfer_weights(small, large, new_tasks=["eyes"]).fresh == ["eyes_hidden", "eyes_dense"]
    with pytest.raises(ValueError, match=r"'tiny_backbone': \('trunk', \[\(3, 3, 3, 16\).*first conv for "
                                         r"another number of input channels"):
        transfer_weights(mz.from_preset(PRESET), mz.build_model("tiny", _classifiers("a", "b"), (64, 64, 1)))
    # the preset itself says so in one sentence (it used to list every layer's shapes)
    with pytest.raises(ValueError, match=r"takes 3-channel images; input_shape \(64, 64, 1\) may change the "
                                         r"height and width only .*grayscale_to_rgb"):
        mz.from_preset(PRESET, input_shape=(64, 64, 1))
    assert mz.from_preset(PRESET, input_shape=(64, 64, 1), pretrained=False).input_shape == (None, 64, 64, 1)


def test_per_task_towers_go_over_only_between_the_same_tasks():
    def model(sharing, *names):
        return mz.build_model("tiny", _classifiers(*names), (32, 32, 3), sharing=sharing)

    images = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    source = model("soft", "a", "b")
    same = model("soft", "a", "b")
    assert transfer_weights(source, same).fresh == []
    np.testing.assert_allclose(same.predict(images, verbose=0)["a_logits"],
                               source.predict(images, verbose=0)["a_logits"], atol=1e-6)
    with pytest.raises(ValueError, match="hold one tower per task .* the two task lists differ"):
        transfer_weights(source, model("soft", "a", "c"), new_tasks=["c"])
    stitched = model("cross_stitch", "a", "b")
    swapped = model("cross_stitch", "b", "a")  # the units' rows and columns are by task position
    transfer = transfer_weights(stitched, swapped)
    assert transfer.fresh and all(name.startswith("cross_stitch") for name in transfer.fresh)
    assert set(transfer.copied) >= {"a_logits", "b_logits"}


def test_ple_shared_gates_go_over_only_between_the_same_tasks():
    def ple(*names):
        return mz.build_model("tiny", _classifiers(*names), (32, 32, 3), sharing="mmoe",
                              sharing_options={"task_experts": 1, "extraction_layers": 2, "levels": ["P5"]})

    source = ple("a", "b")
    assert transfer_weights(source, ple("a", "b")).fresh == []
    for target in (ple("b", "a"), ple("a", "b", "c")):  # its experts are the tasks' own, in task order
        assert "shared_gate" in transfer_weights(source, target, new_tasks=[
            name for name in target.task_names if name not in source.task_names]).fresh


def test_another_channel_count_is_named_as_the_misfit():
    source = mz.build_model("tiny", _classifiers("a", "b"), (32, 32, 3))
    gray = mz.build_model("tiny", _classifiers("a", "b"), (32, 32, 1))
    with pytest.raises(ValueError, match=r"'tiny_backbone': \('trunk', .*first conv for another number"):
        transfer_weights(source, gray)


def test_the_heads_of_a_frozen_source_are_still_heads():
    source = mz.build_model("tiny", _classifiers("a", "b"), (32, 32, 3))
    source.trainable = False
    transfer = transfer_weights(source, mz.build_model("tiny", _classifiers("a", "b"), (32, 32, 3)),
                                new_tasks=["b"])
    assert transfer.fresh == ["b_logits"] and transfer.trunk == ["tiny_backbone"]


def test_the_transferred_trunk_can_be_frozen_to_train_the_new_head_first(preset_model):
    model = mz.from_preset(PRESET, tasks=["action", mz.tasks.Classification("scene", 3)], freeze_trunk=True)
    transfer = transfer_weights(preset_model, mz.from_preset(PRESET, tasks=["action", _classifiers("scene")[0]]),
                                new_tasks=["scene"])
    assert "tiny_backbone" in transfer.trunk and set(transfer.trunk) < set(transfer.copied)
    assert "action_logits" in transfer.copied and "action_logits" not in transfer.trunk
    assert [layer.name for layer in model.layers if layer.weights and not layer.trainable] == transfer.trunk
    model.compile(optimizer="sgd")
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (8, 128, 128, 3)).astype("uint8")
    labels = {"action": rng.integers(0, 6, 8), "scene": rng.integers(0, 3, 8)}
    before = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
    model.fit(dataset_from_arrays(model, images, labels, batch_size=8), epochs=1, verbose=0)
    for name, weights in before.items():  # batch-norm statistics included
        changed = any(not np.array_equal(old, new) for old, new in zip(weights, model.get_layer(name).get_weights()))
        assert changed == (name not in transfer.trunk), name


def test_freezing_the_trunk_of_a_preset_as_it_is(preset_model):
    model = mz.from_preset(PRESET, freeze_trunk=True)
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    assert frozen == trunk_layers(preset_model) and "tiny_backbone" in frozen and "pyramid_P3_smooth" in frozen
    assert not any(layer.name in frozen for layer in model.layers if layer.name.startswith(tuple(model.task_names)))
    assert model.get_layer("tiny_backbone").get_layer("tiny_trunk").trainable_weights == []
    with pytest.raises(ValueError, match="freeze_trunk keeps the preset's trained trunk as it is: it needs pretrained=True"):
        mz.from_preset(PRESET, pretrained=False, freeze_trunk=True)
    with pytest.raises(ValueError, match="pretrained must be True or False, got 'no'"):  # a truthy string
        mz.from_preset(PRESET, pretrained="no")


def test_freezing_the_trunk_of_a_single_task_preset_is_an_error(tmp_path):
    preset = write_preset(tmp_path / "one", "one", {"backbone": "tiny", "input_shape": [32, 32, 3], "tasks": [
        {"kind": "classification", "name": "digit", "num_classes": 10}]})
    assert trunk_layers(mz.from_preset(preset)) == []
    with pytest.raises(ValueError, match="Preset 'one' has one task: its trunk cannot be told from its head"):
        mz.from_preset(preset, freeze_trunk=True)


def test_a_preset_trained_without_uncertainty_weighting_learns_it_on_its_trained_weights(preset_model):
    model = mz.from_preset(PRESET, uncertainty_weighting={"action": "classification"})
    assert [variable.numpy() for variable in model._log_variances.values()] == [0.0]
    for layer in preset_model.layers:
        for trained, new in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(new, trained, err_msg=layer.name)
