"""The train step that works on per-task gradients of the shared trunk.

Used by `MultiTaskModel` when it has a gradient aggregator or when a callback
asked for gradient statistics. Row i of the gradient matrix is the gradient of
task i's weighted term (alpha_i * L_i, uncertainty weighting applied) with respect
to the shared trunk's parameters, or, in representation mode, with respect to the
shared tensors that the heads read.
Heads and other task-specific variables get the plain gradient of the total loss.

Under `tf.distribute`, parameter-gradient rows are summed over replicas before
aggregating, so every replica aggregates the global batch's gradients and the
update equals a single-device one. Representation gradients are per example:
every replica gathers all replicas' columns, aggregates the global batch's
matrix and back-propagates its own columns.
"""

import itertools

import numpy as np
import tensorflow as tf

from mtl_zoo.graph import analyse_sharing, frozen_shared_layers
from mtl_zoo.step_order import after_all
from mtl_zoo.distribution import gather_over_replicas, sum_over_replicas
from mtl_zoo.weighting.aggregator import Activations


def _flatten(gradients, like):
    """One float32 vector of `gradients` (zeros for None), whatever their dtype (mixed precision)."""
    return tf.concat([tf.reshape(tf.cast(g if g is not None else tf.zeros_like(v), tf.float32), [-1])
                      for g, v in zip(gradients, like)], axis=0)


def _unflatten(vector, like):
    sizes = [tf.size(v) for v in like]
    return [tf.reshape(part, tf.shape(v)) for part, v in zip(tf.split(vector, tf.stack(sizes)), like)]


def representation_activations(tensors):
    """The `Activations` of batch-major representation `tensors`, in the column order of
    their flattened gradients (`_flatten`): each tensor's features follow the last one's.

    Example:
    >>> a = representation_activations([tf.ones([2, 3]), tf.zeros([2, 1, 2])])
    >>> a.features.numpy().tolist(), int(a.num_features)
    ([0, 1, 2, 0, 1, 2, 3, 4, 3, 4], 5)
    """
    features, offset = [], tf.constant(0)
    for tensor in tensors:
        shape = tf.shape(tensor)
        per_example = tf.reduce_prod(shape[1:])
        features.append(tf.tile(tf.range(per_example), shape[:1]) + offset)
        offset += per_example
    return Activations(_flatten(tensors, tensors), tf.concat(features, axis=0), offset)


def gradient_statistics(task_names, matrix):
    """`grad_norm_<task>` and `grad_cos_<a>_<b>` entries from a (T, N) gradient matrix."""
    norms = tf.norm(matrix, axis=1)
    unit = matrix / tf.maximum(norms[:, None], 1e-12)
    cosines = tf.matmul(unit, unit, transpose_b=True)
    logs = {f"grad_norm_{name}": norms[i] for i, name in enumerate(task_names)}
    for (i, a), (j, b) in itertools.combinations(enumerate(task_names), 2):
        logs[f"grad_cos_{a}_{b}"] = cosines[i, j]
    return logs


