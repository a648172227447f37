"""Models whose inner layers can stay frozen while the model as a whole trains: a
`Backbone` built with `frozen_layers`, and the stages that MTAN and cross-stitch
sharing cut from it (`BackboneStage`).

Keras's `trainable` setter cascades: setting a model trainable makes every inner layer
trainable, so unfreezing a frozen trunk (Keras's fine-tuning guide, `mtl_zoo.unfreeze_at`)
would also unfreeze the early layers it was built to keep fixed.
"""

import keras


class KeepsFrozenLayers:
    """Mixin for a `keras.Model`: setting `trainable` True leaves the inner layers that
    were frozen before the model was frozen (`frozen_layers`) frozen. The class gives
    `_inner_model()`, the model whose layers are kept, and calls `_keep_frozen` once
    built.

    Example:
    >>> import mtl_zoo as mz
    >>> backbone = mz.backbones.Backbone("tiny", (32, 32, 3), frozen_layers=["stage1_down_conv"])
    >>> backbone.trainable = False  # every layer, as from_preset(freeze_trunk=True)
    >>> backbone.trainable = True  # as mz.unfreeze_at: all but the layers frozen before
    >>> backbone.frozen_layers
    ['stage1_down_conv']
    """

    def _frozen_inner_layers(self):
        return [layer.name for layer in self._inner_model().layers if layer.weights and not layer.trainable]

    def _keep_frozen(self, names):
        """Freezes the inner layers `names` and keeps them frozen through `trainable = True`."""
        names = set(names)
        for layer in self._inner_model().layers:
            if layer.name in names:
                layer.trainable = False
        self._frozen_while_trainable = [layer.name for layer in self._inner_model().layers
                                        if layer.name in names and layer.weights]

    @property
    def trainable(self):
        """Whether the model trains. Setting it False freezes every layer (Keras's
        setter); setting it True again leaves the inner layers that were frozen before
        (`frozen_layers`) frozen, so unfreezing a frozen trunk (`mtl_zoo.unfreeze_at`,
        Keras's fine-tuning) keeps the early stages that it was built to keep fixed. To
        train one of them, set that layer's own `trainable` once the model is trainable."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        kept = hasattr(self, "_frozen_while_trainable")  # False while Keras builds the model
        if not value and kept and getattr(self, "_trainable", False):
            self._frozen_while_trainable = self._frozen_inner_layers()
        keras.Model.trainable.fset(self, value)
        if value and kept:
            self._keep_frozen(self._frozen_while_trainable)

    @property
    def frozen_layers(self):
        """Names of the inner layers with weights that stay frozen (`trainable` False)
        while the model as a whole trains, also while it is frozen: saved in the config,
        so a partly frozen model reloads partly frozen, and stays so when unfrozen."""
        if not self.trainable:
            return list(self._frozen_while_trainable)
        return self._frozen_inner_layers()


@keras.saving.register_keras_serializable(package="mtl_zoo")
class BackboneStage(KeepsFrozenLayers, keras.Model):
    """One stage of a backbone's trunk, from one pyramid level to the next
    (`Backbone.stages`), which keeps the backbone's `frozen_layers` frozen when it is
    unfrozen, as the backbone does. MTAN and cross-stitch models hold these.

    Example:
    >>> import mtl_zoo as mz
    >>> backbone = mz.backbones.Backbone("tiny", (32, 32, 3), frozen_layers=["stage1_down_conv"])
    >>> stage = backbone.stages()[1]["P2"]
    >>> stage.trainable = False  # as from_preset(freeze_trunk=True)
    >>> stage.trainable = True  # as mz.unfreeze_at
    >>> stage.frozen_layers, stage.get_layer("stage1_down_bn").trainable
    (['stage1_down_conv'], True)
    """

    def __init__(self, inputs, outputs, name=None, **kwargs):
        # Keras's signature, so that `from_config` revives it as a functional model, which
        # passes the config's other entries (`frozen_layers`) on
        frozen_layers = kwargs.pop("frozen_layers", None)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self._keep_frozen(self._frozen_inner_layers() if frozen_layers is None else frozen_layers)

    def _inner_model(self):
        return self

    def get_config(self):
        return {**super().get_config(), "frozen_layers": self.frozen_layers}
