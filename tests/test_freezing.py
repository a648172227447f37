"""`mtl_zoo.freezing`: a frozen trunk that starts training partway through one `fit`."""

import json
import math
import re
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.data import build_pipeline, dataset_from_arrays, with_labels_of
from mtl_zoo.data.sources import mtl_shapes
from mtl_zoo.freezing import FineTuningRate, UnfreezeAt, check_rate_setting_callbacks, trained_variables

PRESET = "mtl_shapes_tiny_cls_det_pose"


def _data(model):
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (8, 128, 128, 3)).astype("uint8")
    return dataset_from_arrays(model, images, {"action": rng.integers(0, 6, 8)}, batch_size=8)


class _TrunkAtEpochEnds(keras.callbacks.Callback):
    """The first trunk kernel and a head kernel after each epoch."""

    def __init__(self):
        super().__init__()
        self.trunk, self.head, self.rates = [], [], []

    def on_epoch_end(self, epoch, logs=None):
        self.trunk.append(self.model.get_layer("tiny_backbone").weights[0].numpy().copy())
        self.head.append(self.model.get_layer("action_logits").kernel.numpy().copy())
        self.rates.append(float(self.model.optimizer.learning_rate))


def _frozen_model():
    model = mz.from_preset(PRESET, tasks=["action"], freeze_trunk=True)
    model.compile(optimizer="adam")
    return model


