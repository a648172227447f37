import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.builders import SHARING_SCHEMES
from mtl_zoo.data import dataset_from_arrays, generate_shapes
from mtl_zoo.graph import analyse_sharing
from mtl_zoo.weighting import AGGREGATORS

SIZE = 32
SHAPE = (SIZE, SIZE, 3)
STITCHED = [s for s in SHARING_SCHEMES if s != "hard"]


def _tasks():
    return [mz.tasks.Classification("count", 3), mz.tasks.Detection("shapes", 2)]


def _classifiers(count=2):
    return [mz.tasks.Classification(f"task{i}", 3 + i) for i in range(count)]


@pytest.fixture(scope="module")
def shapes():
    return generate_shapes(8, image_size=SIZE, seed=4)


def _data(model, shapes):
    images, labels = shapes
    labels = {name: value for name, value in labels.items() if name in model.task_names}
    return dataset_from_arrays(model, images, labels, batch_size=8)


def _images(count=2):
    return np.random.default_rng(0).uniform(0, 255, (count,) + SHAPE).astype("float32")


def _max_difference(first, second):
    return max(float(np.max(np.abs(np.asarray(first[k]) - np.asarray(second[k])))) for k in first)


def test_schemes_are_the_documented_ones():
    assert SHARING_SCHEMES == ("hard", "soft", "cross_stitch", "mtan", "mmoe")


@pytest.mark.parametrize("sharing", STITCHED)
def test_scheme_builds_trains_saves_and_reloads(sharing, shapes, tmp_path):
    model = mz.build_model("tiny", _tasks(), SHAPE, sharing=sharing)
    hard = mz.build_model("tiny", _tasks(), SHAPE)
    for scheme, built in ((sharing, model), ("hard", hard)):  # as the scheme declares
        holds = any(isinstance(layer, mz.backbones.Backbone) for layer in built.layers)
        assert holds == mz.sharing.SCHEMES[scheme].HOLDS_BACKBONE_LAYER, scheme
    images = _images()
    outputs, hard_outputs = model(images), hard(images)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == \
        {k: tuple(v.shape) for k, v in hard_outputs.items()}

    model.compile(optimizer=keras.optimizers.SGD(0.05))
    before = [np.array(v) for v in model.trainable_variables]
    loss = model.fit(_data(model, shapes), epochs=1, verbose=0).history["loss"][-1]
    assert np.isfinite(loss)
    changed = [not np.allclose(a, np.asarray(v)) for a, v in zip(before, model.trainable_variables)]
    assert np.mean(changed) > 0.9, f"{sum(changed)} of {len(changed)} variables moved"

    path = tmp_path / f"{sharing}.keras"
    model.save(path)
    reloaded = mz.load_model(path)
    assert _max_difference(model(images), reloaded(images)) < 1e-5
    assert len(reloaded.losses) == len(model.losses)


@pytest.fixture(scope="module")
def classifier_models():
    return {}


@pytest.mark.parametrize("sharing,aggregator", [
    pytest.param(sharing, name, id=f"{sharing}-{name}") for sharing in STITCHED for name in AGGREGATORS])
def test_every_aggregator_trains_a_step_on_every_scheme(sharing, aggregator, classifier_models):
    # eager steps on classification heads keep this cheap; test_weighting covers hard sharing
    if sharing not in classifier_models:
        classifier_models[sharing] = mz.build_model("tiny", _classifiers(), SHAPE, sharing=sharing)
    model = classifier_models[sharing]
    images = _images(4)
    labels = {task.name: np.array([0, 1, 2, 1]) for task in model.tasks}
    model.compile(optimizer=keras.optimizers.SGD(1e-2), aggregator=AGGREGATORS[aggregator](),
                  run_eagerly=True)
    before = [np.array(v) for v in model.trainable_variables]
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert np.isfinite(logs["loss"])
    moved = [not np.allclose(a, np.asarray(v)) for a, v in zip(before, model.trainable_variables)]
    assert np.mean(moved) > 0.5, (sum(moved), len(moved))


