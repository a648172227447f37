"""`MultiTaskModel`: the Keras model that owns the tasks, their weights and the train step."""

import inspect
import math
import os
import warnings
import zipfile
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from mtl_zoo.batch_guard import with_guarded_callbacks
from mtl_zoo.checks import warn_if_unit_range
from mtl_zoo.distribution import check_xla_replicas, is_multi_worker, sum_over_replicas
from mtl_zoo.export.saved_model import saved_model as export_saved_model
from mtl_zoo.files import staged_file
from mtl_zoo.freezing import check_rate_setting_callbacks
from mtl_zoo.graph import frozen_shared_layers
from mtl_zoo.naming import did_you_mean, repeated, unknown_name_error
from mtl_zoo.step_order import after_all
from mtl_zoo.tasks import deserialize_task, get_task, serialize_task
from mtl_zoo.weighting.aggregator import GradientAggregator
from mtl_zoo.weighting.task_gradients import TaskGradients
from mtl_zoo.weighting.uncertainty import uncertainty_forms, uncertainty_weighted_loss

AGGREGATOR_STATE_KEY = "aggregator_state_"  # weight-file keys of the aggregator's state


def check_task_names(tasks):
    """A ValueError unless `tasks` is non-empty and every task has its own name.

    Example:
    >>> from mtl_zoo.tasks import Classification
    >>> check_task_names([Classification("digit", 10), Classification("digit", 2)])
    Traceback (most recent call last):
    ...
    ValueError: Duplicate task names ['digit']: every task needs its own name, since it keys the labels and prefixes the outputs (e.g. 'objects' and 'objects_coarse').
    """
    names = [task.name for task in tasks]
    duplicates = repeated(names)
    if duplicates:
        raise ValueError(
            f"Duplicate task names {duplicates}: every task needs its own name, since it keys "
            "the labels and prefixes the outputs (e.g. 'objects' and 'objects_coarse').")
    if not tasks:
        raise ValueError("A multi-task model needs at least one task.")
    owners = {}
    for task in tasks:
        for name in sorted(_names_of_task(task)):
            if owners.setdefault(name, task.name) != task.name:
                raise ValueError(
                    f"Tasks {owners[name]!r} and {task.name!r} would both name an output or a "
                    f"logged metric {name!r} (each task's names are its name + '_' + an output "
                    "or metric key), so one would replace the other. Rename one of the tasks.")


def _names_of_task(task):
    """The model output names and logged metric names a task brings."""
    return ({task.output_name(key) for key in task.output_keys} | {f"{task.name}_loss"}
            | {metric.name for metric in task.build_metrics()})


def checked_task_weights(weights, names, what="task_weights"):
    """`{task_name: float}` from a dict by task name or a list in task order, after checks of
    every name and value (a ValueError saying what is wrong, before anything is used).

    Example:
    >>> checked_task_weights([1, 0.5], ["action", "pose"])
    {'action': 1.0, 'pose': 0.5}
    >>> checked_task_weights({"pse": 0.5}, ["action", "pose"])
    Traceback (most recent call last):
    ...
    ValueError: task_weights names unknown task 'pse'. Did you mean 'pose'? The tasks are ['action', 'pose'].
    """
    if isinstance(weights, dict):
        by_name = weights
    elif isinstance(weights, (list, tuple, np.ndarray)):
        if len(weights) != len(names):
            raise ValueError(f"{what} holds {len(weights)} value(s) for the {len(names)} tasks "
                             f"{names}: give one per task, in task order, or a dict by task name.")
        by_name = dict(zip(names, weights))
    else:
        raise ValueError(f"{what} must be a dict {{task_name: weight}} or a list of one weight "
                         f"per task {names}, got {type(weights).__name__} {weights!r}.")
    for name in by_name:
        if name not in names:
            raise ValueError(f"{what} names unknown task {name!r}.{did_you_mean(name, names)} "
                             f"The tasks are {names}.")
    return {name: checked_task_weight(name, value) for name, value in by_name.items()}


def _initial_task_weights(task_weights, names):
    given = {} if task_weights is None else checked_task_weights(task_weights, names)
    return {name: given.get(name, 1.0) for name in names}


def _checked_mask(task_name, mask, batch, static_batch=None):
    """`mask` as a float32 (batch,) vector, after checks of its length (when traced, if the
    sizes are known, else at run time) and of its values (at run time)."""
    mask = tf.cast(mask, tf.float32)
    what = f"The mask of task {task_name!r}"
    size = mask.shape.num_elements()
    if size is not None and static_batch is not None and size != static_batch:
        raise ValueError(f"{what} must hold one value per example of the batch, as many as its "
                         f"labels: it has {size} for {static_batch}.")
    checks = [
        tf.debugging.assert_equal(tf.size(mask), batch, message=(
            f"{what} must hold one value per example of the batch, as many as its labels.")),
        tf.debugging.assert_equal(tf.reduce_all(tf.math.is_finite(mask) & (mask >= 0)), True,
                                  message=f"{what} must be finite and >= 0 (1: labelled, 0: not)."),
    ]
    with tf.control_dependencies(checks):
        return tf.reshape(mask, [-1])


def _unlabelled_mask_check(task_name, mask):
    """A run-time check that the mask of a task absent from the labels is all zeros: a
    non-zero value would claim labelled examples whose targets were never passed."""
    mask = tf.cast(mask, tf.float32)
    return tf.debugging.assert_equal(tf.reduce_all(tf.equal(mask, 0.0)), True, message=(
        f"The labels lack task {task_name!r}, but its mask is not all zeros: pass its targets "
        "for the examples the mask marks as labelled, or set their mask to 0."))


