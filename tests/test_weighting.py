"""Task balancing inside model.fit: aggregators, callbacks, learned weights, devices."""

import json
import pathlib
import subprocess
import sys

import keras
import tensorflow as tf
import numpy as np
import pytest

import mtl_zoo as mz
from mtl_zoo.data import dataset_from_arrays, generate_shapes

W = mz.weighting
SIZE = 32
# Most tests compile with SGD: what they check does not depend on the optimizer, and Keras's
# Adam adds about 35 ops per variable to the traced train step, so SGD's traces faster.


@pytest.fixture(scope="module")
def shapes():
    return generate_shapes(16, image_size=SIZE, seed=2)


def _model(**kwargs):
    return mz.build_model("tiny", [mz.tasks.Classification("count", 3),
                                   mz.tasks.Detection("shapes", 2),
                                   mz.tasks.Keypoints("extremes", 4)], (SIZE, SIZE, 3), **kwargs)


def _data(model, shapes, masks=None, batch_size=8):
    images, labels = shapes
    return dataset_from_arrays(model, images, labels, batch_size=batch_size, masks=masks)


@pytest.mark.parametrize("name,mode", [(name, None) for name in W.AGGREGATORS] +
                         [("PCGrad", "representation"), ("MGDA", "parameters"), ("CAGrad", "representation")])