def test_soft_sharing_with_an_aggregator_is_the_plain_step():
    # nothing is shared, so each tower gets its own task's gradient either way
    model = mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft")
    assert analyse_sharing(model).shared_variables == []
    initial = model.get_weights()
    images, labels = _images(4), {"task0": np.array([0, 1, 2, 1]), "task1": np.array([3, 1, 0, 2])}
    results = []
    for aggregator in (None, mz.weighting.MGDA()):
        model.set_weights(initial)
        if aggregator is None:
            model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
        else:
            with pytest.warns(UserWarning, match="MGDA: no trainable variable of this model is shared"):
                model.compile(optimizer=keras.optimizers.SGD(0.1), aggregator=aggregator, run_eagerly=True)
        model.train_on_batch(images, labels)
        results.append(model.get_weights())
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(*results)) < 1e-6
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(results[0], initial)) > 1e-4
    with pytest.raises(ValueError, match="no trainable variables shared"):
        model.request_gradient_statistics()
    model.get_layer("task0_logits").trainable = False  # frozen, but one task's: still nothing shared
    with pytest.warns(UserWarning, match=r"MGDA: no trainable variable .* \(separate towers, as in soft sharing\)"):
        model.compile(optimizer="sgd", aggregator=mz.weighting.MGDA())


EVERY_KIND = [mz.tasks.Classification("label", 3), mz.tasks.MultiLabel("tags", 4),
              mz.tasks.Detection("boxes", 2), mz.tasks.Keypoints("joints", 3),
              mz.tasks.Landmarks("marks", 5, hidden_units=16), mz.tasks.Segmentation("parts", 3),
              mz.tasks.Depth("depth")]


@pytest.mark.parametrize("sharing", STITCHED)
def test_every_task_kind_works_with_every_scheme(sharing):
    model = mz.build_model("tiny", EVERY_KIND, SHAPE, sharing=sharing, pyramid_channels=16)
    assert sorted(model.output_names) == sorted(
        task.output_name(key) for task in EVERY_KIND for key in task.output_keys)
    outputs = model(_images(2))
    decoded = model.decode(outputs)
    assert sorted(decoded) == sorted(task.name for task in EVERY_KIND)
    for values in tf.nest.flatten(decoded):
        assert values.shape[0] == 2 and np.all(np.isfinite(np.asarray(values, dtype="float64")))


@pytest.fixture(scope="module")
def three_task_models():
    return {sharing: mz.build_model("tiny", _classifiers(3), SHAPE, sharing=sharing)
            for sharing in SHARING_SCHEMES}