def _one_per_image(task_name):
    return (f"The targets of task {task_name!r} must hold one example per image of the batch "
            "(the labels and the images of a batch must line up)")


def _batch_size_check(task_name, targets, images):
    """A check that a task's targets hold one example per image of the batch: a ValueError
    when both sizes are known when the step is traced, else a run-time assertion."""
    first = tf.convert_to_tensor(tf.nest.flatten(targets)[0])
    what = _one_per_image(task_name)
    labelled, batch = first.shape[0], images.shape[0]
    if labelled is not None and batch is not None and labelled != batch:
        raise ValueError(f"{what}: they hold {labelled} for {batch} images.")
    return tf.debugging.assert_equal(tf.shape(first)[0], tf.shape(images)[0],
                                     message=f"{what} (x: the targets', y: the images').")


def checked_task_weight(name, value):
    """`value` as a float if it is a finite number >= 0, else a ValueError naming the task.

    Example:
    >>> checked_task_weight("pose", 0.5)
    0.5
    """
    problem = ValueError(f"Task weight of {name!r} must be a finite number >= 0, got {value!r}.")
    if isinstance(value, (str, bytes)):
        raise problem
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise problem from None
    if not math.isfinite(weight) or weight < 0:
        raise problem
    return weight


class TaskBatch(NamedTuple):
    """One task's part of a batch: its targets, its (batch,) mask of labelled examples, and
    the mask's sum over the replicas (the task's labelled examples in the global batch),
    all-reduced once per step for the loss, the task balancing and the loss trackers.

    Example:
    >>> part = TaskBatch("count", tf.constant([2, 0]), tf.constant([1.0, 0.0]), tf.constant(1.0))
    >>> float(part.global_count)
    1.0
    """

    task: object
    targets: object
    mask: tf.Tensor
    global_count: tf.Tensor


