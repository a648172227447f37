"""Frozen layers that start training partway through one `fit`: the two stages of Keras's
transfer-learning guide (train the new heads on a frozen pretrained trunk, then fine-tune
everything) without a second `compile` and `fit`, so that the optimizer's state, the
learning-rate schedule, the callbacks' state and a run's backups carry on across the
switch (`unfreeze_at` says where this differs from the guide's second stage).

Example:
>>> import mtl_zoo as mz
>>> model = mz.from_preset("mtl_shapes_tiny_cls_det_pose", freeze_trunk=True)
>>> model.compile(optimizer="adam")
>>> unfreeze = unfreeze_at(model, epoch=2)  # then model.fit(..., epochs=8, callbacks=[unfreeze])
>>> unfreeze.layers[:2]
['tiny_backbone', 'pyramid_P5_lateral']
"""

import math

import keras


def trained_variables(layer):
    """The variables of `layer` (a model, or a layer with sublayers) that training moves when
    nothing is frozen: kernels, biases, batch-norm scales and offsets, but no moving
    statistics; in the layer's order, frozen or not. Keras's `trainable_variables` lists
    none of a frozen layer's. (Keras keeps each layer's own list of them,
    `_trainable_variables`, through freezing.)

    Example:
    >>> dense = keras.layers.Dense(2)
    >>> dense.build((None, 3))
    >>> dense.trainable = False
    >>> len(dense.trainable_variables), len(trained_variables(dense))
    (0, 2)
    """
    movable = {id(variable) for sublayer in layer._flatten_layers() for variable in sublayer._trainable_variables}
    return [variable for variable in layer.variables if id(variable) in movable]