def test_parameter_counts_follow_the_papers(three_task_models):
    tasks, stages = 3, 4
    backbone = mz.Backbone("tiny", SHAPE)
    trunk, channels = backbone.count_params(), backbone.channels
    hard = three_task_models["hard"].count_params()
    heads = hard - trunk
    # soft sharing and cross-stitch: one trunk per task; cross-stitch adds T x T per stage
    assert three_task_models["soft"].count_params() == tasks * trunk + heads
    assert three_task_models["cross_stitch"].count_params() == tasks * trunk + heads + stages * tasks ** 2
    per_channel = mz.build_model("tiny", _classifiers(3), SHAPE, sharing="cross_stitch",
                                 sharing_options={"per_channel": True, "stages": ["P3", "P5"]})
    assert per_channel.count_params() == (tasks * trunk + heads
                                          + tasks ** 2 * (channels["P3"] + channels["P5"]))
    # MTAN: the shared model plus one attention module per task and stage (1x1 conv to the
    # bottleneck on [shared, previous], 1x1 conv back, their BN), and one shared f per stage but
    # the first (3x3 conv from the previous stage's width to the stage's, BN) used by every task
    mtan = three_task_models["mtan"]
    attention = [layer for layer in mtan.layers if isinstance(layer, mz.layers.TaskAttention)]
    assert len(attention) == tasks * stages
    levels = ["P2", "P3", "P4", "P5"]

    def attention_parameters(level, joint):
        width, hidden = channels[level], max(8, channels[level] // 4)
        return joint * hidden + 4 * hidden + hidden * width + 4 * width

    assert sum(layer.count_params() for layer in attention) == tasks * (
        attention_parameters("P2", channels["P2"])
        + sum(attention_parameters(level, 2 * channels[level]) for level in levels[1:]))
    f_parameters = sum(9 * channels[previous] * channels[level] + 4 * channels[level]
                       for previous, level in zip(levels, levels[1:]))
    assert sum(mtan.get_layer(f"mtan_f_{level}").count_params() for level in levels[1:]) == f_parameters
    assert mtan.count_params() == hard + sum(layer.count_params() for layer in attention) + f_parameters
    # MMoE: the shared model plus experts (3x3 convs) and one softmax gate per task; the
    # classifiers read P5 only, so only P5 experts are in the graph (of the P5 width, so the
    # heads keep their size)
    experts, width = 2, channels["P5"]
    mmoe = mz.build_model("tiny", _classifiers(3), SHAPE, sharing="mmoe", sharing_options={
        "num_experts": experts, "expert_channels": width})
    expert_parameters = experts * (9 * channels["P5"] * width + width)
    gate_parameters = tasks * (channels["P5"] * experts + experts)
    assert mmoe.count_params() == hard + expert_parameters + gate_parameters
    # CGC: each task also has its own experts, and its gate mixes shared and own ones
    own = 1
    cgc = mz.build_model("tiny", _classifiers(3), SHAPE, sharing="mmoe", sharing_options={
        "num_experts": experts, "expert_channels": width, "task_experts": own})
    own_parameters = tasks * own * (9 * channels["P5"] * width + width)
    cgc_gate_parameters = tasks * (channels["P5"] * (experts + own) + experts + own)
    assert cgc.count_params() == hard + expert_parameters + own_parameters + cgc_gate_parameters


def _trainable(layer):
    return {id(v) for v in layer.trainable_variables}


def test_each_scheme_splits_shared_and_task_parameters(three_task_models):
    trunk_size = len(mz.Backbone("tiny", SHAPE).trainable_variables)
    split = {s: analyse_sharing(m) for s, m in three_task_models.items()}
    soft = three_task_models["soft"].get_layer("soft_sharing")
    assert split["soft"].shared_variables == []
    for task, tower in zip(["task0", "task1", "task2"], soft.towers):
        assert _trainable(tower) <= {id(v) for v in split["soft"].task_variables[task]}
    # cross-stitch: the towers are entangled by the units, so every tower and unit is shared
    assert len(split["cross_stitch"].shared_variables) == 3 * trunk_size + 4
    # MTAN: the trunk and the feature extractors f (one per stage, used by every task's
    # attention chain) are shared, the attention modules are the tasks' own
    mtan = three_task_models["mtan"]
    extractors = [mtan.get_layer(f"mtan_f_{level}") for level in ("P3", "P4", "P5")]
    assert len(split["mtan"].shared_variables) == trunk_size + sum(len(f.trainable_variables) for f in extractors)
    assert set().union(*map(_trainable, extractors)) <= {id(v) for v in split["mtan"].shared_variables}
    for task in ("task0", "task1", "task2"):
        assert _trainable(mtan.get_layer(f"{task}_attention_P3")) <= \
            {id(v) for v in split["mtan"].task_variables[task]}
    # MMoE: trunk and experts shared, gates per task
    mmoe = three_task_models["mmoe"]
    assert _trainable(mmoe.get_layer("expert1_P5")) <= {id(v) for v in split["mmoe"].shared_variables}
    assert _trainable(mmoe.get_layer("task2_gate")) <= \
        {id(v) for v in split["mmoe"].task_variables["task2"]}


def test_mtan_has_one_feature_extractor_per_stage_shared_by_every_task(three_task_models):
    # Liu et al. 2019 (and lorenmt/mtan's encoder_block_att): f is one module per stage,
    # applied to every task's attended features of the previous stage
    mtan = three_task_models["mtan"]
    names = [layer.name for layer in mtan.layers]
    assert [name for name in names if name.startswith("mtan_f")] == ["mtan_f_P3", "mtan_f_P4", "mtan_f_P5"]
    for previous, level in (("P2", "P3"), ("P3", "P4"), ("P4", "P5")):
        calls = mtan.get_layer(f"mtan_f_{level}")._inbound_nodes
        readers = sorted(node.input_tensors[0]._keras_history[0].name for node in calls)
        assert readers == [f"task{i}_attention_{previous}" for i in range(3)]
    for attention in (layer for layer in mtan.layers if isinstance(layer, mz.layers.TaskAttention)):
        kernels = [tuple(v.shape[:2]) for v in attention.weights if v.name == "kernel"]
        assert kernels == [(1, 1), (1, 1)]  # a task's own convs: the mask's two 1x1 convs


def test_mtan_resnet_bottleneck_extractors_project_reduce_and_reload(tmp_path):
    # the MTAN code's f on ResNet trunks: 1x1 to channels // 4, 3x3, 1x1 back, plus a
    # projection shortcut, each conv with BN; then pooled to the next stage
    model = mz.build_model("tiny", _classifiers(2), SHAPE, sharing="mtan",
                           sharing_options={"stages": ["P4", "P5"], "extractor": "resnet_bottleneck"})
    channels = mz.Backbone("tiny", SHAPE).channels
    c_in, c_out = channels["P4"], channels["P5"]
    width = c_out // 4
    f = model.get_layer("mtan_f_P5")
    kernels = {layer.name: layer.kernel.shape for layer in f.layers if isinstance(layer, keras.layers.Conv2D)}
    assert kernels == {"mtan_f_P5_reduce_conv": (1, 1, c_in, width), "mtan_f_P5_conv": (3, 3, width, width),
                       "mtan_f_P5_expand_conv": (1, 1, width, c_out), "mtan_f_P5_shortcut_conv": (1, 1, c_in, c_out)}
    batch_norm = 4 * (2 * width + 2 * c_out)
    assert f.count_params() == c_in * width + 9 * width * width + width * c_out + c_in * c_out + batch_norm
    assert f.output_shape[1:] == (SIZE // 32, SIZE // 32, c_out)
    images = np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3)).astype("float32")
    model.save(tmp_path / "mtan.keras")
    reloaded = mz.load_model(tmp_path / "mtan.keras")
    for name, value in model.predict(images, verbose=0).items():
        np.testing.assert_allclose(reloaded.predict(images, verbose=0)[name], value, atol=1e-6)