def test_the_trunk_stays_frozen_for_the_given_epochs_then_trains(tmp_path):
    model = _frozen_model()
    trained = model.get_layer("tiny_backbone").weights[0].numpy().copy()
    unfreeze = mz.unfreeze_at(model, epoch=2, learning_rate_factor=0.1)
    assert unfreeze.layers == [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    assert "tiny_backbone" in unfreeze.layers and "action_logits" not in unfreeze.layers
    seen = _TrunkAtEpochEnds()
    model.fit(_data(model), epochs=3, callbacks=[unfreeze, seen], verbose=0)
    np.testing.assert_allclose(seen.rates, [1e-3, 1e-3, 1e-4], rtol=1e-6)  # Adam's default, then 0.1x
    model.save(tmp_path / "model.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it cannot load the optimizer's state
        reloaded = mz.load_model(tmp_path / "model.keras")
    assert float(reloaded.optimizer.learning_rate) == pytest.approx(1e-4)
    for saved, loaded in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    assert np.array_equal(seen.trunk[0], trained) and np.array_equal(seen.trunk[1], trained)
    assert not np.allclose(seen.trunk[2], trained)  # epoch 3 trained it
    assert all(not np.array_equal(a, b) for a, b in zip(seen.head, seen.head[1:]))  # the head every epoch
    assert all(layer.trainable for layer in model.layers)
    # Adam's slots were built for the frozen variables too, and moved once they trained
    moments = [model.optimizer._momentums[model.optimizer._get_variable_index(variable)]
               for variable in trained_variables(model.get_layer("tiny_backbone"))]
    assert any(np.any(moment.numpy() != 0) for moment in moments)


def test_a_run_resumed_past_the_frozen_epochs_trains_the_trunk_from_its_first_epoch():
    model = _frozen_model()
    trained = model.get_layer("tiny_backbone").weights[0].numpy().copy()
    seen = _TrunkAtEpochEnds()
    model.fit(_data(model), epochs=3, initial_epoch=2, callbacks=[mz.unfreeze_at(model, 1), seen], verbose=0)
    assert not np.allclose(seen.trunk[0], trained)


def test_unfreeze_at_needs_a_compiled_untrained_model_and_frozen_layers():
    model = mz.from_preset(PRESET, tasks=["action"], freeze_trunk=True)
    with pytest.raises(ValueError, match="compile the model first"):
        mz.unfreeze_at(model, 1)
    model.compile(optimizer="sgd")
    for epoch in (0, 1.5, True):
        with pytest.raises(ValueError, match=rf"epoch must be an integer >= 1 .*got {epoch!r}"):
            mz.unfreeze_at(model, epoch)
    for layers in (["action_logits"], ["nope"], []):
        with pytest.raises(ValueError, match=r"unfreeze_at takes frozen layers of the model with weights "
                                             r"\(\['tiny_backbone'\]\), got " + re.escape(repr(layers))):
            mz.unfreeze_at(model, 1, layers)
    model.fit(_data(model), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"optimizer took 1 step\(s\) already, .* compile the model again"):
        mz.unfreeze_at(model, 1)
    assert isinstance(mz.unfreeze_at(_frozen_model(), 1, ["tiny_backbone"]), UnfreezeAt)


class _ConstantRate(keras.optimizers.schedules.LearningRateSchedule):  # not registered
    def __call__(self, step):
        return 1e-3

    def get_config(self):
        return {}


class _CountingSum(mz.weighting.GradientAggregator):
    """The plain sum of the task gradients, counting the steps it combined and their columns."""

    def build(self, num_tasks):
        super().build(num_tasks)
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.columns = tf.Variable(0, dtype=tf.int64, trainable=False)

    def aggregate(self, gradients, losses, step):
        self.steps.assign_add(1)
        self.columns.assign(tf.cast(tf.shape(gradients)[1], tf.int64))
        return tf.reduce_sum(gradients, axis=0)


def test_staged_unfreezing_with_an_aggregator_gradnorm_and_a_lower_rate(monkeypatch):
    model = mz.from_preset(PRESET, tasks=["action", "objects"], freeze_trunk=True)
    aggregator = _CountingSum()
    with pytest.warns(UserWarning, match=r"no trainable variable of this model is shared by two or more tasks "
                                         r"\(while the layers that its tasks share are frozen; once they are unfrozen"):
        model.compile(optimizer="adam", aggregator=aggregator)
    pyramid = [name for name in mz.unfreeze_at(model, 1).layers if name.startswith("pyramid_")]
    stages = [mz.unfreeze_at(model, 1, pyramid, learning_rate_factor=0.5), mz.unfreeze_at(model, 2, ["tiny_backbone"])]
    with pytest.raises(ValueError, match=r"An earlier unfreeze_at lowers the learning rate 0.5x already"):
        mz.unfreeze_at(model, 2, ["tiny_backbone"], learning_rate_factor=0.1)
    traced = []  # `unfrozen` of the rate each traced train step reads
    rate_of = FineTuningRate.__call__
    monkeypatch.setattr(FineTuningRate, "__call__", lambda self, step: (
        tf.inside_function() and traced.append(self.unfrozen), rate_of(self, step))[1])
    kernels = lambda: [model.get_layer(name).weights[0].numpy().copy() for name in ("tiny_backbone", pyramid[0])]
    before, after, rates, aggregated, alphas = kernels(), [], [], [], []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: (
        after.append(kernels()), rates.append(float(model.optimizer.learning_rate)),
        aggregated.append(int(aggregator.steps.numpy())),
        alphas.append([float(model.alpha(name)) for name in model.task_names])))
    data = build_pipeline(model, with_labels_of(mtl_shapes.generate(8, 128, seed=2), model.task_names), 8)
    monitor = mz.weighting.GradientConflictMonitor(every=1)
    with pytest.warns(UserWarning, match=r"Gradient statistics: the shared layers they cover are frozen "
                                         r"\(tiny_backbone\), so the train steps log none"):
        model.fit(data, epochs=3, callbacks=[*stages, mz.weighting.GradNorm(), monitor, record],
                  verbose=0)  # one batch an epoch
    moved = [[not np.array_equal(kernel, start) for kernel, start in zip(epoch, before)] for epoch in after]
    assert moved == [[False, False], [False, True], [True, True]]  # (backbone, pyramid) after each epoch
    np.testing.assert_allclose(rates, [1e-3, 5e-4, 5e-4], rtol=1e-6)
    assert traced[0] is False and traced[-1] is True  # the steps after the switch train at the lower rate
    assert all(layer.trainable for layer in model.layers)
    # action reads the backbone alone, objects the pyramid on it: they share the backbone, which
    # the aggregator balances once it trains
    assert aggregated == [0, 0, 1]
    # GradNorm and the monitor read the task gradients of the backbone from its first step too
    assert alphas[0] == alphas[1] == [1.0, 1.0] and alphas[2] != [1.0, 1.0]
    assert sum(alphas[2]) == pytest.approx(2.0)
    assert [record["step"] for record in monitor.records] == [3]
    assert {"grad_norm_action", "grad_norm_objects", "grad_cos_action_objects"} <= set(monitor.records[0])
    shared = sum(int(np.prod(v.shape)) for v in model._task_gradients.sharing.shared_variables)
    assert int(aggregator.columns.numpy()) == shared == sum(
        int(np.prod(v.shape)) for v in trained_variables(model.get_layer("tiny_backbone")))


def test_statistics_over_a_frozen_shared_layer_wait_for_its_unfreezing():
    model = mz.from_preset(PRESET, tasks=["action", "objects"], freeze_trunk=True)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="Layer 'action_logits' is not a shared layer"):
        model.request_gradient_statistics(layer="action_logits")  # trainable, and one task's
    with pytest.warns(UserWarning, match=r"frozen \(tiny_backbone\), so the train steps log none"):
        model.request_gradient_statistics(layer="tiny_backbone")
    gradients = model._task_gradients
    assert gradients.statistics_waiting and gradients.statistics_columns is None
    assert not gradients.needed  # the train step stays the plain one: no backward pass per task
    with pytest.raises(ValueError, match="already requested over other parameters"):
        model.request_gradient_statistics()
    with pytest.warns(UserWarning, match="the shared layers they cover stayed frozen, so no train step computed any"):
        model.release_gradient_statistics()  # as a fit that never unfroze them ends
    with pytest.warns(UserWarning, match="so the train steps log none"):
        model.request_gradient_statistics(layer="tiny_backbone")
    model.get_layer("tiny_backbone").trainable = True
    model.make_train_function(force=True)  # as UnfreezeAt does
    gradients = model._task_gradients
    assert not gradients.statistics_waiting and gradients.statistics_layer == "tiny_backbone" and gradients.needed
    assert gradients.statistics_columns.all()  # the backbone is all that the two tasks share
    model.release_gradient_statistics()
    assert model._task_gradients is None
    single = _frozen_model()  # one task: nothing will be shared
    with pytest.raises(ValueError, match="no trainable variables shared by two or more tasks"):
        single.request_gradient_statistics()