def test_aggregator_trains_inside_fit(name, mode, shapes):
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.05), aggregator=W.AGGREGATORS[name](mode=mode))
    images, labels = next(iter(_data(model, shapes, batch_size=16)))
    losses = [model.train_on_batch(images, labels) for _ in range(6)]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_aggregator_with_validation_masks_and_a_missing_task(shapes):
    model = _model()
    model.compile(optimizer="sgd", aggregator=W.MGDA())
    masks = {"count": np.array([1.0] * 8 + [0.0] * 8, "float32")}  # 2nd batch: no count labels
    data = _data(model, shapes, masks=masks)
    history = model.fit(data, validation_data=data, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"])) and "val_count_loss" in history.history


def test_a_task_with_alpha_zero_does_not_freeze_the_trunk(shapes):
    # its gradient row is zero, so MGDA's min-norm point would be 0: the step takes the plain sum
    model = _model(task_weights={"extremes": 0.0})
    model.compile(optimizer="sgd", aggregator=W.MGDA(mode="parameters"))
    images, labels = next(iter(_data(model, shapes)))
    trunk = mz.graph.analyse_sharing(model).shared_variables
    before = [v.numpy() for v in trunk]
    model.train_on_batch(images, labels)
    assert max(float(np.abs(v.numpy() - b).max()) for v, b in zip(trunk, before)) > 0


def test_model_with_an_aggregator_saves_and_loads_it(shapes, tmp_path):
    model = _model()
    model.compile(optimizer="sgd", aggregator=W.CAGrad(c=0.3, mode="representation"))
    model.fit(_data(model, shapes), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = mz.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.aggregator, W.CAGrad)
    assert loaded.aggregator.get_config() == {"mode": "representation", "c": 0.3, "iterations": 20}
    loaded.fit(_data(loaded, shapes), epochs=1, verbose=0)


def test_gradvac_targets_are_saved_with_the_model(shapes, tmp_path):
    model = _model(task_weights={"count": 0.7})
    model.compile(optimizer="sgd", aggregator=W.GradVac(beta=0.5))
    model.fit(_data(model, shapes), epochs=1, verbose=0)
    targets = model.aggregator.targets.numpy()
    assert np.abs(targets).max() > 0.01  # the steps moved them off 0
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(mz.load_model(tmp_path / "m.keras").aggregator.targets.numpy(), targets)
    resumed = _model()  # as a backup restores: the same model compiled alike, then its weights
    resumed.compile(optimizer="sgd", aggregator=W.GradVac(beta=0.5))
    resumed.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(resumed.aggregator.targets.numpy(), targets)
    np.testing.assert_allclose(resumed.alpha("count").numpy(), 0.7)  # the model's own variables too
    for other in (None, W.PCGrad()):  # aggregators without state ignore GradVac's
        plain = _model()
        plain.compile(optimizer="sgd", aggregator=other)
        plain.load_weights(tmp_path / "m.weights.h5")
    model.compile(optimizer="sgd")
    model.save_weights(tmp_path / "plain.weights.h5")
    with pytest.warns(UserWarning, match="no state of GradVac"):
        resumed.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_array_equal(resumed.aggregator.targets.numpy(), targets)  # left as it was


def test_aggregators_need_shared_parameters():
    model = mz.build_model("tiny", [mz.tasks.Classification("only", 2)], (SIZE, SIZE, 3))
    with pytest.raises(ValueError, match="several tasks"):
        model.compile(optimizer="sgd", aggregator=W.PCGrad())
    with pytest.raises(ValueError, match="gradient aggregator"):
        _model().compile(optimizer="sgd", aggregator="pcgrad")


def test_sharing_analysis_splits_trunk_and_heads():
    model = _model()
    sharing = mz.graph.analyse_sharing(model)
    shared = {v.path for v in sharing.shared_variables}
    assert any(p.startswith("stage1") for p in shared) and not any(p.startswith("count") for p in shared)
    assert {v.path.split("/")[0] for v in sharing.task_variables["count"]} == {"count_logits"}
    total = len(shared) + sum(len(v) for v in sharing.task_variables.values())
    assert total == len(model.trainable_variables)
    assert [tuple(t.shape[1:]) for t in sharing.representation] == [(1, 1, 64), (4, 4, 64)]


def test_dynamic_weight_average_follows_the_loss_ratios(shapes):
    model = _model()
    model.compile(optimizer="sgd")
    history = model.fit(_data(model, shapes), epochs=3, verbose=0,
                        callbacks=[W.DynamicWeightAverage(temperature=2.0)]).history
    ratios = np.array([history[f"{t}_loss"][1] / history[f"{t}_loss"][0] for t in model.task_names])
    expected = 3 * np.exp(ratios / 2) / np.exp(ratios / 2).sum()
    np.testing.assert_allclose(list(model.task_weights.values()), expected, rtol=1e-4)


def _epochs_of(callback, epoch_logs):
    """Calls `callback`'s hooks as `fit` does, one batch per epoch, with each epoch's logs."""
    weights = []
    for epoch, logs in enumerate(epoch_logs):
        callback.on_epoch_begin(epoch)
        weights.append(callback.current_weights())
        callback.on_train_batch_begin(0)
        callback.on_train_batch_end(0, logs)
        callback.on_epoch_end(epoch, logs)
    return weights


def test_dynamic_weight_average_counts_a_task_unlabelled_in_an_epoch_with_ratio_one():
    # epoch 2 has no labelled example of `count`: its logged loss is a placeholder 0
    model = _model()
    dwa = W.DynamicWeightAverage(temperature=2.0)
    dwa.set_model(model)
    losses = np.array([[1.0, 2.0, 1.0], [0.9, 1.0, 1.0], [0.0, 0.5, 0.9], [0.8, 0.45, 0.9], [0.7, 0.4, 0.9]])
    weights = _epochs_of(dwa, [dict(zip(["count_loss", "shapes_loss", "extremes_loss"], row)) for row in losses])
    for epoch, expected_ratios in ((3, [1.0, 0.5, 0.9]), (4, [1.0, 0.9, 1.0])):
        exponents = np.exp(np.array(expected_ratios) / 2.0)
        np.testing.assert_allclose(weights[epoch], 3 * exponents / exponents.sum(), rtol=1e-5)


def test_dynamic_weight_average_resumes_with_backup_and_restore(shapes, tmp_path, interrupt_at_epoch):
    # the backup listed before DWA, the harder order: it is written before DWA's own
    # epoch-end hook runs, so DWA must keep the running epoch's losses in the model as it goes
    def run(callbacks, epochs=4):
        keras.utils.set_random_seed(7)
        model = _model()
        model.compile(optimizer="sgd")
        model.fit(_data(model, shapes), epochs=epochs, verbose=0, callbacks=callbacks + [W.DynamicWeightAverage()])
        return model

    straight = run([])
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        run([backup, interrupt_at_epoch(3)])
    resumed = run([keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    np.testing.assert_allclose(resumed.task_loss_history.numpy(), straight.task_loss_history.numpy(), rtol=1e-4)
    np.testing.assert_allclose(list(resumed.task_weights.values()), list(straight.task_weights.values()),
                               rtol=1e-4)


def test_random_loss_weighting_draws_weights_summing_to_T(shapes):
    model = _model()
    model.compile(optimizer="sgd")
    model.fit(_data(model, shapes), epochs=1, verbose=0, callbacks=[W.RandomLossWeighting(seed=3)])
    weights = np.array(list(model.task_weights.values()))
    assert weights.sum() == pytest.approx(3.0, rel=1e-5) and np.ptp(weights) > 0.01


def test_random_loss_weighting_resumes_its_draws_with_backup_and_restore(shapes, tmp_path, interrupt_at_epoch):
    def run(callbacks):
        keras.utils.set_random_seed(7)
        model = _model()
        model.compile(optimizer="sgd")
        used = []  # the weights each step trains with
        record = keras.callbacks.LambdaCallback(
            on_train_batch_begin=lambda batch, logs: used.append(list(model.task_weights.values())))
        model.fit(_data(model, shapes), epochs=4, verbose=0,
                  callbacks=callbacks + [W.RandomLossWeighting(seed=3), record])
        return used

    straight = run([])
    with pytest.raises(RuntimeError, match="interrupted"):
        run([keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), interrupt_at_epoch(3)])
    resumed = run([keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert 0 < len(resumed) < len(straight)
    np.testing.assert_allclose(resumed, straight[-len(resumed):], rtol=1e-6)
    assert np.ptp(np.array(straight)[:, 0]) > 0.01  # new weights every step


def test_geometric_loss_strategy_equalises_weighted_losses(shapes):
    model = _model()
    model.compile(optimizer="sgd")
    history = model.fit(_data(model, shapes), epochs=2, verbose=0,
                        callbacks=[W.GeometricLossStrategy()]).history
    weighted = [model.task_weights[t] * history[f"{t}_loss"][-1] for t in model.task_names]
    np.testing.assert_allclose(weighted, np.exp(np.mean(np.log([history[f"{t}_loss"][-1]
                                                                  for t in model.task_names]))), rtol=1e-4)


@pytest.mark.parametrize("make_callback", [W.GeometricLossStrategy, W.GradNorm])
def test_a_task_not_yet_labelled_this_epoch_keeps_its_weight(make_callback, shapes):
    # its logged loss is a placeholder 0, not a loss to balance
    model = _model()
    model.compile(optimizer="sgd")
    model.fit(_data(model, shapes, masks={"count": np.zeros(16, "float32")}), epochs=1, verbose=0,
              callbacks=[make_callback()])
    weights = model.task_weights
    assert weights["count"] == 1.0
    assert np.isfinite(list(weights.values())).all() and weights["shapes"] != 1.0
    assert model.task_loss_history.numpy()[0, 0] == 0.0  # GradNorm's L_count(0) not taken yet


def test_gradnorm_lowers_the_weight_of_the_task_with_the_largest_gradients(shapes):
    model = _model()
    model.compile(optimizer="adam")  # with SGD(0.01), 4 epochs are too few for this to hold
    history = model.fit(_data(model, shapes), epochs=4, verbose=0, callbacks=[W.GradNorm(alpha=0.0)]).history
    norms = {t: history[f"grad_norm_{t}"][0] for t in model.task_names}
    weights = model.task_weights
    assert sum(weights.values()) == pytest.approx(3.0, rel=1e-5)
    assert weights[max(norms, key=norms.get)] < 1.0 < weights[min(norms, key=norms.get)]


class _StepRecorder(keras.callbacks.Callback):
    """Listed last: the alphas each step used (read as it begins, after the other callbacks),
    those the callbacks set after it, and its gradient norms."""

    def __init__(self):
        super().__init__()
        self.used, self.after, self.norms = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.used.append(self.model.task_weights)

    def on_train_batch_end(self, batch, logs=None):
        self.after.append(self.model.task_weights)
        self.norms.append({key[len("grad_norm_"):]: float(value) for key, value in logs.items()
                           if key.startswith("grad_norm_")})


def test_gradnorm_steps_only_with_the_tasks_labelled_in_the_batch(shapes):
    # batches of 4: count is labelled in batches 0 and 3, extremes in all but batch 1
    masks = {"count": np.repeat([1.0, 0.0, 0.0, 1.0], 4).astype("float32"),
             "extremes": np.repeat([1.0, 0.0, 1.0, 1.0], 4).astype("float32")}
    model = _model()
    model.compile(optimizer="sgd")
    recorder = _StepRecorder()
    model.fit(_data(model, shapes, masks=masks, batch_size=4), epochs=1, verbose=0,
              callbacks=[W.GradNorm(), recorder])
    taking_part = [{name for name, norm in norms.items() if norm > 0} for norms in recorder.norms]
    assert taking_part == [{"count", "shapes", "extremes"}, {"shapes"}, {"shapes", "extremes"},
                           {"count", "shapes", "extremes"}]
    for used, after, part in zip(recorder.used, recorder.after, taking_part):
        assert all(after[name] == used[name] for name in model.task_names if name not in part)
        assert sum(after[name] for name in part) == pytest.approx(sum(used[name] for name in part))
    assert recorder.after[1] == recorder.used[1]  # one task alone: nothing to balance
    assert recorder.after[2]["shapes"] != recorder.used[2]["shapes"]


def test_gradnorm_skips_a_step_whose_gradients_overflowed(shapes):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model()
        model.compile(optimizer="sgd")
        recorder = _StepRecorder()
        model.fit(_data(model, shapes), epochs=1, verbose=0, callbacks=[W.GradNorm(), recorder])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    finite = [np.isfinite(list(norms.values())).all() for norms in recorder.norms]
    assert finite == [False, True]  # the first loss scale, 2^15, overflows (the optimizer skips that step)
    assert recorder.after[0] == recorder.used[0] and recorder.after[1] != recorder.used[1]


def test_gradnorm_steps_are_about_the_learning_rate_and_the_monitors_record_the_alphas_used(shapes):
    # per-batch methods (here GradNorm) set the next step's alphas as a step ends; the monitors come first
    model = _model()
    model.compile(optimizer="sgd")
    monitor, recorder = W.GradientConflictMonitor(every=1), _StepRecorder()
    history = model.fit(_data(model, shapes), epochs=2, verbose=0,
                        callbacks=[monitor, W.TaskWeightHistory(), W.GradNorm(learning_rate=0.025),
                                   recorder]).history
    assert [{name: record[f"alpha_{name}"] for name in model.task_names}
            for record in monitor.records] == recorder.used
    assert [{name: history[f"alpha_{name}"][epoch] for name in model.task_names}
            for epoch in range(2)] == [recorder.used[1], recorder.used[3]]
    assert recorder.used[1] != recorder.used[0]
    # the paper's gradient, ||grad L_i||, is 10 to 50 here: a raw step of 0.025 times it flips the weights
    steps = [abs(after[name] - used[name]) for used, after in zip(recorder.used, recorder.after)
             for name in model.task_names]
    assert min(recorder.norms[0].values()) > 5 and 0 < max(steps) < 0.1


def test_gradnorm_on_one_shared_layer(shapes):
    norms = {}
    initial = _model().get_weights()
    for layer in ("pyramid_P5_lateral", None):
        model = _model()
        model.set_weights(initial)
        model.compile(optimizer="sgd")
        history = model.fit(_data(model, shapes, batch_size=16), epochs=1, verbose=0,
                            callbacks=[W.GradNorm(layer=layer)]).history
        norms[layer] = history["grad_norm_shapes"][0]
    assert 0 < norms["pyramid_P5_lateral"] < norms[None]  # one layer's share of the trunk's norm
    with pytest.raises(ValueError, match="not a shared layer"):
        model.request_gradient_statistics(layer="count_logits")
    # the statistics end with the fit whose callback asked for them: a later fit without it
    # trains with the plain step, and another callback may ask for another scope
    history = model.fit(_data(model, shapes, batch_size=16), epochs=1, verbose=0).history
    assert not [key for key in history if key.startswith("grad_")] and model._task_gradients is None
    model.request_gradient_statistics()
    with pytest.raises(ValueError, match="already requested"):
        model.request_gradient_statistics(layer="pyramid_P5_lateral")


def test_conflict_monitor_records_history_and_tensorboard(shapes, tmp_path):
    model = _model()
    model.compile(optimizer="sgd", aggregator=W.PCGrad())
    monitor = W.GradientConflictMonitor(every=1, log_dir=tmp_path / "tb")
    history = model.fit(_data(model, shapes), epochs=2, verbose=0, callbacks=[monitor]).history
    assert len(monitor.records) == 4
    for key in ("grad_norm_count", "grad_cos_count_shapes", "grad_cos_shapes_extremes", "alpha_count"):
        assert len(history[key]) == 2
    assert all(-1.0 - 1e-5 <= r["grad_cos_count_shapes"] <= 1.0 + 1e-5 for r in monitor.records)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert not model._task_gradients.statistics and model.aggregator is not None  # PCGrad stays
    # with steps_per_execution the callback sees every 2nd step: it records when `every` steps passed
    model.compile(optimizer="sgd", steps_per_execution=2)
    monitor = W.GradientConflictMonitor(every=2)
    model.fit(_data(model, shapes), epochs=2, verbose=0, callbacks=[monitor])
    assert [record["step"] for record in monitor.records] == [2, 4]


def test_static_and_scheduled_weights(shapes):
    model = _model()
    model.compile(optimizer="sgd")
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, l: seen.append(model.task_weights["count"]))
    model.fit(_data(model, shapes), epochs=3, verbose=0, callbacks=[
        W.StaticWeights({"shapes": 0.25}),
        W.ScheduledWeights({"count": W.linear_ramp(1.0, 0.0, 0, 2)}), record])
    assert seen == [1.0, 0.5, 0.0] and model.task_weights["shapes"] == 0.25
    with pytest.raises(ValueError, match="not callables"):
        W.ScheduledWeights({"count": 0.5})


def test_uncertainty_weighting_loss_formula_learning_and_saving(shapes, tmp_path):
    model = _model(uncertainty_weighting={"count": "classification", "shapes": "regression"})
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    images, labels = next(iter(_data(model, shapes)))
    model.alpha("count").assign(1.0)
    model._log_variances["count"].assign(0.5)
    model._log_variances["shapes"].assign(-0.2)
    logs = model.test_on_batch(images, labels, return_dict=True)
    expected = (np.exp(-0.5) * logs["count_loss"] + 0.25 + 0.5 * np.exp(0.2) * logs["shapes_loss"] - 0.1
                + logs["extremes_loss"])
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    before = model.uncertainty_weights
    model.fit(_data(model, shapes), epochs=3, verbose=0)
    assert model.uncertainty_weights != before
    model.save(tmp_path / "u.keras")
    assert mz.load_model(tmp_path / "u.keras").uncertainty_weights == pytest.approx(model.uncertainty_weights)
    # a batch without a labelled example of a task leaves that task's log-variance alone
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = {name: float(v.numpy()) for name, v in model._log_variances.items()}
    model.train_on_batch(images, labels, sample_weight={"count": np.zeros(8, "float32")})
    assert float(model._log_variances["count"].numpy()) == before["count"]
    assert float(model._log_variances["shapes"].numpy()) != before["shapes"]
    with pytest.raises(ValueError, match="unknown tasks"):
        _model(uncertainty_weighting={"colour": "regression"})


class _SumOfRows(W.GradientAggregator):
    """The plain sum, computed from the per-task rows."""

    def aggregate(self, gradients, losses, step):
        return keras.ops.sum(gradients, axis=0)


def test_per_task_gradient_step_without_aggregator_equals_the_plain_step(shapes):
    """Requesting gradient statistics must not change training, uncertainty weights included;
    nor must summing the rows in representation mode, where the classifier reads the last
    backbone stage and the dense heads a pyramid level computed from it (the heads' copies of
    those tensors keep the paths through the pyramid from counting twice)."""
    kwargs = {"uncertainty_weighting": True, "task_weights": {"shapes": 0.5}}
    initial = _model(**kwargs)
    for name, value in (("count", 0.7), ("shapes", -0.4), ("extremes", 0.2)):
        initial._log_variances[name].assign(value)
    weights = initial.get_weights()
    results = []
    for statistics, aggregator in ((False, None), (True, None),
                                   (False, _SumOfRows(mode="representation"))):
        model = _model(**kwargs)
        model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(0.01), aggregator=aggregator)
        if statistics:
            model.request_gradient_statistics()
        images, labels = next(iter(_data(model, shapes, batch_size=16)))
        model.train_on_batch(images, labels)
        results.append(model.get_weights())
    for plain, per_task, representation in zip(*results):
        np.testing.assert_allclose(per_task, plain, atol=1e-6)
        np.testing.assert_allclose(representation, plain, atol=1e-6)


class _RecordsActivations(W.GradientAggregator):
    """The plain sum; keeps the `Activations` that the train step hands over."""

    default_mode = "representation"
    uses_activations = True

    def build(self, num_tasks):
        super().build(num_tasks)
        self.values = tf.Variable(tf.zeros([0]), shape=tf.TensorShape([None]))
        self.features = tf.Variable(tf.zeros([0], tf.int32), shape=tf.TensorShape([None]))

    def aggregate(self, gradients, losses, step, activations):
        tf.debugging.assert_equal(tf.size(activations.values), tf.shape(gradients)[1])
        self.values.assign(activations.values)
        self.features.assign(activations.features)
        return tf.reduce_sum(gradients, axis=0)


def test_representation_mode_hands_the_representation_to_methods_that_read_it(shapes):
    model = _model()
    aggregator = _RecordsActivations()
    model.compile(optimizer=keras.optimizers.SGD(0.0), aggregator=aggregator)
    images, labels = next(iter(_data(model, shapes, batch_size=8)))
    model.train_on_batch(images, labels)
    trunk = model._task_gradients.split_models()[0]
    representation = [np.asarray(t) for t in trunk(images, training=True)]
    per_example = [t[0].size for t in representation]  # (1, 1, 64) and (4, 4, 64)
    np.testing.assert_allclose(aggregator.values.numpy(),
                               np.concatenate([t.reshape(-1) for t in representation]), atol=1e-5)
    expected = np.concatenate([np.tile(np.arange(size), 8) + sum(per_example[:i])
                               for i, size in enumerate(per_example)])
    np.testing.assert_array_equal(aggregator.features.numpy(), expected)


def test_weighting_callbacks_need_a_multi_task_model():
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="MultiTaskModel"):
        W.DynamicWeightAverage().set_model(plain)


@pytest.mark.parametrize("callback", [W.GeometricLossStrategy, W.DynamicWeightAverage])
def test_weighting_callbacks_stop_on_diverged_losses_and_keep_the_weights(callback):
    model = _model()
    weighting = callback()
    weighting.set_model(model)
    logs = {"count_loss": 1.0, "shapes_loss": float("nan"), "extremes_loss": 2.0}
    with pytest.raises(ValueError, match=rf"{callback.__name__} cannot weight non-finite task losses "
                                         r"\{'count': 1.0, 'shapes': nan, 'extremes': 2.0\}: training diverged"):
        weighting.on_train_batch_end(0, logs)  # both read the losses after each batch
    assert model.task_weights == {"count": 1.0, "shapes": 1.0, "extremes": 1.0}


# parameter mode, and representation mode, whose gradient rows are float16 / bfloat16 tensors
@pytest.mark.parametrize("policy,aggregator", [("mixed_float16", "PCGrad"), ("mixed_float16", "MGDA"),
                                               ("mixed_bfloat16", "GradDrop")])
def test_mixed_precision_with_an_aggregator(policy, aggregator, shapes):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = _model()
        model.compile(optimizer="sgd", aggregator=getattr(W, aggregator)())
        if policy == "mixed_float16":
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        history = model.fit(_data(model, shapes), epochs=3, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]


# Each kind of weighting (callback, learned, aggregator in either mode) once, and each sharing
# scheme but soft, whose mirrored run test_sharing.py compares with one device (its penalty
# counted once); `python tests/distributed_run.py all` runs every pair (README, Distributed
# training). MTAN, the costliest scheme to trace under MirroredStrategy, takes a method without
# per-task gradients (its pairs with aggregators took about twice as long).
MIRRORED_PAIRS = ["hard/GradDrop", "cross_stitch/dwa", "mtan/uncertainty", "mmoe/NashMTL"]


@pytest.mark.slow
def test_mirrored_strategy_matches_one_device_for_each_scheme_and_method():
    """The mirrored run's weights and epoch losses agree with the one-device run's to 1e-4 (losses:
    relative), or, where round-off alone carries one-device runs further apart, to that yardstick: `--sensitivity` trains each pair that misses 1e-4 once more
    on one device from weights perturbed by a relative 1e-7. Round-off parts such runs by up
    to 3e-4 here (with the Eigen kernels, hard sharing with GradDrop: the one-device run lands
    1.4e-4 from the mirrored run and, to 4 digits, as far from the perturbed one); a
    distribution error (a gradient scaled or summed twice, a replica's examples left out)
    moves the weights by the order of their change, 3e-3."""
    script = pathlib.Path(__file__).with_name("distributed_run.py")
    # one process for all pairs: each process spends about 5 s starting TensorFlow
    result = subprocess.run([sys.executable, str(script), ",".join(MIRRORED_PAIRS), "--sensitivity"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(outcome) == MIRRORED_PAIRS
    for pair, run in outcome.items():
        change = run["max_trainable_change"]
        assert change > 1e-3, pair  # training really moved the weights
        # pairs that agreed within 1e-4 ran no yardstick: their bound is 1e-4 itself
        round_off = run.get("perturbed_single_difference", 0.0)
        assert round_off < change / 5, pair  # round-off alone did not move them as much
        tolerance = max(1e-4, 1.5 * round_off)
        assert run["max_weight_difference"] < tolerance, (pair, run["max_weight_difference"], round_off)
        single, mirrored = np.array(run["losses"]["single"]), np.array(run["losses"]["mirrored"])
        perturbed = np.array(run.get("perturbed_single_losses", single))
        loss_tolerance = np.maximum(1e-4 * np.abs(single), 1.5 * np.abs(perturbed - single))
        assert np.all(np.abs(mirrored - single) <= loss_tolerance), (pair, single, mirrored, perturbed)