@keras.saving.register_keras_serializable(package="mtl_zoo")
class FineTuningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate `rate` (a float or a schedule), times `factor` once the frozen
    layers train: the lower rate of the second stage of Keras's transfer-learning guide.
    `unfreeze_at(..., learning_rate_factor=...)` gives the model's optimizer one, and its
    `UnfreezeAt` callback sets `unfrozen` at the switch, before `fit` traces the train
    step again. Saved with the optimizer's config, `unfrozen` included, so a model saved
    after the switch goes on at the lower rate.

    Example:
    >>> rate = FineTuningRate(keras.optimizers.schedules.CosineDecay(1e-3, 100), factor=0.1)
    >>> round(float(rate(0)), 6)
    0.001
    >>> rate.unfrozen = True
    >>> round(float(rate(0)), 6)
    0.0001
    """

    def __init__(self, rate, factor, unfrozen=False):
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < math.inf:
            raise ValueError(f"learning_rate_factor must be a finite number > 0, got {factor!r}.")
        self.rate, self.factor, self.unfrozen = rate, float(factor), bool(unfrozen)
        self.claimed = False  # made by unfreeze_at in this process (not loaded), not saved

    def __call__(self, step):
        rate = self.rate(step) if callable(self.rate) else keras.ops.convert_to_tensor(self.rate, "float32")
        return rate * self.factor if self.unfrozen else rate

    def get_config(self):
        rate = keras.saving.serialize_keras_object(self.rate) if callable(self.rate) else self.rate
        return {"rate": rate, "factor": self.factor, "unfrozen": self.unfrozen}

    @classmethod
    def from_config(cls, config):
        rate = config["rate"]
        return cls(keras.saving.deserialize_keras_object(rate) if isinstance(rate, dict) else rate,
                   config["factor"], config["unfrozen"])


class UnfreezeAt(keras.callbacks.Callback):
    """Sets the model's layers `layers` (names) trainable at the start of epoch `epoch`
    (0-based, so after `epoch` epochs frozen), and has `fit` trace its train step again;
    with `lowers_rate`, the optimizer's `FineTuningRate` drops then. Make it with
    `unfreeze_at`, which readies the model's optimizer for those layers.

    Also right for a run resumed past `epoch` (e.g. from `BackupAndRestore`): the layers
    are trainable from its first epoch.
    """

    def __init__(self, layers, epoch, lowers_rate=False):
        super().__init__()
        self.layers, self.epoch, self.lowers_rate = list(layers), epoch, lowers_rate

    def on_train_begin(self, logs=None):
        lowers = isinstance(_inner(self.model.optimizer)._learning_rate, FineTuningRate)
        if not _built_for(self.model.optimizer, variables_once_unfrozen(self.model)) or (
                self.lowers_rate and not lowers):
            raise ValueError("The model was compiled again after unfreeze_at, and its new optimizer "
                             "has no state for the frozen layers (or no rate to lower): call "
                             "unfreeze_at again after compile, for every stage, and pass its "
                             "callbacks to fit.")

    def on_epoch_begin(self, epoch, logs=None):
        if epoch < self.epoch:
            return
        frozen = [self.model.get_layer(name) for name in self.layers
                  if not self.model.get_layer(name).trainable]
        rate = _inner(self.model.optimizer)._learning_rate
        lower = self.lowers_rate and isinstance(rate, FineTuningRate) and not rate.unfrozen
        if not frozen and not lower:  # also when an earlier stage unfroze these layers
            return
        for layer in frozen:
            layer.trainable = True
        if lower:
            rate.unfrozen = True  # read when the train step is traced, now
        self.model.make_train_function(force=True)


# Keras's callbacks that set `optimizer.learning_rate`, which Keras refuses for a schedule
RATE_SETTING_CALLBACKS = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.LearningRateScheduler)


def check_rate_setting_callbacks(optimizer, callbacks):
    """Raises a ValueError, before `fit` trains, when one of `callbacks` (a list or a Keras
    `CallbackList`) sets the learning rate of `optimizer` and that rate is a schedule, which
    Keras cannot set: `ReduceLROnPlateau` would fail with a TypeError at the first plateau,
    partway through training. `MultiTaskModel.fit` calls it.

    Example:
    >>> check_rate_setting_callbacks(keras.optimizers.Adam(1e-3), [keras.callbacks.ReduceLROnPlateau()])
    >>> rate = FineTuningRate(1e-3, factor=0.1)
    >>> check_rate_setting_callbacks(keras.optimizers.Adam(rate), [keras.callbacks.ReduceLROnPlateau()])
    Traceback (most recent call last):
    ...
    ValueError: ReduceLROnPlateau sets the optimizer's learning rate, which is a schedule ...
    """
    rate = getattr(_inner(optimizer), "_learning_rate", None)
    if not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return
    setters = [type(callback).__name__ for callback in getattr(callbacks, "callbacks", callbacks)
               if isinstance(callback, RATE_SETTING_CALLBACKS)]
    if setters:
        remedy = ("unfreeze_at(learning_rate_factor=...) made it a FineTuningRate: drop the factor and "
                  f"let {setters[0]} lower the rate" if isinstance(rate, FineTuningRate)
                  else f"give the optimizer a float rate for {setters[0]} to set, or drop {setters[0]}")
        raise ValueError(f"{setters[0]} sets the optimizer's learning rate, which is a schedule "
                         f"({type(rate).__name__}) that Keras cannot set: it would fail partway through "
                         f"fit. {remedy[0].upper()}{remedy[1:]}.")


def _inner(optimizer):
    """The optimizer that holds the rate and slots (a LossScaleOptimizer's inner one)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def variables_once_unfrozen(model):
    """The variables that `model` trains once its frozen top-level layers are unfrozen (as
    `UnfreezeAt` does): those of `trained_variables` but a `Backbone`'s `frozen_layers`, in
    the order of `model.trainable_variables`, which `compile` builds a reloaded model's
    optimizer for.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 3))
    >>> model.get_layer("tiny_backbone").trainable = False
    >>> len(variables_once_unfrozen(model)) == len(trained_variables(model)) > len(model.trainable_variables)
    True
    """
    frozen = [layer for layer in model.layers if layer.weights and not layer.trainable]
    for layer in frozen:
        layer.trainable = True
    try:
        return list(model.trainable_variables)
    finally:
        for layer in frozen:
            layer.trainable = False


def _built_for(optimizer, variables):
    """Whether `optimizer` has slots for all of `variables`."""
    built = {id(variable) for variable in getattr(_inner(optimizer), "_trainable_variables", [])}
    return all(id(variable) in built for variable in variables)


def unfreeze_at(model, epoch, layers=None, learning_rate_factor=None):
    """An `UnfreezeAt` callback that trains `model`'s frozen `layers` from epoch `epoch` on:
    the two stages of Keras's transfer-learning guide (the new heads on a frozen trunk,
    then everything) in one `fit`.

    Keras's optimizers only update the variables they were built for, and `compile` (or
    `fit`) builds them for the variables trainable then: this gives `model` a new optimizer
    of the same config (`get_config` / `from_config`; the same exclusions from weight
    decay), built for the variables of the frozen layers too (its slots for them stay
    unused until then). A `Backbone` built with `frozen_layers` keeps those frozen when
    it is unfrozen (`mtl_zoo.backbones.kept_frozen`), and so do the stages of it that
    MTAN and cross-stitch models hold. A gradient aggregator (`compile(aggregator=...)`)
    has no shared variables to balance while the trunk is frozen, and combines the task
    gradients of the shared layers from `epoch` on (`MultiTaskModel.make_train_function`).

    To unfreeze in stages (gradual unfreezing, Howard & Ruder 2018: the top of the trunk
    first), call it once per stage, each with its `layers` and `epoch`, and pass all the
    callbacks to `fit`: each call readies a new optimizer for every frozen layer.

    The learning rate carries on, or, with `learning_rate_factor`, drops by that factor for
    all variables from `epoch` on (`FineTuningRate`), as in the guide's second stage. Unlike
    there, unfrozen batch norms train (their moving statistics move), and Adam's first
    updates of the unfrozen variables are larger than the learning rate, because its bias
    correction counts the optimizer's steps, not theirs: about 2.5-3x at the first, up to
    about 6x around the twelfth with gradients of a steady sign after a long frozen stage.
    A factor of 0.1 keeps them below the rate of the frozen stage. A model saved before
    the layers are unfrozen holds optimizer state for them: `load_model` then leaves the
    optimizer state out, with Keras's warning. GradNorm and `GradientConflictMonitor` read the
    task gradients of the shared layers from `epoch` on too: their gradient statistics wait
    for the unfreezing (`MultiTaskModel.request_gradient_statistics`).

    Args:
        model: a compiled model that has not trained since (its optimizer has taken no
            step); under a `tf.distribute` strategy, call this in its scope, as `compile`.
        epoch: the first epoch (0-based) that trains `layers`, >= 1.
        layers: names of top-level layers of `model`, frozen now; default: all of its
            frozen layers with weights (e.g. those of `from_preset(freeze_trunk=True)`).
        learning_rate_factor: None (the rate carries on), or a finite number > 0 that
            multiplies the optimizer's learning rate (a float or a schedule) from `epoch`
            on; in one of the calls of a staged unfreezing only (a loaded model's
            `FineTuningRate` is replaced, from its own rate). The rate then is a
            `FineTuningRate` schedule, which callbacks that set the rate (e.g.
            `ReduceLROnPlateau`) cannot change: `fit` refuses them
            (`check_rate_setting_callbacks`).

    Raises:
        ValueError: `model` is not compiled or trained since (compile it again), `epoch`
            < 1, a name that is not a frozen layer of `model`; an optimizer with `use_ema`
            (it pairs its averages with the variables trainable at the end of `fit`); an
            optimizer whose config does not rebuild it (e.g. an unregistered custom
            learning-rate schedule, or a callable); a `learning_rate_factor` that is not
            a finite number > 0, or one given to more than one call.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("unfreeze_at readies the model's optimizer: compile the model first.")
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))  # a MirroredVariable too
    if steps:
        raise ValueError(f"The model's optimizer took {steps} step(s) already, with state for the "
                         "variables trainable then; compile the model again, then call unfreeze_at "
                         "before fit.")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch must be an integer >= 1 (the epochs trained frozen), got {epoch!r}.")
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    layers = frozen if layers is None else list(layers)
    if not layers or any(name not in frozen for name in layers):
        raise ValueError(f"unfreeze_at takes frozen layers of the model with weights ({frozen}), "
                         f"got {layers}.")
    if model.optimizer.get_config().get("use_ema"):
        raise ValueError("An optimizer with use_ema=True pairs its moving averages with the model's "
                         "trainable weights of the end of fit, which differ from the ones it is built "
                         "for while layers are frozen: give an optimizer without use_ema.")
    rate = _inner(model.optimizer)._learning_rate
    if learning_rate_factor is not None:
        if isinstance(rate, FineTuningRate) and rate.claimed:
            raise ValueError(f"An earlier unfreeze_at lowers the learning rate {rate.factor:g}x already, at "
                             "its epoch: give learning_rate_factor to one unfreeze_at call.")
        if isinstance(rate, FineTuningRate):  # a loaded model's: lowered anew from its own rate
            rate = rate.rate
        if callable(rate) and not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError("learning_rate_factor multiplies a float learning rate or a "
                             "LearningRateSchedule; the optimizer's is another callable: make it a "
                             "registered LearningRateSchedule.")
        if not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = float(keras.ops.convert_to_numpy(rate))  # a float rate's variable
        rate = FineTuningRate(rate, learning_rate_factor)
        rate.claimed = True
    rebuilt = _rebuilt_optimizer(model.optimizer, variables_once_unfrozen(model), rate)
    model.optimizer = rebuilt
    compiled = getattr(model, "_compile_config", None)
    if compiled is not None:  # what `save` writes and `load_model` compiles with: this optimizer
        compiled.config["optimizer"] = rebuilt
    return UnfreezeAt(layers, epoch, lowers_rate=learning_rate_factor is not None)


def _rebuilt_optimizer(optimizer, variables, rate):
    """A new optimizer of `optimizer`'s config, with its exclusions from weight decay and
    learning rate `rate` (a `FineTuningRate` at first), built for `variables`."""
    try:
        rebuilt = type(optimizer).from_config(optimizer.get_config())
    except (TypeError, ValueError) as error:
        raise ValueError(f"unfreeze_at rebuilds the model's optimizer from its config, which failed "
                         f"({error}). A custom learning-rate schedule must be registered "
                         "(keras.saving.register_keras_serializable) and not a lambda or function.") from None
    source, target = optimizer, rebuilt
    while source is not None:  # a LossScaleOptimizer's inner optimizer holds them
        for name in ("_exclude_from_weight_decay", "_exclude_from_weight_decay_pattern"):
            if hasattr(source, name):
                setattr(target, name, getattr(source, name))
        source, target = getattr(source, "inner_optimizer", None), getattr(target, "inner_optimizer", None)
    if isinstance(rate, FineTuningRate):  # the earlier unfreeze_at's, or this one's
        rebuilt.learning_rate = rate
    rebuilt.build(variables)
    return rebuilt
