"""A preset's trained trunk under other tasks or another input size: `from_preset(name,
tasks=[...], input_shape=...)`.

The preset's tasks that are named again keep their trained heads; new tasks (a `Task`
or a task dict, also one named like a preset task, which it replaces) get fresh heads;
the preset's other tasks are left out. Weights go over layer by layer, by layer name,
where the shapes agree; what starts fresh is listed in the `Transfer` record.
"""

from typing import NamedTuple

from mtl_zoo.graph import layer_users
from mtl_zoo.naming import unknown_name_error


class Transfer(NamedTuple):
    """Which layers of a model got a preset's weights (`transfer_weights`).

    Attributes:
        copied: names of the layers whose weights came from the preset model.
        fresh: names of the layers with weights that kept their initial values: the heads
            of new tasks (and new pyramid levels, or a pyramid only a replaced task read),
            and the layers laid out by task (soft-sharing towers, cross-stitch units, PLE's
            shared gates) when the task lists differ.
        trunk: the copied layers that were the source's trunk (no head of one task; empty
            when the source has one task): to train only the heads first, set their
            `trainable` to False, then compile.

    Example:
    >>> Transfer(copied=["tiny_backbone", "digit_logits"], fresh=["sum_logits"],
    ...          trunk=["tiny_backbone"]).trunk
    ['tiny_backbone']
    """

    copied: list
    fresh: list
    trunk: list


def config_with_tasks(spec, tasks):
    """`(config, new task names)`: the `build_model` config of the preset `spec` with `tasks`.

    Args:
        spec: a checked preset dict (`load_preset`).
        tasks: a non-empty list; a string names a task of the preset, which keeps its
            config (and, through `transfer_weights`, its trained head); a `Task` or a task
            dict is a new task with a fresh head.

    The preset's static task weights and uncertainty weighting carry over for the tasks it
    keeps; new tasks start with weight 1 (with a per-task uncertainty dict, unweighted).

    Example:
    >>> from mtl_zoo.presets import load_preset
    >>> from mtl_zoo.tasks import Classification
    >>> spec = load_preset("mtl_shapes_tiny_cls_det_pose")[0]
    >>> config, new = config_with_tasks(spec, ["objects", Classification("scene", 3)])
    >>> config["tasks"][0]["kind"], config["tasks"][1], new
    ('detection', Classification(name='scene', num_classes=3, label_smoothing=0.0, top_k=3, class_names=None), ['scene'])
    """
    config = dict(spec["config"])
    if isinstance(tasks, (str, dict)) or not hasattr(tasks, "__iter__"):
        raise ValueError(f"tasks must be a list of preset task names and new tasks, got {tasks!r}.")
    tasks = list(tasks)
    if not tasks:
        raise ValueError(f"tasks is empty: name tasks of preset {spec['name']!r} "
                         f"({[task['name'] for task in config['tasks']]}) or give new ones.")
    preset_tasks = {task["name"]: task for task in config["tasks"]}
    chosen, new = [], []
    for task in tasks:
        if isinstance(task, str):
            if task not in preset_tasks:
                error = unknown_name_error("task name", task, preset_tasks)
                raise ValueError(f"{error} Those are the tasks of preset {spec['name']!r}; a new "
                                 "task is a mtl_zoo.tasks.Task or a task dict, not a name.")
            chosen.append(preset_tasks[task])
        else:
            chosen.append(task)
            new.append(task.get("name") if isinstance(task, dict) else getattr(task, "name", None))
    kept = {task for task in tasks if isinstance(task, str)}
    config["tasks"] = chosen
    if isinstance(config.get("task_weights"), dict):
        config["task_weights"] = {name: weight for name, weight in config["task_weights"].items()
                                  if name in kept} or None
    if isinstance(config.get("uncertainty_weighting"), dict):
        config["uncertainty_weighting"] = {name: form for name, form in
                                           config["uncertainty_weighting"].items() if name in kept} or None
    return config, new


def head_layers(model):
    """`{layer name: task name}` for the layers with weights that compute the outputs of one
    task only (`mtl_zoo.graph.layer_users`: from the graph, trainable or frozen). The other
    layers with weights form the trunk, a bank of per-task towers (soft sharing) among them.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10),
    ...                                 mz.tasks.Classification("parity", 2)], (32, 32, 3))
    >>> head_layers(model)
    {'digit_logits': 'digit', 'parity_logits': 'parity'}
    """
    with_weights = {layer.name for layer in model.layers if layer.weights}
    return {name: next(iter(users)) for name, users in layer_users(model).items()
            if len(users) == 1 and name in with_weights}


