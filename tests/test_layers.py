import keras
import numpy as np
import pytest

import mtl_zoo as mz
from mtl_zoo.layers import CrossStitch, ExpertGate, SoftSharingRegularizer, TaskAttention


def _round_trip(layer):
    config = keras.saving.serialize_keras_object(layer)
    return keras.saving.deserialize_keras_object(config)


def test_cross_stitch_starts_as_mostly_each_task_and_learns_a_mix():
    unit = CrossStitch(self_weight=0.8)
    a, b, c = (np.full((2, 4, 4, 3), value, "float32") for value in (1.0, 2.0, 4.0))
    mixed = unit([a, b, c])
    np.testing.assert_allclose(np.asarray(mixed[0]), 0.8 * 1 + 0.1 * 2 + 0.1 * 4, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(mixed[2]), 0.1 * 1 + 0.1 * 2 + 0.8 * 4, rtol=1e-6)
    assert unit.count_params() == 9
    per_channel = CrossStitch(per_channel=True)
    per_channel([a, b])
    assert per_channel.count_params() == 2 * 2 * 3
    per_channel.alpha.assign(np.zeros((2, 2, 3), "float32") + np.array([0.0, 1.0, 0.5]))
    np.testing.assert_allclose(np.asarray(per_channel([a, b])[0])[0, 0, 0], [0.0, 3.0, 1.5])
    assert _round_trip(per_channel).get_config() == per_channel.get_config()


def test_cross_stitch_rejects_bad_input():
    with pytest.raises(ValueError, match="self_weight must be in"):
        CrossStitch(self_weight=1.5)
    for value in ("False", 1, None):
        with pytest.raises(ValueError, match=f"per_channel must be True or False, got {value!r}"):
            CrossStitch(per_channel=value)
    with pytest.raises(ValueError, match="two or more feature maps of one shape"):
        CrossStitch()([np.zeros((1, 4, 4, 3), "float32"), np.zeros((1, 2, 2, 3), "float32")])


def test_expert_gate_is_a_convex_mix_of_the_experts():
    gate = ExpertGate(3)
    summary = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    experts = [np.full((4, 2, 2, 6), value, "float32") for value in (0.0, 1.0, 10.0)]
    weights = np.asarray(gate.weights_for(summary))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    mixed = np.asarray(gate(summary, experts))
    np.testing.assert_allclose(mixed[:, 0, 0, 0], weights @ np.array([0.0, 1.0, 10.0]), rtol=1e-5)
    assert _round_trip(gate).get_config() == gate.get_config()
    with pytest.raises(ValueError, match="two or more experts"):
        ExpertGate(1)
    with pytest.raises(ValueError, match="mixes 3 experts, got 2"):
        gate(summary, experts[:2])
    with pytest.raises(ValueError, match=r"gate input must be a \(batch, features\) summary.*\(4, 2, 2, 6\)"):
        ExpertGate(2, name="unbuilt")(experts[0], experts[:2])
    with pytest.raises(ValueError, match=r"gate input must be a \(batch, features\) summary"):
        gate(experts[0], experts)  # built on a summary, called on a feature map


def test_task_attention_masks_the_shared_features():
    attention = TaskAttention(8, bottleneck=4)
    shared = np.random.default_rng(1).uniform(0.5, 1.0, (2, 4, 4, 8)).astype("float32")
    first = np.asarray(attention(shared))
    assert first.shape == shared.shape
    assert np.all(first > 0) and np.all(first < shared)  # a sigmoid mask in (0, 1)
    # `previous` comes at the stage's resolution (MTAN's shared f brings it there), any width
    chained = TaskAttention(8, name="next")
    assert tuple(chained(shared, previous=np.ones((2, 4, 4, 6), "float32")).shape) == (2, 4, 4, 8)
    assert chained.bottleneck == 8  # max(8, channels // 4)
    assert chained.hidden.kernel.shape == (1, 1, 8 + 6, 8)
    assert chained.count_params() == (14 * 8 + 2 * 2 * 8) + (8 * 8 + 2 * 2 * 8)
    assert _round_trip(attention).get_config() == attention.get_config()
    with pytest.raises(ValueError, match=r"`previous` must be at the shared features' resolution \(4, 4\)"):
        TaskAttention(8)(shared, previous=np.ones((2, 16, 16, 4), "float32"))


@pytest.mark.parametrize("bottleneck", [0, -4, 2.5, "8", True])
def test_task_attention_refuses_a_bad_bottleneck(bottleneck):
    with pytest.raises(ValueError, match=f"bottleneck must be None .* or an integer >= 1, got {bottleneck!r}"):
        TaskAttention(16, bottleneck=bottleneck)


def test_a_frozen_soft_sharing_model_saves_reloads_and_couples_again_once_unfrozen(tmp_path):
    tasks = [mz.tasks.Classification("a", 3), mz.tasks.Classification("b", 2)]
    model = mz.build_model("tiny", tasks, (32, 32, 3), sharing="soft")
    towers = model.get_layer("soft_sharing")
    for tower in towers.towers[1:]:  # towers apart, so that the penalty is not 0
        tower.set_weights([weights + 0.01 for weights in tower.get_weights()])
    penalty = float(towers.penalty())
    towers.trainable = False  # e.g. from_preset(freeze_trunk=True): heads alone train
    model.save(tmp_path / "frozen.keras")
    reloaded = mz.load_model(tmp_path / "frozen.keras")  # was: "expected 0 variables, but received 70"
    images = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0)["a_logits"],
                               model.predict(images, verbose=0)["a_logits"], atol=1e-6)
    copy = reloaded.get_layer("soft_sharing")
    assert not copy.trainable and not copy.trainable_weights
    copy.trainable = True
    assert float(copy.penalty()) == pytest.approx(penalty, rel=1e-5)
    assert float(sum(reloaded.losses)) == pytest.approx(penalty, rel=1e-4)  # the regularizers are back


def test_soft_sharing_regularizer_round_trips_with_its_towers():
    towers = [mz.Backbone("tiny", (32, 32, 3), name=f"tower{i}") for i in range(3)]
    layer = SoftSharingRegularizer(towers, beta=0.25, coupled_layers=["stage1_down_conv"])
    images = np.random.default_rng(2).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    outputs = layer(images)
    assert len(outputs) == 3 and sorted(outputs[0]) == ["P2", "P3", "P4", "P5"]
    kernels = [np.asarray(t.get_layer("tiny_trunk").get_layer("stage1_down_conv").kernel) for t in towers]
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = 0.25 * sum(np.sum((kernels[i] - kernels[j]) ** 2) for i, j in pairs)
    assert float(layer.penalty()) == pytest.approx(expected, rel=1e-4)
    copy = _round_trip(layer)
    assert copy.beta == 0.25 and copy.coupled_layers == ["stage1_down_conv"]
    assert [t.name for t in copy.towers] == ["tower0", "tower1", "tower2"]
    with pytest.raises(ValueError, match=r"got the string 'stage1_down_conv'; for one layer write \['stage1_down_conv'\]"):
        SoftSharingRegularizer(towers, coupled_layers="stage1_down_conv")
    for bad in ([], [3], 5):
        with pytest.raises(ValueError, match=r"coupled_layers must be None \(couple every layer\) or a non-empty list"):
            SoftSharingRegularizer(towers, coupled_layers=bad)
