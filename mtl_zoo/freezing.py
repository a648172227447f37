"""Frozen layers that start training partway through one `fit`: Keras's transfer-learning
recipe (train the new heads on a frozen pretrained trunk, then fine-tune everything) without
a second `compile` and `fit`, so that the optimizer's state, the learning-rate schedule,
the callbacks' state and a run's backups carry on across the switch.

Example:
>>> import mtl_zoo as mz
>>> model = mz.from_preset("mtl_shapes_tiny_cls_det_pose", freeze_trunk=True)
>>> model.compile(optimizer="adam")
>>> unfreeze = unfreeze_at(model, epoch=2)  # then model.fit(..., epochs=8, callbacks=[unfreeze])
>>> unfreeze.layers[:2]
['tiny_backbone', 'pyramid_P5_lateral']
"""

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


class UnfreezeAt(keras.callbacks.Callback):
    """Sets the model's layers `layers` (names) trainable at the start of epoch `epoch`
    (0-based, so after `epoch` epochs frozen), and has `fit` trace its train step again.
    Make it with `unfreeze_at`, which readies the optimizer for those layers.

    Also right for a run resumed past `epoch` (e.g. from `BackupAndRestore`): the layers
    are trainable from its first epoch.
    """

    def __init__(self, layers, epoch):
        super().__init__()
        self.layers, self.epoch = list(layers), epoch

    def on_epoch_begin(self, epoch, logs=None):
        frozen = [self.model.get_layer(name) for name in self.layers
                  if not self.model.get_layer(name).trainable]
        if epoch < self.epoch or not frozen:
            return
        for layer in frozen:
            layer.trainable = True
        self.model.make_train_function(force=True)


def unfreeze_at(model, epoch, layers=None):
    """An `UnfreezeAt` callback that trains `model`'s frozen `layers` from epoch `epoch` on.

    Keras's optimizers only update the variables they were built for, and `compile` (or
    `fit`) builds them for the variables trainable then: this gives `model` a new optimizer
    of the same config, built for the variables of the frozen layers too (its slots for
    them stay unused until then).

    Args:
        model: a compiled model that has not trained since (its optimizer has taken no
            step); under a `tf.distribute` strategy, call this in its scope, as `compile`.
        epoch: the first epoch (0-based) that trains `layers`, >= 1.
        layers: names of top-level layers of `model`, frozen now; default: all of its
            frozen layers with weights (e.g. those of `from_preset(freeze_trunk=True)`).

    Raises:
        ValueError: `model` is not compiled or trained since (compile it again), `epoch`
            < 1, or a name that is not a frozen layer of `model`.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("unfreeze_at readies the model's optimizer: compile the model first.")
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))  # a MirroredVariable too
    if steps:
        raise ValueError(f"The model's optimizer took {steps} steps already, "
                         "with state for the variables trainable then; compile the model again, then "
                         "call unfreeze_at before fit.")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch must be an integer >= 1 (the epochs trained frozen), got {epoch!r}.")
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    layers = frozen if layers is None else list(layers)
    if not layers or any(name not in frozen for name in layers):
        raise ValueError(f"unfreeze_at takes frozen layers of the model with weights ({frozen}), "
                         f"got {layers}.")
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    optimizer.build(trained_variables(model))
    model.optimizer = optimizer
    return UnfreezeAt(layers, epoch)