def trunk_layers(model):
    """Names of `model`'s layers with weights outside every task's head (`head_layers`):
    the layers two or more tasks read, or none when `model` has one task.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10),
    ...                                 mz.tasks.Classification("parity", 2)], (32, 32, 3))
    >>> trunk_layers(model)
    ['tiny_backbone']
    """
    heads = head_layers(model)
    return [layer.name for layer in model.layers if layer.weights and layer.name not in heads]


def transfer_weights(source, target, new_tasks=()):
    """Copies `source`'s weights into each layer of `target` that has a layer of the same
    name in `source`, except into the heads of tasks of `source` that `target` lacks or
    replaces (a task of `new_tasks`, names of `target`'s tasks), and except into layers laid
    out by task (`ordered_by_task`: soft-sharing towers, cross-stitch units, PLE's shared
    gates) when the two models' task lists differ. The learned log-variances of uncertainty weighting go over
    for the kept tasks. Either every such layer fits and all are copied, or nothing is.

    Returns:
        A `Transfer` record of the copied, the fresh and the trunk layers.

    Raises:
        ValueError: an unknown name in `new_tasks`; no trunk layer of `source` goes over;
            a layer to copy whose weight shapes differ (another input channel count, or
            a landmarks head at another input size); or `source` has one task, which
            `target` does not keep (its trunk cannot then be told from its head).

    Example:
    >>> import mtl_zoo as mz
    >>> def classifiers(*names):
    ...     return [mz.tasks.Classification(name, 10) for name in names]
    >>> digits = mz.build_model("tiny", classifiers("digit", "parity"), (32, 32, 3))
    >>> more = mz.build_model("tiny", classifiers("digit", "parity", "sum"), (32, 32, 3))
    >>> transfer = transfer_weights(digits, more, new_tasks=["sum"])
    >>> transfer.fresh, "digit_logits" in transfer.copied, transfer.trunk
    (['sum_logits'], True, ['tiny_backbone'])
    """
    unknown = [name for name in new_tasks if name not in target.task_names]
    if unknown:
        raise ValueError(f"new_tasks {unknown} are not tasks of the model ({target.task_names}).")
    kept = set(target.task_names) - set(new_tasks)
    if len(source.task_names) == 1 and not kept & set(source.task_names):
        raise ValueError(f"{source.name!r} has one task ({source.task_names[0]!r}), which the new "
                         "model does not keep: with one task its trunk cannot be told from its "
                         "head. Keep that task, or start from a multi-task model.")
    source_layers = {layer.name: layer for layer in source.layers}
    source_heads = head_layers(source)
    same_tasks = list(target.task_names) == list(source.task_names)
    pairs, fresh, trunk, misfits = [], [], [], {}
    for layer in target.layers:
        if not layer.weights:
            continue
        origin = source_layers.get(layer.name)
        owner = source_heads.get(layer.name)
        if (origin is None or (owner is not None and owner not in kept)
                or (getattr(layer, "ordered_by_task", False) and not same_tasks)):
            fresh.append(layer.name)
            continue
        shapes, source_shapes = ([tuple(w.shape) for w in weights] for weights in (layer.weights, origin.weights))
        if shapes != source_shapes:
            misfits[layer.name] = (owner or "trunk", source_shapes, shapes)
            continue
        pairs.append((layer, origin))
        if owner is None:
            trunk.append(layer.name)
    trunk_misfits = [name for name, (owner, _, _) in misfits.items() if owner == "trunk"]
    if len(source.task_names) > 1 and not trunk and not trunk_misfits:
        raise ValueError(f"No trunk layer of {source.name!r} goes over to {target.name!r} (fresh: "
                         f"{fresh}): the two trunks differ, or they hold one tower per task (soft "
                         "sharing, cross-stitch) and the two task lists differ.")
    if misfits:
        raise ValueError(f"Layers of {target.name!r} do not fit the layers of {source.name!r} of the "
                         f"same names ({{layer: (task or trunk, shapes there, shapes here)}}: {misfits}), "
                         "e.g. a first conv for another number of input channels, or a landmarks "
                         "head's dense layer on the flattened trunk at another input size. Nothing "
                         "was copied. Give such tasks as new tasks (Task objects), whose heads "
                         "start fresh, and keep the input channels.")
    for layer, origin in pairs:
        layer.set_weights(origin.get_weights())
    for name, variable in getattr(target, "_log_variances", {}).items():
        learned = getattr(source, "_log_variances", {}).get(name)
        if name in kept and learned is not None:
            variable.assign(learned)
    return Transfer([layer.name for layer, _ in pairs], fresh, trunk)