class TaskGradients:
    """Computes per-task gradients inside `MultiTaskModel.train_step` and applies the
    aggregated update.

    Args:
        model: the compiled `MultiTaskModel`.
    """

    def __init__(self, model):
        self.model = model
        self.statistics = self.statistics_waiting = False
        self.statistics_layer = self.statistics_columns = None
        self.sharing = analyse_sharing(model)
        shared = {id(v) for v in self.sharing.shared_variables}
        self.other_variables = [v for v in model.trainable_variables if id(v) not in shared]
        self._trainable_ids = [id(v) for v in model.trainable_variables]
        self._split_models = None

    def for_trainable_now(self):
        """These per-task gradients, or, when the model's trainable variables changed since
        (layers frozen or unfrozen), new ones over the variables the tasks share now, with
        the same statistics request."""
        if [id(v) for v in self.model.trainable_variables] == self._trainable_ids:
            return self
        fresh = TaskGradients(self.model)
        if self.statistics:
            fresh.request_statistics(self.statistics_layer)
        return fresh

    def request_statistics(self, layer=None):
        """Turns gradient statistics on (over one shared layer's parameters if `layer`).

        When the parameters they cover are frozen now but shared by two or more tasks once
        unfrozen (`mtl_zoo.unfreeze_at`), the request waits (`statistics_waiting`): the
        train step logs no statistics until `for_trainable_now` finds those layers trainable.

        Returns whether anything changed, i.e. whether the train step must be traced again.
        """
        if layer is not None and self.uses_representation:
            raise ValueError("Per-layer gradient statistics need parameter gradients; the "
                             "aggregator works in representation mode.")
        waiting = self._waits_for_unfreezing(layer)
        columns = None if layer is None or waiting else self._layer_columns(layer)
        if self.statistics:
            if self.statistics_layer != layer:
                raise ValueError("Gradient statistics are already requested over other parameters; "
                                 "use one scope (a layer, or the whole trunk) per training run.")
            return False
        self.statistics, self.statistics_layer, self.statistics_columns = True, layer, columns
        self.statistics_waiting = waiting
        return True

    def _waits_for_unfreezing(self, layer):
        """Whether statistics over `layer` (None: every shared parameter) must wait for frozen
        shared layers to be unfrozen; raises when there is nothing to wait for."""
        frozen = frozen_shared_layers(self.model)
        if layer is None:
            if self.has_shared_parameters:
                return False
            if frozen:
                return True
            raise ValueError(
                "This model has no trainable variables shared by two or more tasks, so there "
                "are no per-task gradients to compare (single task, or separate towers).")
        return layer in frozen

    def _layer_columns(self, layer):
        variables = {id(v) for v in self.model.get_layer(layer).trainable_variables}
        shared = self.sharing.shared_variables
        if not variables or not variables <= {id(v) for v in shared}:
            raise ValueError(f"Layer {layer!r} is not a shared layer with parameters; shared layers "
                             "feed two or more tasks (mtl_zoo.graph.analyse_sharing lists them).")
        return np.concatenate([np.full(int(np.prod(v.shape)), id(v) in variables) for v in shared])

    @property
    def has_shared_parameters(self):
        """Whether two or more tasks share trainable variables. Without any (e.g. soft
        sharing's separate towers), each variable gets one task's gradient, the
        aggregators have nothing to combine, and the plain train step is exact."""
        return bool(self.sharing.shared_variables)

    @property
    def needed(self):
        """Whether the train step must compute per-task gradients: for the aggregator, or for
        statistics that are not waiting for frozen layers; and there are shared parameters."""
        return self.has_shared_parameters and (
            self.model.aggregator is not None or (self.statistics and not self.statistics_waiting))

    @property
    def uses_representation(self):
        aggregator = self.model.aggregator
        return aggregator is not None and aggregator.mode == "representation"

    def split_models(self):
        """`(trunk, heads)`: the model's graph up to the shared representation tensors, and
        from them to the outputs, so that the heads can read copies of the representation.

        The representation tensors may depend on one another (the classifier reads the last
        backbone stage, the dense heads a pyramid level computed from it): the gradient of
        the loss with respect to a tensor that the trunk goes on using would count the paths
        through the later tensors twice when it is back-propagated. The heads read copies
        that only they use, whose gradients are the partial derivatives that the chain rule
        through `trunk` needs.
        """
        if self._split_models is None:
            import keras

            trunk = keras.Model(self.model.inputs, list(self.sharing.representation))
            heads = keras.Model(list(self.sharing.representation), self.model.output)
            self._split_models = trunk, heads
        return self._split_models

    def train_step(self, x, y, sample_weight, pairs=None):
        """The model's train step with per-task gradients; `pairs` from `model.checked_batch`."""
        model = self.model
        optimizer = model.optimizer
        strategy = tf.distribute.get_strategy()
        replicas = strategy.num_replicas_in_sync
        with tf.GradientTape(persistent=True) as tape:
            if self.uses_representation:
                trunk, heads = self.split_models()
                representation = tf.nest.flatten(trunk(x, training=True))
                read_by_heads = [tf.identity(t) for t in representation]
                y_pred = heads(read_by_heads, training=True)
            else:
                y_pred = model(x, training=True)
            task_losses, pairs = model.compute_task_losses(y, y_pred, sample_weight, pairs)
            labelled = model.labelled_tasks(pairs)
            total = model.weighted_loss(task_losses, labelled)
            scaled_total = optimizer.scale_loss(total / replicas)
            scaled_tasks = {name: optimizer.scale_loss(term / replicas)
                            for name, term in model.weighted_task_terms(task_losses, labelled).items()}
            regularization = (optimizer.scale_loss(tf.add_n(model.losses) / replicas)
                              if model.losses else None)
        shared = self.sharing.shared_variables
        other_gradients = tape.gradient(scaled_total, self.other_variables)
        activations = None
        if self.uses_representation:
            # each replica holds its own examples' gradients: gather every tensor along the
            # batch, so that the matrix has the columns (and their order) of one device
            global_representation = [gather_over_replicas(t, axis=0)[0] for t in representation]
            start = gather_over_replicas(representation[0], axis=0)[1]
            targets, like = read_by_heads, global_representation
            if model.aggregator.uses_activations:
                activations = representation_activations(global_representation)
        else:
            targets, like = shared, shared
        rows = []
        for name in model.task_names:
            gradients = tape.gradient(scaled_tasks[name], targets) if name in scaled_tasks else [None] * len(targets)
            if self.uses_representation:
                gradients = [gather_over_replicas(g if g is not None else tf.zeros_like(t), axis=0)[0]
                             for g, t in zip(gradients, targets)]
            rows.append(_flatten(gradients, like))
        matrix = tf.stack(rows)
        if not self.uses_representation:
            matrix = sum_over_replicas(matrix)
        loss_scale = optimizer.scale_loss(tf.constant(1.0))
        matrix = matrix / loss_scale
        direction = self._combine(matrix, task_losses, labelled, activations) * loss_scale
        if self.uses_representation:
            own = [tf.cast(t[start:start + tf.shape(local)[0]], local.dtype)
                   for t, local in zip(_unflatten(direction, like), representation)]
            shared_gradients = tape.gradient(representation, shared, output_gradients=own)
        else:
            shared_gradients = _unflatten(direction / replicas, shared)
        if regularization is not None:
            extra = tape.gradient(regularization, shared)
            shared_gradients = [g if e is None else g + e for g, e in zip(shared_gradients, extra)]
        del tape
        by_variable = {id(v): g for v, g in zip(self.other_variables + shared,
                                                list(other_gradients) + list(shared_gradients))}
        # the model's own variable order, so that the optimizer's slots match a reloaded model
        variables = model.trainable_variables
        gradients = [by_variable[id(v)] for v in variables]
        with after_all(gradients):  # the step counter too waits for the batch's checks
            optimizer.apply_gradients(zip(gradients, variables))
        logs = model._update_metrics(x, total, task_losses, pairs, y_pred)
        if self.statistics and not self.statistics_waiting:
            selected = matrix if self.statistics_columns is None else tf.boolean_mask(
                matrix, self.statistics_columns, axis=1)
            logs.update(gradient_statistics(model.task_names, selected))
        return logs

    def _combine(self, matrix, task_losses, labelled, activations=None):
        """The aggregated direction of the (T, N) gradient `matrix` (with the representation's
        `activations` in representation mode, for the methods that read them), or its plain
        sum when the aggregator has nothing to balance.

        A task with no labelled example in the global batch, or with alpha 0, has a
        zero row, which would wreck most aggregators (MGDA's min-norm point becomes 0,
        freezing the trunk), and a step whose gradients overflowed (mixed precision;
        the optimizer skips it) would poison the state of the stateful ones: such
        steps take the plain sum.
        """
        aggregator = self.model.aggregator
        plain_sum = tf.reduce_sum(matrix, axis=0)
        if aggregator is None:
            return plain_sum
        balanced = tf.stack([tf.logical_and(labelled[name], tf.convert_to_tensor(self.model.alpha(name)) > 0)
                             if name in labelled else tf.constant(False)
                             for name in self.model.task_names])
        usable = tf.logical_and(tf.reduce_all(balanced), tf.reduce_all(tf.math.is_finite(matrix)))
        # each replica's loss is R * its own sum / the global count: their mean is the
        # global batch's loss, which the loss-normalised methods must all see alike
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        losses = sum_over_replicas(tf.stack([tf.cast(task_losses.get(name, 0.0), tf.float32)
                                             for name in self.model.task_names])) / replicas
        step = self.model.optimizer.iterations
        return tf.cond(usable, lambda: aggregator(matrix, losses, step, activations), lambda: plain_sum)
