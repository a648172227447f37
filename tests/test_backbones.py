import keras
import numpy as np
import pytest

import mtl_zoo as mz
from mtl_zoo.backbones import Backbone, ImagePreprocessing, list_backbones
from mtl_zoo.backbones.kept_frozen import BackboneStage

ALL_FAMILIES = ["tiny", "resnet50", "resnet101", "mobilenet_v2", "mobilenet_v3_small",
                "mobilenet_v3_large", "efficientnet_v2_b0", "efficientnet_v2_b1",
                "efficientnet_v2_b2", "efficientnet_v2_b3"]


def test_every_required_family_is_listed():
    assert sorted(ALL_FAMILIES) == list_backbones()


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_backbone_builds_with_pyramid_strides(family):
    backbone = Backbone(family, input_shape=(64, 96, 3))
    features = backbone(np.zeros((2, 64, 96, 3), "float32"))
    assert sorted(features) == ["P2", "P3", "P4", "P5"]
    for level, stride in backbone.strides.items():
        assert tuple(features[level].shape) == (2, 64 // stride, 96 // stride,
                                                backbone.channels[level])


def test_tiny_backbone_accepts_grayscale():
    backbone = Backbone("tiny", input_shape=(32, 32, 1))
    assert backbone(np.zeros((1, 32, 32, 1)))["P5"].shape[1:3] == (1, 1)


def test_backbone_round_trips_through_keras_file(tmp_path):
    backbone = Backbone("mobilenet_v3_small", input_shape=(64, 64, 3))
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    path = tmp_path / "backbone.keras"
    backbone.save(path)
    loaded = keras.saving.load_model(path)
    for level in backbone.strides:
        np.testing.assert_allclose(loaded(images)[level], backbone(images)[level], atol=1e-5)


def _backbones(model):
    """The model's trunks: its Backbone layers, or the towers of its soft-sharing layer."""
    layers = [tower for layer in model.layers for tower in getattr(layer, "towers", [layer])]
    return [layer for layer in layers if isinstance(layer, Backbone)]


def _trainable_backbone_variables(model):
    return sum(len(backbone.trainable_variables) for backbone in _backbones(model))


def test_a_mixed_precision_backbone_reloads_mixed_under_a_float32_policy(tmp_path):
    tasks = [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)]
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = mz.build_model("tiny", tasks, (32, 32, 3), sharing="soft")  # towers copy the backbone
        model.save(tmp_path / "mixed.keras")
    finally:
        keras.config.set_dtype_policy("float32")
    reloaded = mz.load_model(tmp_path / "mixed.keras")  # it came back float32 before, heads mixed
    trunk_policies = {layer.dtype_policy.name for backbone in _backbones(reloaded)
                      for layer in backbone.get_layer("tiny_trunk").layers}
    assert len(_backbones(reloaded)) == 2 and trunk_policies == {"mixed_float16"}
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    for name, expected in model(images, training=False).items():
        np.testing.assert_array_equal(reloaded(images, training=False)[name], expected, err_msg=name)
    assert Backbone("tiny", (32, 32, 3)).get_layer("tiny_trunk").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # building restores the global policy


@pytest.mark.parametrize("sharing", ["hard", "soft"])
def test_a_frozen_backbone_stays_frozen_in_towers_and_after_reloading(sharing, tmp_path):
    # Keras's Layer(trainable=False) freezes the outer model only: the trunk's layers
    # trained, and their batch norms updated their statistics, once rebuilt from config
    tasks = [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)]
    backbone = Backbone("tiny", (32, 32, 3), trainable=False)
    assert not backbone.trainable_variables
    model = mz.build_model(backbone, tasks, (32, 32, 3), sharing=sharing)
    model.save(tmp_path / "model.keras")
    reloaded = mz.load_model(tmp_path / "model.keras")
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    for each in (model, reloaded):
        assert _trainable_backbone_variables(each) == 0
        statistics = [v.numpy().copy() for backbone in _backbones(each) for v in backbone.non_trainable_variables]
        each(images, training=True)  # frozen batch norms run in inference mode
        after = [v.numpy() for backbone in _backbones(each) for v in backbone.non_trainable_variables]
        assert len(after) == len(statistics) > 0 and all(np.array_equal(a, b) for a, b in zip(statistics, after))


