"""Which parts of a functional multi-task graph are shared, and which belong to one task."""

import dataclasses

import keras


@dataclasses.dataclass
class SharingStructure:
    """The split of a multi-task model into shared and task-specific parts.

    Attributes:
        shared_variables: trainable variables of layers that feed two or more tasks.
        task_variables: `{task: trainable variables of layers feeding only that task}`.
        representation: the shared tensors that task-specific layers read (the
            "cut" between trunk and heads), as KerasTensors of the model graph.
    """

    shared_variables: list
    task_variables: dict
    representation: list


def _producer(tensor):
    operation, node_index, _ = tensor._keras_history
    return operation, operation._inbound_nodes[node_index]


def _tensors_behind(model, task):
    """`(tensor, operation that made it)` for every tensor that `task`'s outputs are computed
    from, walking back to the input, each node's inputs once."""
    stack = [model.output[task.output_name(key)] for key in task.output_keys]
    seen = set()
    while stack:
        tensor = stack.pop()
        operation, node = _producer(tensor)
        yield tensor, operation
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.input_tensors)


def layer_users(model):
    """`{layer name: names of the tasks whose outputs it computes}`, for every layer of
    `model` between the input and the outputs, from the graph alone (trainable or not). A
    bank of parallel towers (soft sharing) is one layer used by all of their tasks.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10),
    ...                                 mz.tasks.Classification("parity", 2)], (32, 32, 3))
    >>> users = layer_users(model)
    >>> users["digit_logits"], sorted(users["tiny_backbone"])
    ({'digit'}, ['digit', 'parity'])
    """
    users = {}
    for task in model.tasks:
        for _, operation in _tensors_behind(model, task):
            users.setdefault(operation.name, set()).add(task.name)
    return users


def frozen_shared_layers(model):
    """The names of `model`'s frozen layers with weights that feed two or more tasks: the
    parameters the tasks will share once those layers are unfrozen (`mtl_zoo.unfreeze_at`).
    A bank of soft-sharing towers shares nothing and is left out.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10),
    ...                                 mz.tasks.Classification("parity", 2)], (32, 32, 3))
    >>> model.get_layer("tiny_backbone").trainable = False
    >>> frozen_shared_layers(model)
    ['tiny_backbone']
    """
    users = layer_users(model)
    return [layer.name for layer in model.layers
            if layer.weights and not layer.trainable and len(users.get(layer.name, ())) > 1
            and not hasattr(layer, "output_variables")]


def analyse_sharing(model):
    """Finds shared and task-specific layers by walking back from each task's outputs.

    A layer with an `output_variables(output_index)` method is a bank of
    parallel branches (e.g. `mtl_zoo.layers.SoftSharingRegularizer`'s towers):
    each of its outputs counts as its own unit, with those variables.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 3))
    >>> structure = analyse_sharing(model)
    >>> len(structure.task_variables["digit"]) > 0  # the digit head's kernel and bias
    True
    """
    users = {}
    operations = {}
    unit_variables = {}
    for task in model.tasks:
        for tensor, operation in _tensors_behind(model, task):
            operations[id(operation)] = operation
            if hasattr(operation, "output_variables"):
                # a bank of parallel branches (soft-sharing towers): each output has its own
                index = tensor._keras_history[2]
                unit = (id(operation), index)
                unit_variables[unit] = operation.output_variables(index)
            else:
                unit = id(operation)
                unit_variables[unit] = operation.trainable_variables
            users.setdefault(unit, set()).add(task.name)
    shared_ids = {key for key, names in users.items() if len(names) > 1}

    shared_variables, seen_variables = [], set()
    task_variables = {task.name: [] for task in model.tasks}
    for key, variables in unit_variables.items():
        for variable in variables:
            if id(variable) in seen_variables:
                continue
            seen_variables.add(id(variable))
            if key in shared_ids:
                shared_variables.append(variable)
            else:
                task_variables[next(iter(users[key]))].append(variable)

    representation, seen_tensors = [], set()
    for key, operation in operations.items():
        if key in shared_ids:
            continue
        for node in operation._inbound_nodes:
            for tensor in node.input_tensors:
                producer, _ = _producer(tensor)
                if (id(producer) in shared_ids and id(tensor) not in seen_tensors
                        and not isinstance(producer, keras.layers.InputLayer)):
                    seen_tensors.add(id(tensor))
                    representation.append(tensor)
    return SharingStructure(shared_variables, task_variables, representation)