def test_mtan_bridges_skipped_stages_without_skipping_positions():
    model = mz.build_model("tiny", _classifiers(2), SHAPE, sharing="mtan",
                           sharing_options={"stages": ["P2", "P5"]})
    assert [layer.name for layer in model.layers if layer.name.startswith("mtan_f")] == ["mtan_f_P5"]
    f = model.get_layer("mtan_f_P5")
    assert f.get_layer("mtan_f_P5_conv").strides == (1, 1)
    assert f.get_layer("mtan_f_P5_pool").pool_size == (8, 8)  # P2 to P5: pooled by 8 after the conv
    channels = mz.Backbone("tiny", SHAPE).channels
    assert f.count_params() == 9 * channels["P2"] * channels["P5"] + 4 * channels["P5"]
    # a large value of one sign or the other at any position of the P2 map reaches P5
    # (a stride-8 conv would see only the first 3 x 3 positions of this 8 x 8 map)
    size = SIZE // 4
    zeros = np.zeros((1, size, size, channels["P2"]), "float32")
    reference = np.asarray(f(zeros, training=False))
    for row, column in ((0, 0), (3, 5), (size - 1, size - 1)):
        reached = False
        for sign in (1.0, -1.0):
            spike = zeros.copy()
            spike[0, row, column] = sign * 100.0
            reached |= not np.allclose(np.asarray(f(spike, training=False)), reference)
        assert reached, (row, column)
    outputs = model(_images(1))
    assert all(np.all(np.isfinite(np.asarray(value))) for value in outputs.values())


def _trains_saves_and_reloads(model, layer_name, path):
    """Fits one epoch of 4 images: `layer_name`'s kernel moves, and the saved model predicts the same."""
    model.compile(optimizer="sgd")
    images = np.random.default_rng(0).uniform(0, 255, (4,) + SHAPE).astype("float32")
    labels = {"task0": np.array([0, 1, 0, 1]), "task1": np.array([1, 0, 1, 0])}
    before = model.get_layer(layer_name).get_weights()[0].copy()
    model.fit(images, labels, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer(layer_name).get_weights()[0], before)
    model.save(path)
    np.testing.assert_allclose(mz.load_model(path).predict(images, verbose=0)["task0_logits"],
                               model.predict(images, verbose=0)["task0_logits"], atol=1e-6)


def _assert_owned_by(model, split, layer_template):
    """Each task's layer `layer_template.format(task)` belongs to that task alone."""
    for task, other in (("task0", "task1"), ("task1", "task0")):
        own = _trainable(model.get_layer(layer_template.format(task)))
        assert own <= {id(v) for v in split.task_variables[task]}
        assert not own & {id(v) for v in split.task_variables[other]}