@keras.saving.register_keras_serializable(package="mtl_zoo")
class MultiTaskModel(keras.Model):
    """A functional model with one head per task, trained on the weighted sum of task losses.

    The model's outputs are a flat dict named `f"{task}_{key}"`. Each task has
    a non-trainable weight alpha_i (saved with the model, settable by
    callbacks) and the training loss is L = sum_i alpha_i * L_i plus any layer
    losses. Labels are a dict `{task_name: targets}` of encoded targets (see
    `encode_labels`). Per-example task masks come in the sample-weight slot,
    `(images, labels, {task_name: (batch,) 0/1 mask})`: a masked example adds
    neither loss nor metric updates for that task; a task absent from the
    labels must have a mask.

    Usually built by `mtl_zoo.build_model`; any functional graph whose outputs
    include every task's outputs works. `compile(aggregator=...)` combines the
    per-task gradients of the shared trunk (`mtl_zoo.weighting`). The
    non-trainable (3, T) variable `task_loss_history` holds the state of the
    loss-based weighting callbacks (initial, previous and last epoch losses).

    Args:
        inputs: the image input (a `keras.Input`).
        outputs: the flat dict of head outputs.
        tasks: `Task` instances (or dicts with a "kind" key).
        task_weights: initial alphas, a dict by task name or a list; default 1.
        uncertainty_weighting: learn each task's weight as a trainable
            log-variance (Kendall et al. 2018): True for every task, or a dict
            `{task: "classification" | "regression"}` naming the tasks and forms.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> model.compile(optimizer="adam")
    >>> model.task_weights
    {'digit': 1.0}
    """

    def __init__(self, inputs, outputs, tasks, task_weights=None, uncertainty_weighting=None,
                 **kwargs):
        tasks = [get_task(task) for task in tasks]
        check_task_names(tasks)
        missing = sorted({task.output_name(key) for task in tasks for key in task.output_keys}
                         - set(outputs))
        if missing:
            raise ValueError(f"The outputs lack {missing}, which the tasks need.")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._task_list = tuple(tasks)
        self.image_shape = tuple(int(d) for d in self.input_shape[1:])
        initial = _initial_task_weights(task_weights, self.task_names)
        self._initial_task_weights = initial
        self._alphas = {
            name: self.add_weight(shape=(), initializer=keras.initializers.Constant(value),
                                  trainable=False, name=f"alpha_{name}")
            for name, value in initial.items()}
        self._uncertainty_forms = uncertainty_forms(tasks, uncertainty_weighting)
        self._log_variances = {
            name: self.add_weight(shape=(), initializer="zeros", trainable=True,
                                  name=f"log_variance_{name}")
            for name in self._uncertainty_forms}
        self.task_loss_history = self.add_weight(
            shape=(3, len(tasks)), initializer="zeros", trainable=False, name="task_loss_history")
        self._task_metrics = {}
        self._task_loss_trackers = {}
        self._total_loss_tracker = None
        self._aggregator = None
        self._task_gradients = None

    # -- tasks and their weights --------------------------------------------------------
    @property
    def tasks(self):
        """The model's tasks, in order."""
        return self._task_list

    @property
    def task_names(self):
        return [task.name for task in self._task_list]

    def get_task(self, name):
        for task in self._task_list:
            if task.name == name:
                return task
        raise unknown_name_error("task", name, self.task_names)

    def alpha(self, name):
        """The non-trainable variable holding task `name`'s loss weight."""
        if name not in self._alphas:
            raise unknown_name_error("task", name, self.task_names)
        return self._alphas[name]

    @property
    def task_weights(self):
        """The current alphas as `{task_name: float}`."""
        return {name: float(keras.ops.convert_to_numpy(v)) for name, v in self._alphas.items()}

    @property
    def uncertainty_weights(self):
        """The learned weights exp(-s_i) (times 1/2 for the regression form), by task."""
        return {name: float(keras.ops.convert_to_numpy(keras.ops.exp(-v))) *
                (1.0 if self._uncertainty_forms[name] == "classification" else 0.5)
                for name, v in self._log_variances.items()}

    def labelled_examples(self):
        """`{task_name: labelled examples trained or evaluated on so far this epoch}` (the
        mask total of each task's loss tracker; 0 before the first step of an epoch)."""
        return {name: float(keras.ops.convert_to_numpy(tracker.count))
                for name, tracker in self._task_loss_trackers.items()}

    def set_task_weights(self, weights):
        """Assigns alphas from `{task_name: value}` or a list in task order (finite values
        >= 0); tasks a dict leaves out keep theirs. Every name and value is checked before
        any is assigned."""
        checked = checked_task_weights(weights, self.task_names, what="set_task_weights")
        for name, value in checked.items():
            self.alpha(name).assign(value)

    # -- compile and metrics --------------------------------------------------------------
    def compile(self, optimizer="rmsprop", aggregator=None, jit_compile=False, **kwargs):
        """Configures training; each task brings its own loss and metrics.

        Args:
            optimizer: as for `keras.Model.compile`.
            aggregator: an optional `mtl_zoo.weighting` gradient aggregator
                (PCGrad, MGDA, ...) that combines the per-task gradients of the
                shared trunk instead of summing them.
            jit_compile: XLA compilation of the train step. Off by default: on
                the CPU measured XLA's steps were 2-4x slower than TensorFlow's
                oneDNN kernels (BENCHMARKS.md, `cpu_kernels`), and XLA ignores
                TensorFlow's run-time assertions, so the train and test steps'
                label checks (class ids in range, one mask value per example, ...)
                do not run: a warning says so. Train a first epoch without it to
                check the data. Refused under MirroredStrategy over CPU devices,
                where TensorFlow's XLA cannot run (`check_xla_replicas`).
            **kwargs: other `keras.Model.compile` arguments, except `loss`,
                `loss_weights` and `metrics`, which the tasks define.
        """
        for argument in ("loss", "loss_weights", "metrics", "weighted_metrics"):
            if kwargs.get(argument) is not None:
                raise ValueError(
                    f"MultiTaskModel.compile got {argument}=...: the losses and metrics come "
                    "from the tasks, and the loss weights are the task weights "
                    "(build_model(task_weights=...) or model.set_task_weights).")
        if jit_compile is True and not kwargs.get("run_eagerly"):  # "auto" is off under a strategy
            check_xla_replicas(self.distribute_strategy)  # before anything is set
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if self.jit_compile:
            warnings.warn("MultiTaskModel.compile(jit_compile=True): XLA ignores TensorFlow's run-time "
                          "assertions, so the train and test steps do not check the labels (class ids "
                          "in range, one mask value per example, ...). Train a first epoch without "
                          "jit_compile to check the data.", stacklevel=2)
        # Building the optimizer now spares a second trace of the train step (variables
        # created inside the first trace make tf.function trace again).
        self.optimizer.build(self.trainable_variables)
        self._total_loss_tracker = keras.metrics.Mean(name="loss")
        self._task_loss_trackers = {t.name: keras.metrics.Mean(name=f"{t.name}_loss") for t in self.tasks}
        self._task_metrics = {t.name: t.build_metrics() for t in self.tasks}
        self._aggregator = None
        self._task_gradients = None
        if aggregator is not None:
            self._set_aggregator(aggregator)

    def _set_aggregator(self, aggregator):
        if not isinstance(aggregator, GradientAggregator):
            raise ValueError(f"aggregator must be a mtl_zoo.weighting gradient aggregator "
                             f"(e.g. mz.weighting.PCGrad()), got {aggregator!r}.")
        aggregator.build(len(self.tasks))
        self._task_gradients = TaskGradients(self)
        self._aggregator = aggregator
        if not self._task_gradients.has_shared_parameters:
            reason = ("while the layers that its tasks share are frozen; once they are unfrozen between "
                      "epochs (mz.unfreeze_at), it combines their gradients" if frozen_shared_layers(self)
                      else "separate towers, as in soft sharing")
            warnings.warn(f"{type(aggregator).__name__}: no trainable variable of this model is shared "
                          f"by two or more tasks ({reason}), so there are no per-task gradients to "
                          "combine; training uses the weighted sum of the losses.", stacklevel=3)

    @property
    def aggregator(self):
        """The gradient aggregator given to `compile`, or None (plain weighted sum)."""
        return getattr(self, "_aggregator", None)

    def request_gradient_statistics(self, layer=None):
        """Makes each train step compute per-task gradients of the shared trunk and log
        their norms (`grad_norm_<task>`) and pairwise cosines (`grad_cos_<a>_<b>`).

        Costs one backward pass per task. Called by callbacks that need them
        (GradNorm, GradientConflictMonitor) before training starts.

        While the shared layers they cover are frozen (a preset's trunk before
        `mtl_zoo.unfreeze_at` unfreezes it), the steps log no statistics: they
        start with the first step after the unfreezing, and a warning says so (and
        another when training ends with them still frozen). Without `layer` they
        cover the shared parameters trainable at the time: a staged unfreezing
        widens them stage by stage.

        Args:
            layer: optional name of one shared layer: the statistics then cover
                only its parameters (e.g. GradNorm's "last shared layer").
        """
        if self._total_loss_tracker is None:
            raise RuntimeError("Compile the model before requesting gradient statistics.")
        task_gradients = self._task_gradients or TaskGradients(self)
        if task_gradients.request_statistics(layer):  # a bad request changes nothing
            self._task_gradients = task_gradients
            self.make_train_function(force=True)
            if self._task_gradients.statistics_waiting:
                warnings.warn(
                    f"Gradient statistics: the shared layers they cover are frozen "
                    f"({', '.join([layer] if layer else frozen_shared_layers(self))}), so the train steps log none (and "
                    "GradNorm keeps the task weights) until those layers are unfrozen between epochs "
                    "(mz.unfreeze_at).", stacklevel=2)

    def release_gradient_statistics(self):
        """Turns the statistics of `request_gradient_statistics` off again, so that later
        `fit` calls without the callback that asked for them train with the plain step (or
        the aggregator's). The callbacks call it as training ends."""
        if self._task_gradients is None or not self._task_gradients.statistics:
            return
        if self._task_gradients.statistics_waiting:
            warnings.warn("Gradient statistics: the shared layers they cover stayed frozen, so no train "
                          "step computed any (GradNorm kept the task weights): unfreeze them between "
                          "epochs with mz.unfreeze_at.", stacklevel=2)
        if self._aggregator is None:
            self._task_gradients = None
        else:
            gradients = self._task_gradients
            gradients.statistics = gradients.statistics_waiting = False
            gradients.statistics_layer = gradients.statistics_columns = None
        self.make_train_function(force=True)

    def make_train_function(self, force=False):
        """Keras's. With `force`, as after setting layers `trainable` between epochs (Keras's
        advice; `mtl_zoo.unfreeze_at` does), the per-task gradients of an aggregator or of
        gradient statistics also follow the variables trainable now: the trunk layers that
        the tasks share and that were frozen get the aggregated gradient once unfrozen."""
        if force and self._task_gradients is not None:
            self._task_gradients = self._task_gradients.for_trainable_now()
        return super().make_train_function(force)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, but data that gives no batch in an epoch is a ValueError, raised
        before any other callback sees the empty epoch (`mtl_zoo.batch_guard`), and so is a
        callback that would fail to set a scheduled learning rate partway through
        (`mtl_zoo.freezing.check_rate_setting_callbacks`), before training."""
        args, kwargs = _with_array_masks(super().fit, *with_guarded_callbacks(super().fit, args, kwargs))
        _warn_if_unit_range_images(super().fit, args, kwargs)
        if getattr(self, "optimizer", None) is not None:
            callbacks = inspect.signature(super().fit).bind(*args, **kwargs).arguments["callbacks"]
            check_rate_setting_callbacks(self.optimizer, callbacks)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, but data that gives no batch is a ValueError
        (`mtl_zoo.batch_guard`)."""
        args, kwargs = _with_array_masks(super().evaluate, *with_guarded_callbacks(super().evaluate, args, kwargs))
        _warn_if_unit_range_images(super().evaluate, args, kwargs)
        return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        """`keras.Model.predict`, but data that gives no batch is a ValueError
        (`mtl_zoo.batch_guard`) instead of an UnboundLocalError from Keras's loop."""
        args, kwargs = with_guarded_callbacks(super().predict, args, kwargs)
        _warn_if_unit_range_images(super().predict, args, kwargs)
        return super().predict(*args, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config() or {}
        if self.aggregator is not None:
            config["aggregator"] = keras.saving.serialize_keras_object(self.aggregator)
        return config

    def compile_from_config(self, config):
        """Recompiles a loaded model with its saved optimizer (used by `load_model`)."""
        config = dict(config)
        aggregator = config.pop("aggregator", None)
        config = keras.saving.deserialize_keras_object(config)
        if aggregator is not None:
            config["aggregator"] = keras.saving.deserialize_keras_object(aggregator)
        self.compile(**config)

    # -- saving: the aggregator's state travels with the model's own variables ----------
    def _aggregator_state(self):
        return list(self.aggregator.state_variables) if self.aggregator is not None else []

    def save(self, filepath, overwrite=True, **kwargs):
        """`keras.Model.save` to a `.keras` archive, written whole or not at all: a local file
        is written beside its path and renamed into place, so a failed save leaves no
        half-written file. Keras's legacy `.h5` format, which cannot hold a multi-task
        model's tasks, is refused before anything is written.

        Example:
        >>> model.save("runs/m.keras")  # doctest: +SKIP
        """
        if str(filepath).endswith((".h5", ".hdf5")):
            raise ValueError(f"Cannot save to {filepath}: Keras's legacy HDF5 format cannot hold a multi-task "
                             "model. Save a .keras file (model.save('name.keras')), or the weights alone "
                             "(model.save_weights('name.weights.h5')).")
        if "://" in str(filepath) or not str(filepath).endswith(".keras") or kwargs.get("zipped") is False:
            return super().save(filepath, overwrite=overwrite, **kwargs)  # Keras's own checks and writing
        if not overwrite and os.path.exists(filepath):
            return super().save(filepath, overwrite=False, **kwargs)  # Keras asks or refuses
        with staged_file(filepath) as staging:
            return super().save(staging, **kwargs)

    def save_own_variables(self, store):
        """The model's own variables (alphas, log-variances, loss history), then the
        aggregator's state (GradVac's targets) under `aggregator_state_<i>`, so that
        `.keras` files, `save_weights` and training backups keep it."""
        super().save_own_variables(store)
        for i, variable in enumerate(self._aggregator_state()):
            store[f"{AGGREGATOR_STATE_KEY}{i}"] = variable

    def load_own_variables(self, store):
        """Loads what `save_own_variables` wrote. A file without aggregator state (saved
        before 2026-12-05, or by a model compiled otherwise) leaves the aggregator's state
        as compiling made it, with a warning when this aggregator keeps state."""
        keys = list(store.keys())
        super().load_own_variables({key: store[key] for key in keys
                                    if not key.startswith(AGGREGATOR_STATE_KEY)})
        saved = [store[f"{AGGREGATOR_STATE_KEY}{i}"] for i in range(
            sum(key.startswith(AGGREGATOR_STATE_KEY) for key in keys))]
        state = self._aggregator_state()
        if [tuple(v.shape) for v in state] == [tuple(np.shape(value)) for value in saved]:
            for variable, value in zip(state, saved):
                variable.assign(value)
        elif state:
            warnings.warn(f"The weights hold no state of {type(self.aggregator).__name__} (saved "
                          f"without it, or from another aggregator): it starts afresh.", stacklevel=2)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Builds the model from one batch's shapes before `fit` / `evaluate` starts.

        Under a tf.distribute strategy Keras reads a batch for this, which starts
        one pass over the dataset: a dataset that reshuffles each iteration then
        gives every epoch the order of the next one, unlike a single-device run,
        which skips this step. A compiled MultiTaskModel has nothing left to build
        (functional graph, optimizer built by `compile`, no compiled losses or
        metrics), so the data is left alone then.

        Otherwise Keras takes the shapes from `strategy.reduce("MEAN", batch)`: an
        eager cross-replica reduction that MultiWorkerMirroredStrategy cannot do
        outside a function (keras-team/keras issue 20585). Only shapes matter here,
        and the first local replica's batch has them, so that batch is used instead.
        """
        if iterator is None or self._distribute_strategy is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        if (all(layer.built for layer in self._flatten_layers())
                and getattr(self._compile_loss, "built", True)
                and getattr(self._compile_metrics, "built", True)
                and (self.optimizer is None or self.optimizer.built)):
            return None
        for _, _, batches in iterator:
            batch = tf.nest.map_structure(
                lambda value: (self.distribute_strategy.experimental_local_results(value)[0]
                               if isinstance(value, tf.distribute.DistributedValues) else value),
                next(batches))
            return super()._maybe_symbolic_build(data_batch=batch)
        return None

    def _make_function(self, step_function):
        """Keras's train / test function, with each step held back until its batch exists.

        At the end of an epoch of unknown length Keras calls the step once more
        and stops on the end-of-data error. Step ops that do not read the batch,
        above all the optimizer's `iterations.assign_add(1)`, could run before that
        error: under MultiWorkerMirroredStrategy, whose `get_next` first counts the
        workers with data in a collective, they did, so every epoch added one to
        `iterations` and shifted Adam's bias correction, learning-rate schedules and
        the aggregators' step seeds away from a single-device run. A control
        dependency on the batch stops that.

        Across workers Keras also reduces each step's logs with `strategy.reduce("MEAN",
        value, axis=0)`, which fails on scalars (keras-team/keras issue 20585);
        giving every logged value a leading axis of length 1 makes that reduction
        the plain mean over replicas.
        """
        batched_logs = is_multi_worker(self.distribute_strategy)

        def step_after_its_batch(data):
            with tf.control_dependencies(
                    [t for t in tf.nest.flatten(data, expand_composites=True) if tf.is_tensor(t)]):
                logs = step_function(data)
            if batched_logs:
                logs = tf.nest.map_structure(lambda value: tf.expand_dims(value, 0), logs)
            return logs

        return super()._make_function(step_after_its_batch)

    @property
    def metrics(self):
        if self._total_loss_tracker is None:
            return []
        metrics = [self._total_loss_tracker]
        for task in self.tasks:
            metrics.append(self._task_loss_trackers[task.name])
            metrics.extend(self._task_metrics[task.name])
        return metrics

    # -- labels -----------------------------------------------------------------------------
    def encode_labels(self, labels):
        """Raw labels of ONE example `{task: raw}` to targets `{task: encoded}` (tf ops).

        Use it in `tf.data.Dataset.map` before batching. Tasks absent from
        `labels` are left out (give them a mask when training). A batch of labels
        is refused with an error that names the task (see `encode_label_batch`).

        Example:
        >>> import mtl_zoo as mz
        >>> model = mz.build_model("tiny", [mz.tasks.Classification("kind", 3)], (32, 32, 3))
        >>> int(model.encode_labels({"kind": 2})["kind"])
        2
        """
        return {task.name: task.encode(raw, self.image_shape) for task, raw in self._raw_labels_by_task(labels)}

    def encode_label_batch(self, labels):
        """Raw labels of a padded batch `{task: raw}` (each array with a leading batch axis,
        instances padded as `mtl_zoo.data.build_pipeline` pads them) to batched targets.

        Example:
        >>> import mtl_zoo as mz
        >>> model = mz.build_model("tiny", [mz.tasks.Detection("objects", 2)], (32, 32, 3))
        >>> boxes = [[[0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]], [[0.2, 0.3, 0.9, 0.8], [0.5, 0.5, 0.7, 0.6]]]
        >>> targets = model.encode_label_batch({"objects": {"boxes": boxes, "classes": [[1, -1], [0, 1]]}})
        >>> targets["objects"]["heatmap"].shape, targets["objects"]["weights"].numpy().sum(axis=1).tolist()
        (TensorShape([2, 4, 4, 2]), [1.0, 2.0])
        """
        return {task.name: task.encode_batch(_checked_batch_of_raw_labels(task, raw), self.image_shape)
                for task, raw in self._raw_labels_by_task(labels)}

    def _raw_labels_by_task(self, labels):
        """`[(task, its raw labels)]` for the tasks `labels` has, after a check that it names
        no other."""
        if not isinstance(labels, dict):
            raise ValueError(f"Raw labels must be a dict {{task_name: raw}} with tasks {self.task_names}, "
                             f"got {type(labels).__name__}.")
        unknown = sorted(set(labels) - set(self.task_names))
        if unknown:
            raise ValueError(f"Labels for unknown tasks {unknown}; the model's tasks are {self.task_names}.")
        return [(task, labels[task.name]) for task in self.tasks if task.name in labels]

    def _targets_and_masks(self, y, sample_weight):
        """A `TaskBatch` per labelled task: its targets, a (batch,) mask and the mask's global
        count; checks labels at trace time."""
        if not isinstance(y, dict):
            raise ValueError(
                f"Labels must be a dict {{task_name: targets}} with tasks {self.task_names}, "
                f"got {type(y).__name__}.")
        unknown = sorted(set(y) - set(self.task_names))
        if unknown:
            raise ValueError(f"Labels for unknown tasks {unknown}; the model's tasks are {self.task_names}.")
        unknown = sorted(set(sample_weight) - set(self.task_names)) if isinstance(sample_weight, dict) else []
        if unknown:
            raise ValueError(f"Masks for unknown tasks {unknown}; the model's tasks are {self.task_names}.")
        pairs, unlabelled_checks = [], []
        for task in self.tasks:
            mask = sample_weight.get(task.name) if isinstance(sample_weight, dict) else sample_weight
            if isinstance(mask, (dict, list, tuple)):  # one copy per target array (`_with_array_masks`)
                mask = tf.nest.flatten(mask)[0]
            if task.name not in y:
                if mask is None:
                    raise ValueError(
                        f"The labels lack task {task.name!r} and no mask says so. Pass its targets, "
                        f"or a per-example mask in sample_weight={{{task.name!r}: zeros}} for data "
                        "that has no labels for it.")
                unlabelled_checks.append(_unlabelled_mask_check(task.name, mask))
                continue
            task.validate_targets(y[task.name])
            first = tf.convert_to_tensor(tf.nest.flatten(y[task.name])[0])
            if first.shape.rank == 0:  # a task whose validate_targets lets a scalar through
                raise ValueError(f"{_one_per_image(task.name)}; they are a scalar.")
            batch = tf.shape(first)[0]
            mask = (tf.ones([batch]) if mask is None
                    else _checked_mask(task.name, mask, batch, first.shape[0] if first.shape.rank else None))
            with tf.control_dependencies(task.target_checks(y[task.name], mask)):
                mask = tf.identity(mask)
            pairs.append(TaskBatch(task, y[task.name], mask, sum_over_replicas(tf.reduce_sum(mask))))
        if not pairs:
            raise ValueError(f"The labels cover none of the model's tasks {self.task_names}: pass "
                             "the targets of at least one.")
        if unlabelled_checks:
            with tf.control_dependencies(unlabelled_checks):
                pairs = [pair._replace(mask=tf.identity(pair.mask)) for pair in pairs]
        return pairs

    # -- losses and steps -----------------------------------------------------------------
    def checked_batch(self, x, y, sample_weight):
        """`(x, pairs)`: `pairs` as `compute_task_losses` returns them, and `x` made to wait
        for their run-time checks (masks, target values), so that a bad batch fails before
        the forward pass changes anything, batch-norm statistics included."""
        pairs = self._targets_and_masks(y, sample_weight)
        images = tf.nest.flatten(x)[0]
        checks = [_batch_size_check(pair.task.name, pair.targets, images) for pair in pairs]
        with tf.control_dependencies([pair.mask for pair in pairs] + checks):
            x = tf.nest.map_structure(tf.identity, x)
        return x, pairs

    def compute_task_losses(self, y, y_pred, sample_weight=None, pairs=None):
        """Returns `({task: loss}, [TaskBatch(task, targets, mask, global_count), ...])`.

        Each task's loss is its per-example loss averaged over the unmasked
        examples of the global batch. Under `tf.distribute`, the mask count is
        summed over replicas and each replica returns R * local sum / global
        count, so that the mean over the R replicas is the global-batch loss.
        `pairs` from `checked_batch` saves pairing `y` with the tasks again.
        """
        pairs = self._targets_and_masks(y, sample_weight) if pairs is None else pairs
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        losses = {}
        for task, targets, mask, global_count in pairs:
            per_example = tf.cast(task.per_example_loss(targets, task.own_outputs(y_pred)), tf.float32)
            total = tf.reduce_sum(per_example * mask)
            losses[task.name] = tf.math.divide_no_nan(total, global_count) * replicas
        return losses, pairs

    def labelled_tasks(self, pairs):
        """`{task_name: bool tensor}`: whether the global batch holds a labelled example
        (mask above 0) of each task of `pairs`, counted over every replica."""
        return {pair.task.name: pair.global_count > 0 for pair in pairs}

    def weighted_task_terms(self, task_losses, labelled=None):
        """Each task's term of the total loss: alpha_i * L_i.

        With uncertainty weighting, L_i is replaced by Kendall et al.'s
        exp(-s_i) L_i + s_i / 2 (halved for the regression form). That term is 0
        for a task that `labelled` (from `labelled_tasks`; None: every task is
        labelled) says has no labelled example in the batch: its s_i / 2 alone would
        push s_i down on every such batch, so a task labelled in few batches would
        learn too large a weight."""
        terms = {}
        for name, loss in task_losses.items():
            if name in self._log_variances:
                loss = uncertainty_weighted_loss(loss, self._log_variances[name],
                                                 self._uncertainty_forms[name])
                if labelled is not None:
                    loss = tf.where(labelled[name], loss, tf.zeros_like(loss))
            terms[name] = self._alphas[name] * loss
        return terms

    def weighted_loss(self, task_losses, labelled=None):
        """L = the sum of the weighted task terms plus the layers' own losses (regularisers)."""
        total = tf.add_n(list(self.weighted_task_terms(task_losses, labelled).values()) + [tf.constant(0.0)])
        if self.losses:
            total += tf.add_n([tf.cast(loss, tf.float32) for loss in self.losses])
        return total

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, pairs = self.checked_batch(x, y, sample_weight)
        if self._task_gradients is not None and self._task_gradients.needed:
            return self._task_gradients.train_step(x, y, sample_weight, pairs)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            task_losses, pairs = self.compute_task_losses(y, y_pred, sample_weight, pairs)
            total = self.weighted_loss(task_losses, self.labelled_tasks(pairs))
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(total / replicas)
        gradients = tape.gradient(scaled, self.trainable_variables)
        with after_all(gradients):  # the step counter too waits for the batch's checks
            self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._update_metrics(x, total, task_losses, pairs, y_pred)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, pairs = self.checked_batch(x, y, sample_weight)
        y_pred = self(x, training=False)
        task_losses, pairs = self.compute_task_losses(y, y_pred, sample_weight, pairs)
        total = self.weighted_loss(task_losses, self.labelled_tasks(pairs))
        return self._update_metrics(x, total, task_losses, pairs, y_pred)

    def _update_metrics(self, x, total, task_losses, pairs, y_pred):
        if self._total_loss_tracker is None:
            raise RuntimeError("Compile the model before training or evaluating it.")
        batch = sum_over_replicas(tf.cast(tf.shape(x)[0], tf.float32))
        self._total_loss_tracker.update_state(total, sample_weight=batch)
        for task, targets, mask, global_count in pairs:
            self._task_loss_trackers[task.name].update_state(task_losses[task.name],
                                                             sample_weight=global_count)
            # after the loss, whose checks (targets sized like the outputs, ...) fail first
            with tf.control_dependencies([task_losses[task.name]]):
                task.update_metrics(self._task_metrics[task.name], targets, task.own_outputs(y_pred), mask)
        return {metric.name: metric.result() for metric in self.metrics}

    # -- decoding -----------------------------------------------------------------------
    def decode(self, outputs):
        """Raw head outputs to `{task_name: {decoded values}}` (tf ops, graph-safe)."""
        missing = sorted(set(self.output_names) - set(outputs))
        if missing:
            raise ValueError(f"decode takes the model's raw outputs {sorted(self.output_names)}; "
                             f"missing {missing}. Pass what calling the model returns.")
        return {task.name: task.decode(task.own_outputs(outputs), self.image_shape)
                for task in self.tasks}

    def predict_decoded(self, images, batch_size=32, verbose=0):
        """Runs the model on raw 0-255 images and decodes every task.

        `verbose` is `predict`'s (1: a progress bar). Returns `{task_name:
        {name: numpy array}}`, e.g. class probabilities, boxes / classes /
        scores in input pixels, keypoints with scores.
        """
        images = np.asarray(images)
        if images.ndim == 3 and len(self.image_shape) == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[0] == 0:
            raise ValueError(f"predict_decoded takes a non-empty batch of images (N, H, W, C), "
                             f"got shape {images.shape}.")
        if images.shape[-1] != self.image_shape[-1]:
            raise ValueError(f"Images have {images.shape[-1]} channel(s), the model takes "
                             f"{self.image_shape[-1]}: convert them first (e.g. "
                             "tf.image.grayscale_to_rgb for grayscale images).")
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"Images have shape {images.shape[1:]}, the model takes "
                             f"{self.image_shape}: resize them first (tf.image.resize).")
        outputs = self.predict(images, batch_size=batch_size, verbose=verbose)
        decoded = self.decode({name: tf.convert_to_tensor(v) for name, v in outputs.items()})
        return tf.nest.map_structure(lambda t: t.numpy(), decoded)

    # -- export ---------------------------------------------------------------------------
    def export(self, filepath, format="serving", verbose=None, input_signature=None, **kwargs):
        """Exports for inference; `format="serving"` decodes every task in the graph.

        `"serving"` (the default) is `mtl_zoo.export.saved_model`: a SavedModel
        in `filepath/<version>/` (TF Serving's layout) whose `serving_default`
        takes uint8 images of any size and returns decoded, flat outputs, plus
        `serving_bytes` (encoded images) and `serving_raw`; images are resized
        as the input pipeline resizes them: pass the `resize` ("stretch", the
        default, or "letterbox") and `pad_value` the model was trained with.
        Keras's own formats ("tf_saved_model", "litert", "onnx", ...) go to
        `keras.Model.export` unchanged (raw outputs only).

        Args:
            filepath: the model's base folder ("serving") or Keras's artifact path.
            format: "serving" or a `keras.Model.export` format.
            verbose: print the endpoints.
            input_signature: Keras formats only; the serving signatures are fixed.
            **kwargs: "serving": `version=`, `resize=`, `pad_value=`
                (`mtl_zoo.export.saved_model`); otherwise passed to Keras.

        Returns:
            The version folder written ("serving"); Keras's return value otherwise.

        Example:
        >>> model.export("exports/shapes")  # doctest: +SKIP
        'exports/shapes/1'
        >>> model.export("exports/shapes", resize="letterbox")  # doctest: +SKIP
        'exports/shapes/2'
        """
        if format != "serving":
            return super().export(filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)
        if input_signature is not None:
            raise ValueError("format='serving' has fixed signatures (uint8 images of any size, "
                             "encoded bytes); input_signature is for Keras's formats such as "
                             "format='tf_saved_model'.")
        unknown = sorted(set(kwargs) - {"version", "resize", "pad_value"})
        if unknown:
            raise ValueError(f"format='serving' takes version=, resize= and pad_value= only, "
                             f"got {unknown}.")
        return export_saved_model(self, filepath, verbose=bool(verbose), **kwargs)

    # -- serialization --------------------------------------------------------------------
    def get_config(self):
        graph = keras.Model(self.inputs, self.output, name=self.name)
        return {**graph.get_config(), "tasks": [serialize_task(t) for t in self.tasks],
                "task_weights": self._initial_task_weights,
                "uncertainty_weighting": self._uncertainty_forms or None}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        tasks = [deserialize_task(task) for task in config.pop("tasks")]
        task_weights = config.pop("task_weights", None)
        uncertainty = config.pop("uncertainty_weighting", None)
        graph = keras.Model.from_config(config, custom_objects=custom_objects)
        return cls(inputs=graph.inputs[0], outputs=graph.output, tasks=tasks,
                   task_weights=task_weights, uncertainty_weighting=uncertainty,
                   name=config.get("name"))


def _warn_if_unit_range_images(method, args, kwargs):
    """`warn_if_unit_range` on the images of a `fit`, `evaluate` or `predict` call."""
    images = inspect.signature(method).bind(*args, **kwargs).arguments.get("x")
    warn_if_unit_range(images, f"The images given to {method.__name__}", stacklevel=4)  # the caller of fit


def _with_array_masks(method, args, kwargs):
    """`(args, kwargs)` of a `fit` or `evaluate` call with per-task masks `{task: (N,) mask}`
    next to arrays `y={task: targets}` (`sample_weight`, or the third element of
    `validation_data`) laid out as Keras takes them there (`_masks_laid_out_as`). A dataset
    carries the masks as a third element of its own."""
    bound = inspect.signature(method).bind(*args, **kwargs)
    y, masks = bound.arguments.get("y"), bound.arguments.get("sample_weight")
    if isinstance(y, dict) and isinstance(masks, dict):
        bound.arguments["sample_weight"] = _masks_laid_out_as(y, masks)
    validation = bound.arguments.get("validation_data")
    if isinstance(validation, (tuple, list)) and len(validation) == 3 and isinstance(validation[1], dict) \
            and isinstance(validation[2], dict):
        bound.arguments["validation_data"] = (*validation[:2], _masks_laid_out_as(*validation[1:]))
    return bound.args, bound.kwargs


def _masks_laid_out_as(y, masks):
    """Per-task masks `{task: (N,) mask}` in the structure of the arrays `y={task: targets}`:
    a task's mask repeated for each of its target arrays, all ones for a task of `y`
    without one (what Keras takes as `sample_weight` with arrays)."""
    unlabelled = sorted(set(masks) - set(y))
    if unlabelled:
        raise ValueError(f"The masks name {unlabelled}, which y does not label. With arrays, every "
                         "task needs targets in y; for data without some task's labels, pass fit a "
                         "dataset of (images, labels, masks), e.g. mz.data.dataset_from_arrays(model, images, "
                         "raw_labels, masks={task: mask}).")
    if not y:
        raise ValueError("y holds no task's targets: give {task_name: targets}.")
    count = len(tf.nest.flatten(y)[0])
    laid_out = {}
    for task, targets in y.items():
        if isinstance(masks.get(task), dict):  # laid out already (fit's own evaluate of validation_data)
            laid_out[task] = masks[task]
            continue
        mask = np.asarray(masks[task], "float32") if task in masks else np.ones(count, "float32")
        laid_out[task] = tf.nest.map_structure(lambda _: mask, targets)
    return laid_out


def _checked_batch_of_raw_labels(task, raw):
    """`raw` with its arrays as tensors, after checks that they form a padded batch of
    `task`'s raw labels: one shape per array, each example's (`task.example_label_ranks`)
    behind a leading batch axis, and at least one example."""
    def checked(key, value):
        where = f"Task {task.name!r}: the batch's {'labels' if key is None else repr(key)}"
        try:
            value = tf.convert_to_tensor(value)
        except ValueError as error:
            raise ValueError(f"{where} are not one array ({error}): pad each example's instances to the "
                             "longest (padding rows: class -1, visibility 0), as mz.data.raw_batches "
                             "does.") from None
        ranks = task.example_label_ranks.get(key)
        rank = value.shape.rank
        if ranks and rank is not None and (value.shape.num_elements() or rank == 0) and (
                rank - 1 not in ranks or (task.raw_label_is_map and rank == 3 and value.shape[-1] == 1)):
            raise ValueError(f"{where} have shape {tuple(value.shape)}; one example's have "
                             f"{' or '.join(map(str, ranks))} axes, and a batch one more in front. For one "
                             "example, use model.encode_labels.")
        if rank and value.shape[0] == 0:
            raise ValueError(f"{where} hold no example: encode a batch of one or more.")
        return value

    if isinstance(raw, dict):
        return {key: checked(key, value) for key, value in raw.items()}
    return checked(None, raw)


def load_model(path, compile=True):
    """Loads a `.keras` multi-task model in Keras's safe mode (no code runs from the file).

    With `compile=False` the model comes back without its optimizer (and its
    variables), e.g. to save its weights alone.

    Example:
    >>> model = load_model("m.keras")  # doctest: +SKIP

    Raises:
        ValueError: `path` does not exist, or exists but is not a `.keras` zip
            archive (e.g. a truncated copy or download), or is a folder (such as a
            SavedModel export).
    """
    if "://" not in str(path) and not os.path.exists(path):
        raise ValueError(f"File not found: {path}. Give the path of a model saved with "
                         "model.save('name.keras').")
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):  # not an unzipped .keras
        raise ValueError(f"{path} is a folder that holds no saved model; load_model takes a .keras file "
                         "(model.save('name.keras')). A SavedModel export (model.export) loads with "
                         "tf.saved_model.load(<its version folder>), or keras.layers.TFSMLayer for Keras.")
    if str(path).endswith(".keras") and os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras archive (a zip file): it is truncated or "
                         "corrupt. Save the model again, or copy or download it again.")
    return keras.saving.load_model(path, safe_mode=True, compile=compile)