def test_the_command_line_trains_the_pyramid_then_the_backbone_balanced_by_gradnorm(tmp_path, monkeypatch,
                                                                                   train_exit):
    monkeypatch.chdir(tmp_path)
    code, line = train_exit(f"--preset={PRESET}", "--pretrained", "--freeze_trunk", "--frozen_epochs=1",
                            "--frozen_backbone_epochs=2", "--epochs=3", "--unfrozen_learning_rate_factor=0.1",
                            "--weighting=gradnorm", "--tasks=action,objects", "--dataset_config=small",
                            "--max_train_examples=16", "--max_val_examples=8", "--image_size=64",
                            "--batch_size=16", "--plots=false", "--export=false", f"--data_dir={tmp_path / 'tfds'}",
                            f"--model_dir={tmp_path / 'run'}")
    assert code is None, line
    printed = train_exit.stdout
    assert "The frozen trunk apart from the backbone (4 layers) trains from epoch 2 on, at 0.1x the learning rate." in printed
    assert "The frozen backbone (1 layer) trains from epoch 3 on." in printed
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    # action reads the backbone alone, objects the pyramid on it: GradNorm balances the backbone,
    # shared, from the epoch it trains (one step an epoch, each epoch's row the weights it trained with)
    assert history["alpha_action"] == history["alpha_objects"] == [1.0, 1.0, 1.0]
    trained, preset = mz.load_model(tmp_path / "run" / "model.keras"), mz.from_preset(PRESET, pretrained=True)
    alphas = [float(trained.alpha(name)) for name in trained.task_names]
    assert alphas != [1.0, 1.0] and sum(alphas) == pytest.approx(2.0)  # set by the last step's norms
    rate = trained.optimizer._learning_rate  # the cosine schedule (at 0 after its 3 steps), lowered
    assert isinstance(rate, FineTuningRate) and rate.unfrozen and rate.factor == 0.1
    for name in ("tiny_backbone", "pyramid_P3_lateral"):  # both trained in the end
        assert not np.allclose(trained.get_layer(name).weights[0].numpy(), preset.get_layer(name).weights[0].numpy())