def test_customized_gate_control_trains_and_its_own_experts_belong_to_their_task(tmp_path):
    model = mz.build_model("tiny", _classifiers(2), SHAPE, sharing="mmoe",
                           sharing_options={"num_experts": 2, "task_experts": 1, "levels": ["P5"]})
    split = analyse_sharing(model)
    assert _trainable(model.get_layer("expert2_P5")) <= {id(v) for v in split.shared_variables}
    _assert_owned_by(model, split, "{}_expert1_P5")
    _trains_saves_and_reloads(model, "task1_expert1_P5", tmp_path / "cgc.keras")


def test_progressive_layered_extraction_stacks_cgc_layers_with_a_shared_gate(tmp_path):
    experts, own, tasks = 2, 1, 2
    width = mz.Backbone("tiny", SHAPE).channels["P5"]
    options = {"num_experts": experts, "task_experts": own, "levels": ["P5"], "expert_channels": width}
    cgc = mz.build_model("tiny", _classifiers(tasks), SHAPE, sharing="mmoe", sharing_options=options)
    ple = mz.build_model("tiny", _classifiers(tasks), SHAPE, sharing="mmoe",
                         sharing_options={**options, "extraction_layers": 2})
    # the second layer: experts on the first layer's mixtures (width to width), a gate per task
    # reading its pooled mixture, and between the layers one shared gate over every expert
    expert = 9 * width * width + width
    second_layer = (experts + tasks * own) * expert + tasks * (width * (experts + own) + experts + own)
    shared_gate = width * (experts + tasks * own) + experts + tasks * own
    assert ple.count_params() == cgc.count_params() + second_layer + shared_gate
    split = analyse_sharing(ple)
    # first-layer task experts feed the shared gate, so every task depends on them
    shared = {id(v) for v in split.shared_variables}
    for name in ("task0_expert1_P5", "shared_gate", "expert1_P5_layer2"):
        assert _trainable(ple.get_layer(name)) <= shared
    # a task's first-layer mixture feeds only its own second layer
    for template in ("{}_gate", "{}_expert1_P5_layer2", "{}_gate_layer2"):
        _assert_owned_by(ple, split, template)
    _trains_saves_and_reloads(ple, "task1_expert1_P5_layer2", tmp_path / "ple.keras")


def _tower_distance(model):
    first, second = model.get_layer("soft_sharing").towers
    return sum(float(np.sum((np.asarray(a) - np.asarray(b)) ** 2))
               for a, b in zip(first.trainable_variables, second.trainable_variables))


def test_the_penalty_is_beta_times_the_squared_tower_distance():
    model = mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft", sharing_options={"beta": 0.5})
    second = model.get_layer("soft_sharing").towers[1]
    second.set_weights([w + 0.01 for w in second.get_weights()])
    penalty = float(keras.ops.sum(keras.ops.stack(model.losses)))
    assert penalty == pytest.approx(0.5 * _tower_distance(model), rel=1e-4)
    assert float(model.get_layer("soft_sharing").penalty()) == pytest.approx(penalty, rel=1e-4)
    # the gradient of the penalty is beta * 2 * (theta_i - theta_j) on each side
    first = model.get_layer("soft_sharing").towers[0].trainable_variables[0]
    with tf.GradientTape() as tape:
        total = tf.add_n(model.losses)
    np.testing.assert_allclose(tape.gradient(total, first), 0.5 * 2 * -0.01 * np.ones(first.shape),
                               rtol=1e-4)


def test_a_large_beta_pulls_the_towers_together_and_zero_does_not():
    images = _images(8)
    labels = {"task0": np.arange(8) % 3, "task1": (np.arange(8) + 1) % 4}
    distances = {}
    for beta in (0.0, 5.0):
        keras.utils.set_random_seed(0)
        model = mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft",
                               sharing_options={"beta": beta})
        second = model.get_layer("soft_sharing").towers[1]
        second.set_weights(mz.Backbone("tiny", SHAPE).get_weights())  # start the towers apart
        start = _tower_distance(model)
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        model.fit(images, labels, batch_size=2, epochs=1, verbose=0)
        distances[beta] = _tower_distance(model) / start
    assert distances[5.0] < 0.5, distances
    assert distances[0.0] > 0.9, distances