def test_partly_frozen_trunk_layers_are_kept_by_copies_and_saving(tmp_path):
    backbone = Backbone("tiny", (32, 32, 3))
    backbone.get_layer("tiny_trunk").get_layer("stage1_down_conv").trainable = False
    assert backbone.frozen_layers == ["stage1_down_conv"]
    model = mz.build_model(backbone, [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)],
                           (32, 32, 3), sharing="soft")
    model.save(tmp_path / "model.keras")
    for each in (model, mz.load_model(tmp_path / "model.keras")):
        towers = _backbones(each)
        assert len(towers) == 2 and all(tower.frozen_layers == ["stage1_down_conv"] for tower in towers)
        assert all(len(tower.trainable_variables) == len(backbone.trainable_variables) for tower in towers)


def _trunk_parts(model):
    """The layers of `model` that hold its trunk: its backbone, or the stages of it that MTAN
    and cross-stitch models hold (`Backbone.stages`)."""
    return [layer for layer in model.layers if isinstance(layer, (Backbone, BackboneStage))]


def _holding(parts, name):
    """The first of `parts` whose inner model has a layer `name`."""
    return next(part for part in parts if name in {layer.name for layer in part._inner_model().layers})


def _inner_layer(parts, name):
    return _holding(parts, name)._inner_model().get_layer(name)


@pytest.mark.parametrize("sharing", ["hard", "mtan", "cross_stitch"])
def test_unfreezing_a_partly_frozen_backbone_keeps_its_frozen_layers(sharing, tmp_path):
    backbone = Backbone("tiny", (32, 32, 3), frozen_layers=["stage1_down_conv"])
    tasks = [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)]
    model = mz.build_model(backbone, tasks, (32, 32, 3), sharing=sharing)
    trainable = len(model.trainable_variables)
    for part in _trunk_parts(model):
        part.trainable = False  # as from_preset(freeze_trunk=True); Keras's setter freezes every inner layer
    assert len(model.trainable_variables) < trainable
    assert all(not part.trainable_variables for part in _trunk_parts(model))
    assert "stage1_down_conv" in sum((part.frozen_layers for part in _trunk_parts(model)), [])
    model.save(tmp_path / "frozen.keras")
    for each in (model, mz.load_model(tmp_path / "frozen.keras")):
        parts = _trunk_parts(each)
        assert len(parts) == {"hard": 1, "mtan": 4, "cross_stitch": 8}[sharing]  # cross-stitch: a tower per task
        for part in parts:
            part.trainable = True  # as mz.unfreeze_at does
        assert not _inner_layer(parts, "stage1_down_conv").trainable and _inner_layer(parts, "stage1_down_bn").trainable
        assert len(each.trainable_variables) == trainable
    _inner_layer(parts, "stage1_down_conv").trainable = True  # a trunk layer's own flag trains it
    assert _holding(parts, "stage1_down_conv").frozen_layers == []


def _batch_norm_momenta(backbone):
    trunk = backbone.get_layer(f"{backbone.family}_trunk")
    return {layer.momentum for layer in trunk.layers if isinstance(layer, keras.layers.BatchNormalization)}