def test_a_backbone_keeps_its_frozen_layers_through_unfreezing_and_saving(tmp_path):
    backbone = mz.backbones.Backbone("tiny", (32, 32, 3), frozen_layers=["stage1_down_conv"])
    model = mz.build_model(backbone, [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)], (32, 32, 3))
    backbone.trainable = False
    model.compile(optimizer="adam")
    unfreeze = mz.unfreeze_at(model, 1)
    kept = backbone.get_layer("tiny_trunk").get_layer("stage1_down_conv").kernel.numpy().copy()
    rng = np.random.default_rng(0)
    data = dataset_from_arrays(model, rng.integers(0, 256, (8, 32, 32, 3)).astype("uint8"),
                               {"a": rng.integers(0, 2, 8), "b": rng.integers(0, 3, 8)}, batch_size=8)
    model.fit(data, epochs=2, callbacks=[unfreeze], verbose=0)
    trunk = backbone.get_layer("tiny_trunk")
    assert not trunk.get_layer("stage1_down_conv").trainable and trunk.get_layer("stage1_down_bn").trainable
    np.testing.assert_array_equal(trunk.get_layer("stage1_down_conv").kernel.numpy(), kept)
    model.save(tmp_path / "model.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it cannot load the optimizer's state
        reloaded = mz.load_model(tmp_path / "model.keras")
    assert len(reloaded.optimizer.variables) == len(model.optimizer.variables)


def test_unfreeze_at_refuses_what_would_not_follow_the_unfreezing_and_keeps_the_optimizer_config():
    model = mz.from_preset(PRESET, tasks=["action"], freeze_trunk=True)
    model.compile(optimizer=keras.optimizers.Adam(use_ema=True))
    with pytest.raises(ValueError, match="An optimizer with use_ema=True pairs its moving averages"):
        mz.unfreeze_at(model, 1)
    model.compile(optimizer=keras.optimizers.Adam(_ConstantRate()))
    with pytest.raises(ValueError, match=r"rebuilds the model's optimizer from its config, which failed .*"
                                         r"custom learning-rate schedule must be registered"):
        mz.unfreeze_at(model, 1)
    adamw = keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(1e-3, 100), weight_decay=0.01,
                                   global_clipnorm=1.0)
    adamw.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer=adamw)
    for factor in (0, -1.0, math.inf, "0.1", True):
        with pytest.raises(ValueError, match=rf"learning_rate_factor must be a finite number > 0, got {factor!r}"):
            mz.unfreeze_at(model, 1, learning_rate_factor=factor)
    assert model.optimizer is adamw  # a refusal changes nothing
    mz.unfreeze_at(model, 1)
    assert model.optimizer is not adamw and model.optimizer.get_config() == adamw.get_config()
    assert set(model.optimizer._exclude_from_weight_decay_pattern.pattern.split("|")) == {"bias", "gamma", "beta"}
    single = _frozen_model()
    unfreeze = mz.unfreeze_at(single, 1)
    single.compile(optimizer="adam")  # compiled again: the callback's optimizer is gone
    with pytest.raises(ValueError, match="The model was compiled again after unfreeze_at"):
        single.fit(_data(single), epochs=1, callbacks=[unfreeze], verbose=0)