@pytest.mark.slow
def test_the_soft_sharing_penalty_counts_once_under_mirrored_strategy():
    script = pathlib.Path(__file__).with_name("distributed_sharing_run.py")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    # the penalty is most of the loss, so counting it once per replica would double the loss
    assert outcome["penalty"] > 0.8 * outcome["losses"]["single"][0]
    np.testing.assert_allclose(outcome["losses"]["single"], outcome["losses"]["mirrored"], rtol=1e-4)
    assert outcome["max_weight_change"] > 0.05
    # Parallel towers with synchronised batch norm drift apart slightly between the two runs
    # (about 0.5% of the change here; hard sharing agrees to 1e-6), so the bound is loose.
    assert outcome["max_weight_difference"] < 0.02 * outcome["max_weight_change"]


def test_bad_sharing_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="beta must be a number >= 0"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft", sharing_options={"beta": -1.0})
    with pytest.raises(ValueError, match=r"\['P6'\] are not stages of the backbone.*'P2', 'P3'"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="cross_stitch",
                       sharing_options={"stages": ["P3", "P6"]})
    with pytest.raises(ValueError, match=r"\['P1'\] are not stages"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="mtan", sharing_options={"stages": ["P1"]})
    with pytest.raises(ValueError, match=r"stages names \['P3'\] more than once"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="mtan",
                       sharing_options={"stages": ["P3", "P5", "P3"]})
    with pytest.raises(ValueError, match=r"\['P7'\] are not"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="mmoe", sharing_options={"levels": ["P7"]})
    with pytest.raises(ValueError, match="task_experts must be an integer >= 0, got -1"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="mmoe", sharing_options={"task_experts": -1})
    with pytest.raises(ValueError, match="extraction_layers must be an integer >= 1, got 0"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="mmoe", sharing_options={"extraction_layers": 0})
    with pytest.raises(ValueError, match=r"extraction_layers > 1 stacks CGC layers \(PLE\).*set task_experts >= 1"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="mmoe", sharing_options={"extraction_layers": 2})
    with pytest.raises(ValueError, match=r"Unknown sharing_options \['betta'\].*\['beta', 'coupled_layers'\]"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft", sharing_options={"betta": 1.0})
    with pytest.raises(ValueError, match="Did you mean 'mtan'"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="mtn")
    with pytest.raises(ValueError, match="two or more tasks"):
        mz.build_model("tiny", _classifiers(1), SHAPE, sharing="soft")
    with pytest.raises(ValueError, match="different architectures"):
        mz.layers.SoftSharingRegularizer([mz.Backbone("tiny", (32, 32, 3), name="small"),
                                          mz.Backbone("tiny", (32, 32, 1), name="gray")])
    with pytest.raises(ValueError, match="Unknown layer of tower .* 'stage9_sep_conv'"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft",
                       sharing_options={"coupled_layers": ["stage9_sep_conv"]})
    # PLE's shared gate and summaries are shared_gate and shared_summary_layer2
    with pytest.raises(ValueError, match="a task cannot be named 'shared'.*shared_gate, shared_summary_layer2"):
        mz.build_model("tiny", [mz.tasks.Classification("shared", 2), mz.tasks.Classification("b", 3)],
                       SHAPE, sharing="mmoe", sharing_options={"task_experts": 1, "extraction_layers": 2})


BAD_SHARING_OPTIONS = [
    ("mmoe", {"num_experts": 0, "task_experts": 2}, "num_experts must be an integer >= 2, got 0"),
    ("mmoe", {"num_experts": 1}, "num_experts must be an integer >= 2, got 1"),
    ("mmoe", {"num_experts": 2.0}, r"num_experts must be an integer >= 2, got 2\.0"),
    ("mmoe", {"num_experts": "4"}, "num_experts must be an integer >= 2, got '4'"),
    ("mmoe", {"expert_channels": 0}, "expert_channels must be an integer >= 1, got 0"),
    ("mtan", {"bottleneck": 0}, r"'mtan': bottleneck must be None \(max\(8, channels // 4\)\) or an integer >= 1, got 0"),
    ("mtan", {"bottleneck": -8}, "'mtan': bottleneck must be None .* or an integer >= 1, got -8"),
    ("mtan", {"bottleneck": 4.0}, r"'mtan': bottleneck must be None .* or an integer >= 1, got 4\.0"),
    ("mtan", {"extractor": "bottleneck", "stages": ["P5"]},
     r"extractor must be one of \('conv', 'resnet_bottleneck'\), got 'bottleneck'"),
    ("soft", {"coupled_layers": "stage5_sep_conv"},
     r"coupled_layers must be None .* got the string 'stage5_sep_conv'; for one layer write \['stage5_sep_conv'\]"),
    ("soft", {"coupled_layers": []}, r"coupled_layers must be None \(couple every layer\) or a non-empty list"),
    ("cross_stitch", {"per_channel": "False"}, "per_channel must be True or False, got 'False'"),
]


@pytest.mark.parametrize("sharing,options,message", [
    pytest.param(*case, id=f"{case[0]}-" + ",".join(f"{k}={v!r}" for k, v in case[1].items()))
    for case in BAD_SHARING_OPTIONS])
def test_bad_sharing_options_name_the_option_and_what_is_allowed(sharing, options, message):
    with pytest.raises(ValueError, match=message):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing=sharing, sharing_options=options)
    with pytest.raises(ValueError, match="sharing_options must be a dict {name: value}, .* got str 'beta=1'"):
        mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft", sharing_options="beta=1")


