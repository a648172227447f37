"""`SoftSharingRegularizer`: one tower per task, pulled together by an L2 penalty."""

import itertools

import keras
from keras import ops

from mtl_zoo.freezing import trained_variables
from mtl_zoo.naming import unknown_name_error


class _DistanceToPartners:
    """The regularizer attached to one coupled tower variable: beta / 2 times its squared
    distance to the matched variables of the other towers (plus any regularizer it had).

    Summed over every tower's variables this is beta * sum over pairs ||theta_i - theta_j||^2,
    with the right gradient (each pair's term appears once on either side).
    """

    def __init__(self, beta, partners, previous=None):
        self.beta, self.partners, self.previous = beta, partners, previous

    def __call__(self, variable):
        value = ops.cast(variable, "float32")
        total = 0.0
        for partner in self.partners:
            total = total + ops.sum(ops.square(value - ops.cast(partner, "float32")))
        total = 0.5 * self.beta * total
        return total if self.previous is None else total + self.previous(variable)


def _layer_name(variable):
    """The name of the layer that owns `variable` (its path is ".../layer/variable")."""
    return variable.path.rsplit("/", 1)[0].split("/")[-1]


def _check_coupled_layers(coupled_layers):
    """`coupled_layers` as a list of layer names, or None; a ValueError for anything else."""
    if coupled_layers is None:
        return None
    if isinstance(coupled_layers, str):
        raise ValueError(f"SoftSharingRegularizer: coupled_layers must be None (couple every layer) or "
                         f"a non-empty list of layer names, got the string {coupled_layers!r}; for one "
                         f"layer write [{coupled_layers!r}].")
    try:
        names = list(coupled_layers)
    except TypeError:
        names = None
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError("SoftSharingRegularizer: coupled_layers must be None (couple every layer) or "
                         f"a non-empty list of layer names, got {coupled_layers!r}.")
    return names


@keras.saving.register_keras_serializable(package="mtl_zoo")
class SoftSharingRegularizer(keras.layers.Layer):
    """Soft parameter sharing: one tower per task, coupled by an L2 distance penalty.

    The layer holds T towers of the same architecture, returns the list of
    their outputs on the same input (tower i feeds task i), and adds

        beta * sum over pairs i < j of sum over coupled variables ||theta_i - theta_j||^2

    to the losses of the model that contains it (Duong et al. 2015, "Low
    Resource Dependency Parsing: Cross-lingual Parameter Sharing"; the
    soft-sharing baseline of Ruder 2017, "An Overview of Multi-Task Learning").
    beta = 0 gives T independent models.

    The penalty enters `model.losses` as weight regularization: each coupled
    variable gets a regularizer (its half of the pairwise distances), which
    Keras evaluates when the losses are read. So every replica of a
    `tf.distribute` run reads the penalty once, and `MultiTaskModel`'s
    division of the total loss by the number of replicas makes it count once
    overall. (`add_loss` in `call` would not: MirroredStrategy's replica
    threads share the layer's loss list, so each replica would see every
    replica's copy.)

    The gradient aggregators see each tower as its task's own parameters
    (`output_variables`), so nothing is shared between tasks.

    Args:
        towers: T >= 2 built Keras models (or their serialized configs) with
            the same trainable variables (paths and shapes).
        beta: the coupling strength, >= 0.
        coupled_layers: a non-empty list of the names of the tower layers whose
            trainable variables are coupled; None couples every trainable variable.
            Frozen layers stay coupled (their pairs add a constant), so that freezing
            the towers and saving, or unfreezing them, keeps the same coupling.

    Example:
    >>> import mtl_zoo as mz
    >>> towers = [mz.Backbone("tiny", (32, 32, 3), name=f"tower{i}") for i in range(2)]
    >>> layer = SoftSharingRegularizer(towers, beta=1e-3)
    >>> len(layer(keras.ops.zeros((1, 32, 32, 3))))
    2
    >>> float(layer.penalty()) > 0  # separately initialised towers start apart
    True
    """

    # its weights are laid out by task position: they go over to another model only when
    # its tasks are the same, in the same order (`mtl_zoo.presets.transfer`)
    ordered_by_task = True

    def __init__(self, towers, beta=1e-3, coupled_layers=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(beta, (int, float)) or beta < 0:
            raise ValueError(f"SoftSharingRegularizer: beta must be a number >= 0, got {beta!r} "
                             "(0 gives independent towers; try 1e-3).")
        towers = [keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
                  for t in towers]
        if len(towers) < 2:
            raise ValueError(f"SoftSharingRegularizer couples two or more towers, got {len(towers)}.")
        self.towers = towers
        self.beta = float(beta)
        self.coupled_layers = _check_coupled_layers(coupled_layers)
        self._coupled = self._match_variables()
        if self.beta > 0:
            self._attach_regularizers()

    def _match_variables(self):
        """Per tower, the coupled variables in one order; checks the towers agree."""
        reference = self.towers[0]
        signature = [(v.path, tuple(v.shape)) for v in trained_variables(reference)]
        for tower in self.towers[1:]:
            other = [(v.path, tuple(v.shape)) for v in trained_variables(tower)]
            if other != signature:
                difference = next((f"{a} vs {b}" for a, b in zip(signature, other) if a != b),
                                  f"{len(signature)} vs {len(other)} variables")
                raise ValueError(
                    f"SoftSharingRegularizer: towers {reference.name!r} and {tower.name!r} have "
                    f"different architectures (first difference: {difference}); soft sharing "
                    "couples towers of one architecture, e.g. the same backbone family and input.")
        names = {_layer_name(v) for v in trained_variables(reference)}
        for name in self.coupled_layers or ():
            if name not in names:
                raise unknown_name_error(f"layer of tower {reference.name!r} to couple", name, names)
        wanted = names if self.coupled_layers is None else set(self.coupled_layers)
        return [[v for v in trained_variables(tower) if _layer_name(v) in wanted]
                for tower in self.towers]

    def _attach_regularizers(self):
        for index, variables in enumerate(self._coupled):
            others = [self._coupled[j] for j in range(len(self._coupled)) if j != index]
            for position, variable in enumerate(variables):
                partners = [other[position] for other in others]
                variable.regularizer = _DistanceToPartners(self.beta, partners, variable.regularizer)

    def penalty(self):
        """beta times the summed squared distances between the towers' coupled variables."""
        total = ops.convert_to_tensor(0.0, "float32")
        for first, second in itertools.combinations(self._coupled, 2):
            for a, b in zip(first, second):
                total = total + ops.sum(ops.square(ops.cast(a, "float32") - ops.cast(b, "float32")))
        return self.beta * total

    def output_variables(self, output_index):
        """The trainable variables behind flat output `output_index`: its tower's."""
        for tower in self.towers:
            count = len(keras.tree.flatten(tower.output))
            if output_index < count:
                return tower.trainable_variables
            output_index -= count
        raise IndexError(f"{self.name} has no output {output_index}.")

    def call(self, inputs, training=None):
        return [tower(inputs, training=training) for tower in self.towers]

    def compute_output_spec(self, inputs, training=None):
        return [tower.compute_output_spec(inputs) for tower in self.towers]

    def get_config(self):
        return {**super().get_config(),
                "towers": [keras.saving.serialize_keras_object(t) for t in self.towers],
                "beta": self.beta, "coupled_layers": self.coupled_layers}