def test_batch_norm_momentum_replaces_the_applications_and_survives_saving(tmp_path):
    # keras.applications' MobileNetV3 ships 0.999, whose moving statistics lag a short run
    assert _batch_norm_momenta(Backbone("mobilenet_v3_small", (64, 64, 3), batch_norm_momentum=None)) == {0.999}
    default = Backbone("mobilenet_v3_small", (64, 64, 3))
    assert _batch_norm_momenta(default) == {0.9}
    custom = Backbone("tiny", (64, 64, 3), batch_norm_momentum=0.97)
    for backbone in (default, custom):
        backbone.save(tmp_path / "backbone.keras")
        assert _batch_norm_momenta(keras.saving.load_model(tmp_path / "backbone.keras")) == \
            _batch_norm_momenta(backbone)
    # one training-mode call on a batch moves the moving mean by (1 - momentum) of the way
    layer = next(layer for layer in custom.get_layer("tiny_trunk").layers
                 if isinstance(layer, keras.layers.BatchNormalization))
    probe = keras.Model(custom.get_layer("tiny_trunk").input, layer.input)
    images = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    batch_mean = np.mean(probe(custom.get_layer("preprocessing")(images)), axis=(0, 1, 2))
    before = layer.moving_mean.numpy().copy()
    custom(images, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.97 * before + 0.03 * batch_mean, atol=1e-5)


@pytest.mark.parametrize("mode,pixel,expected", [
    ("unit", (255, 0, 51), (1.0, 0.0, 0.2)),
    ("tf", (255, 0, 127.5), (1.0, -1.0, 0.0)),
    ("caffe", (123.68, 116.779, 103.939), (0.0, 0.0, 0.0)),
    ("caffe", (10, 20, 30), (30 - 103.939, 20 - 116.779, 10 - 123.68)),
    ("torch", (123.68, 116.779, 103.939), (0.0, 0.0, 0.0)),
    ("none", (1, 2, 3), (1, 2, 3)),
])
def test_preprocessing_matches_the_family_convention(mode, pixel, expected):
    image = np.array(pixel, "float32").reshape(1, 1, 1, 3)
    np.testing.assert_allclose(ImagePreprocessing(mode)(image)[0, 0, 0], expected, atol=1e-4)


def test_caffe_mode_agrees_with_keras_applications():
    image = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    expected = keras.applications.resnet.preprocess_input(image.copy())
    np.testing.assert_allclose(ImagePreprocessing("caffe")(image), expected, atol=1e-3)


@pytest.mark.parametrize("kwargs,message", [
    ({"family": "resnet5"}, "Did you mean 'resnet50'"),
    ({"family": "tiny", "input_shape": (16, 16, 3)}, "too small"),
    ({"family": "tiny", "input_shape": (100, 100, 3)}, "multiples of 32"),
    ({"family": "resnet50", "input_shape": (64, 64, 1)}, "grayscale_to_rgb"),
    ({"family": "tiny", "weights": "imagenet"}, "no ImageNet weights"),
    ({"family": "mobilenet_v2", "weights": "imagenet21k"}, "weights must be None"),
    ({"family": "tiny", "input_shape": (64, 64)}, "(height, width, channels)"),
    ({"family": "tiny", "batch_norm_momentum": 1.0}, "batch_norm_momentum must be a number in"),
    ({"family": "tiny", "batch_norm_momentum": "fast"}, "batch_norm_momentum must be a number in"),
    ({"family": "tiny", "frozen_layers": ["stage9_conv"]}, "frozen_layers .'stage9_conv'. are not layers"),
])
def test_bad_backbone_arguments_name_the_problem(kwargs, message):
    kwargs.setdefault("input_shape", (64, 64, 3))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Backbone(**kwargs)


def test_imagenet_weights_that_cannot_be_downloaded_say_how_to_work_offline(tmp_path, monkeypatch):
    # Keras's real download path, sent to a closed local port (never the internet), with an
    # empty Keras cache (its folder is fixed when Keras is imported)
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path))
    for variable in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(OSError, match=r"The ImageNet weights of backbone 'mobilenet_v3_small' could "
                                      r"not be downloaded \(URL fetch failure .*copy that file there"):
        Backbone("mobilenet_v3_small", input_shape=(64, 64, 3), weights="imagenet")
    assert not list(tmp_path.rglob("*.h5"))  # nothing half-downloaded left in the cache
