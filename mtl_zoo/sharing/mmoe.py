"""Multi-gate Mixture-of-Experts for dense features (after Ma et al. 2018), its
Customized Gate Control variant with task-specific experts (CGC), and CGC layers
stacked into Progressive Layered Extraction (PLE), both from Tang et al. 2020.

Example (two PLE layers, each task with one expert of its own):
>>> import mtl_zoo as mz
>>> tasks = [mz.tasks.Classification("a", 2), mz.tasks.Classification("b", 3)]
>>> ple = mz.build_model("tiny", tasks, (32, 32, 3), sharing="mmoe", sharing_options={
...     "task_experts": 1, "extraction_layers": 2, "levels": ["P5"]})
>>> sorted(layer.name for layer in ple.layers if "gate" in layer.name)
['a_gate', 'a_gate_layer2', 'b_gate', 'b_gate_layer2', 'gate_summary', 'shared_gate']
"""

from keras import layers

from mtl_zoo.backbones import PYRAMID_STRIDES
from mtl_zoo.checks import check_integer
from mtl_zoo.layers import ExpertGate
from mtl_zoo.sharing.towers import check_stages, features_for_task

# whether the model holds the `Backbone` layer (the experts read the backbone layer's levels)
HOLDS_BACKBONE_LAYER = True
OPTIONS = {"num_experts": 4, "expert_channels": 64, "levels": tuple(PYRAMID_STRIDES),
           "task_experts": 0, "extraction_layers": 1}


def _experts(features, count, channels, name_template):
    """`count` experts (a 3x3 conv + ReLU to `channels`) on `features`; expert e (from 1)
    is named `name_template.format(e)`."""
    return [layers.Conv2D(channels, 3, padding="same", activation="relu",
                          name=name_template.format(e + 1))(features)
            for e in range(count)]


def _extraction_layer(shared_inputs, task_inputs, summaries, mixed_levels, options, suffix):
    """One CGC layer: shared experts on `shared_inputs`, each task's own experts on its
    `task_inputs`, and each task's gate (reading `summaries[task]`) mixing the shared
    experts and the task's own at every level. Returns `(shared experts, own experts,
    mixed)`, each keyed by level (and by task for the last two)."""
    num_experts, task_experts, channels = (options["num_experts"], options["task_experts"],
                                           options["expert_channels"])
    shared = {level: _experts(shared_inputs[level], num_experts, channels, f"expert{{}}_{level}{suffix}")
              for level in mixed_levels}
    own, mixed = {}, {}
    for task_name, inputs in task_inputs.items():
        gate = ExpertGate(num_experts + task_experts, name=f"{task_name}_gate{suffix}")
        own[task_name] = {level: _experts(inputs[level], task_experts, channels,
                                          f"{task_name}_expert{{}}_{level}{suffix}")
                          for level in mixed_levels}
        mixed[task_name] = {level: gate(summaries[task_name], shared[level] + own[task_name][level])
                            for level in mixed_levels}
    return shared, own, mixed


def task_features(image, backbone, tasks, pyramid_spec, num_experts, expert_channels, levels,
                  task_experts, extraction_layers):
    """A shared backbone, then `num_experts` shared experts at each level in `levels`
    (a 3x3 conv + ReLU to `expert_channels`); each task's `ExpertGate` (a softmax over
    experts computed from the pooled P5 features) mixes them into that task's features
    at those levels. Other levels are the shared backbone features. With
    `task_experts` > 0, each task also has that many experts of its own at each of
    those levels, and its gate mixes the shared experts and its own: Customized Gate
    Control (Tang et al. 2020, "Progressive Layered Extraction"), one extraction layer.

    With `extraction_layers` = L > 1, L such layers are stacked (PLE). In each layer
    but the last, a shared gate mixes the shared experts and every task's own ones
    into the input of the next layer's shared experts, and each task's mixture is the
    input of its next experts. A gate of layer k > 1 reads the pooled deepest level of
    the path it serves (the shared path or its task's) from layer k - 1. The first
    layer's names are those of the one-layer model; layer k > 1 adds `_layer{k}`.

    Options:
        num_experts: shared experts per level (>= 2).
        expert_channels: output channels of every expert (>= 1).
        levels: pyramid levels with experts (default all).
        task_experts: each task's own experts per level (0: MMoE; >= 1: CGC).
        extraction_layers: stacked CGC layers (1; >= 2 is PLE, with task_experts >= 1).
    """
    mixed_levels = check_stages(levels, "mmoe", option="levels")
    owner = "Sharing scheme 'mmoe'"
    check_integer(num_experts, "num_experts", 2, owner)
    check_integer(expert_channels, "expert_channels", 1, owner)
    check_integer(task_experts, "task_experts", 0, owner)
    check_integer(extraction_layers, "extraction_layers", 1, owner)
    if extraction_layers > 1 and task_experts < 1:
        raise ValueError("Sharing scheme 'mmoe': extraction_layers > 1 stacks CGC layers (PLE), whose "
                         "tasks have experts of their own; set task_experts >= 1.")
    # With PLE the scheme's own layers between extraction layers are named shared_gate{suffix}
    # and shared_summary_layer{k}, the names a task called "shared" would give its gates and
    # summaries; no other task name can clash with the scheme's layers.
    if extraction_layers > 1 and any(task.name == "shared" for task in tasks):
        raise ValueError("Sharing scheme 'mmoe': with extraction_layers > 1 (PLE), a task cannot be "
                         "named 'shared': its layers would take the names of the shared gate's "
                         "(shared_gate, shared_summary_layer2); rename the task.")
    options = {"num_experts": num_experts, "task_experts": task_experts,
               "expert_channels": expert_channels}
    backbone_features = backbone(image)
    summary = layers.GlobalAveragePooling2D(name="gate_summary")(backbone_features["P5"])
    shared_inputs = {level: backbone_features[level] for level in mixed_levels}
    task_inputs = {task.name: shared_inputs for task in tasks}
    summaries = {task.name: summary for task in tasks}
    shared_summary = summary
    for layer in range(1, extraction_layers + 1):
        suffix = "" if layer == 1 else f"_layer{layer}"
        shared, own, task_inputs = _extraction_layer(shared_inputs, task_inputs, summaries,
                                                     mixed_levels, options, suffix)
        if layer == extraction_layers:
            break
        shared_gate = ExpertGate(num_experts + len(tasks) * task_experts, ordered_by_task=True,
                                 name=f"shared_gate{suffix}")
        shared_inputs = {level: shared_gate(shared_summary,
                                            shared[level] + [e for task in tasks for e in own[task.name][level]])
                         for level in mixed_levels}
        next_suffix = f"_layer{layer + 1}"
        pool = mixed_levels[-1]
        shared_summary = layers.GlobalAveragePooling2D(name=f"shared_summary{next_suffix}")(shared_inputs[pool])
        summaries = {name: layers.GlobalAveragePooling2D(name=f"{name}_summary{next_suffix}")(inputs[pool])
                     for name, inputs in task_inputs.items()}
    return {task.name: features_for_task(task, {**backbone_features, **task_inputs[task.name]},
                                         backbone.image_shape, pyramid_spec)
            for task in tasks}