def test_fit_refuses_callbacks_that_would_fail_to_set_a_scheduled_rate():
    model = _frozen_model()
    unfreeze = mz.unfreeze_at(model, 1, learning_rate_factor=0.1)
    iterations = int(model.optimizer.iterations.numpy())
    for setter in (keras.callbacks.ReduceLROnPlateau(), keras.callbacks.LearningRateScheduler(lambda e, r: r)):
        with pytest.raises(ValueError, match=rf"{type(setter).__name__} sets the optimizer's learning rate, which "
                                             r"is a schedule \(FineTuningRate\) that Keras cannot set: .* "
                                             r"Unfreeze_at\(learning_rate_factor=...\) made it a FineTuningRate"):
            model.fit(_data(model), epochs=2, callbacks=[unfreeze, setter], verbose=0)
    assert int(model.optimizer.iterations.numpy()) == iterations  # refused before any step
    cosine = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 10))
    with pytest.raises(ValueError, match=r"\(CosineDecay\) .* Give the optimizer a float rate for ReduceLROnPlateau"):
        check_rate_setting_callbacks(cosine, keras.callbacks.CallbackList([keras.callbacks.ReduceLROnPlateau()]))
    check_rate_setting_callbacks(keras.optimizers.Adam(1e-3), [keras.callbacks.ReduceLROnPlateau()])  # a float: fine


def test_the_fine_tuning_rate_wraps_a_schedule_and_is_saved_with_the_optimizer():
    model = _frozen_model()
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 100)))
    unfreeze = mz.unfreeze_at(model, 1, learning_rate_factor=0.5)
    rate = model.optimizer._learning_rate
    assert isinstance(rate, FineTuningRate) and float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    unfreeze.set_model(model)
    unfreeze.on_epoch_begin(1)
    assert rate.unfrozen and float(model.optimizer.learning_rate) == pytest.approx(5e-4)
    reloaded = keras.optimizers.deserialize(keras.optimizers.serialize(model.optimizer))
    assert reloaded._learning_rate.get_config() == rate.get_config()
    assert float(reloaded._learning_rate(50)) == pytest.approx(0.5 * float(rate.rate(50)))
    # a loaded model's rate is lowered anew from its own schedule, not a second time
    again = _frozen_model()
    again.compile(optimizer=reloaded)
    mz.unfreeze_at(again, 1, learning_rate_factor=0.1)
    lowered = again.optimizer._learning_rate
    assert isinstance(lowered.rate, keras.optimizers.schedules.CosineDecay) and lowered.factor == 0.1


MIRRORED_SCRIPT = """
import json, numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import mtl_zoo as mz
from mtl_zoo.data import dataset_from_arrays
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = mz.from_preset("mtl_shapes_tiny_cls_det_pose", tasks=["action"], freeze_trunk=True)
    model.compile(optimizer="adam")
    unfreeze = mz.unfreeze_at(model, 1)
rng = np.random.default_rng(0)
data = dataset_from_arrays(model, rng.integers(0, 256, (16, 128, 128, 3)).astype("uint8"),
                           {"action": rng.integers(0, 6, 16)}, batch_size=16)
trained = model.get_layer("tiny_backbone").weights[0].numpy().copy()
moved = []
epoch_end = lambda epoch, logs: moved.append(
    bool(np.any(model.get_layer("tiny_backbone").weights[0].numpy() != trained)))
model.fit(data, epochs=2, verbose=0, callbacks=[unfreeze, keras.callbacks.LambdaCallback(on_epoch_end=epoch_end)])
print(json.dumps(moved))
"""


@pytest.mark.slow
def test_the_trunk_trains_after_its_frozen_epochs_under_mirrored_strategy(tmp_path):
    # run from tmp_path: from the repository's root, `import mtl_zoo` would find the source
    # folder, which lacks the installed package's preset catalog
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [False, True]