def test_coupled_layers_restrict_the_penalty():
    model = mz.build_model("tiny", _classifiers(), SHAPE, sharing="soft",
                           sharing_options={"beta": 1.0, "coupled_layers": ["stage5_sep_conv"]})
    first, second = model.get_layer("soft_sharing").towers
    second.get_layer("tiny_trunk").get_layer("stage5_sep_conv").depthwise_kernel.assign_add(
        tf.fill(second.get_layer("tiny_trunk").get_layer("stage5_sep_conv").depthwise_kernel.shape, 0.1))
    second.get_layer("tiny_trunk").get_layer("stage1_down_conv").kernel.assign_add(
        tf.fill(second.get_layer("tiny_trunk").get_layer("stage1_down_conv").kernel.shape, 0.1))
    depthwise = second.get_layer("tiny_trunk").get_layer("stage5_sep_conv").depthwise_kernel
    assert float(tf.add_n(model.losses)) == pytest.approx(0.01 * int(np.prod(depthwise.shape)), rel=1e-4)


@pytest.mark.parametrize("family", ["tiny", "mobilenet_v3_small", "resnet50"])
def test_backbone_stages_compose_to_the_backbone(family):
    backbone = mz.Backbone(family, (32, 32, 3))
    preprocessing, stages = backbone.stages()
    assert list(stages) == ["P2", "P3", "P4", "P5"]
    assert sum(stage.count_params() for stage in stages.values()) == backbone.count_params()
    images = _images(1)
    expected, x = backbone(images), preprocessing(images)
    for level, stage in stages.items():
        x = stage(x)
        np.testing.assert_allclose(np.asarray(x), np.asarray(expected[level]), atol=1e-5)


@pytest.mark.slow
def test_the_sharing_benchmark_reports_schemes_relative_to_hard(monkeypatch):
    from mtl_zoo.benchmarks import run_benchmark
    from mtl_zoo.benchmarks import sharing as sharing_benchmark

    # The benchmark measures each scheme in a fresh process (run_isolated, tested in
    # test_benchmark_cli); here in this process, for two schemes, to keep the test short.
    # mmoe, the cheapest to trace of the other schemes, and its first variant (CGC)
    monkeypatch.setattr("mtl_zoo.builders.SHARING_SCHEMES", ("hard", "mmoe"))
    monkeypatch.setattr(sharing_benchmark, "VARIANTS", {"mmoe": sharing_benchmark.VARIANTS["mmoe"][:1]})
    monkeypatch.setattr(sharing_benchmark, "run_isolated",
                        lambda module, function, **kwargs: sharing_benchmark.measure_scheme(**kwargs))
    table = run_benchmark("sharing", quick=True)
    assert [row[0] for row in table.rows] == ["hard", "mmoe", "mmoe, CGC (task_experts=1)"]
    assert all(len(row) == len(table.columns) == 5 for row in table.rows)
    ratios = np.array([row[2:] for row in table.rows], dtype=float)
    # parameters and step time only: in one process a model reuses the memory that earlier
    # ones freed, so the peak-memory column means something only in the fresh processes the
    # benchmark runs each scheme in
    assert np.all(np.isfinite(ratios[:, :2])) and np.all(ratios[:, :2] > 0)
    np.testing.assert_allclose(ratios[0, :2], 1.0)                 # hard against itself
    assert 1.0 < ratios[1, 0] < ratios[2, 0]                       # experts, then each task's own
    assert "| mmoe |" in table.to_markdown()
