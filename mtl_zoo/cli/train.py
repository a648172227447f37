"""Trains a multi-task model on a dataset source: the main job.

    python scripts/train.py                       # tiny backbone on mtl_shapes, 128 px, 8 epochs
    python scripts/train.py --dataset=multi_mnist --dataset_config=test_set_only \\
        --manual_dir=path/to/mnist --image_size=32 --model_dir=runs/multi_mnist
    python scripts/train.py --sharing=mtan --aggregator=PCGrad --weighting=dwa --model_dir=runs/mtan
    python scripts/train.py --dataset=mtl_shapes,multi_mnist --dataset_config=,test_set_only \\
        --manual_dir=path/to/mnist --tasks=action,left,right --sampler=annealed   # two datasets
    python scripts/train.py --config=recipe.yaml --epochs=2   # flags override the file
    python scripts/train.py --preset=mtl_shapes_mobilenetv3s_cls_det_pose --pretrained=false

Writes into --model_dir: `run.json` (the model it holds and its recipe flags: a
rerun resumes there only with the same ones), `model.keras` (reload
with `mtl_zoo.load_model`), `metrics.json` (each task's evaluation metrics from
`mtl_zoo.evaluation`, validation losses, the training history and the flags),
`plots/` (loss curves, task weights, predictions drawn on validation images),
`export/<version>/` (a SavedModel for serving), TensorBoard logs under `logs/`,
and until the job ends a `backup/` folder from which a killed run resumes (after
training, it resumes straight to the evaluation and export).
With --single_task_baselines it also trains one single-task model per task with
the same recipe (but no --aggregator or --weighting=gradnorm: one task has nothing to
balance) under `baselines/<task>/`, and reports delta_m.

With several --dataset, each labelling its own tasks, the model learns all their
tasks together: the batches mix the datasets' examples (`mtl_zoo.data.mix_datasets`,
drawn as --sampler says), each example training only the tasks its dataset labels,
and validation and evaluation run each task on its own dataset's examples.
"""

import json
import math
import os
import sys
import time

from absl import flags

from mtl_zoo.cli import absl_main, dataset_flags, run_command
from mtl_zoo.cli.model_dir import LOGS_FOLDER, claimed_model_dir
from mtl_zoo.progress import progress_verbosity
from mtl_zoo.cli.strategies import STRATEGIES
from mtl_zoo.convs import CONV_KINDS, DenseParts

FLAGS = flags.FLAGS
DEFAULT_TASKS = ("action", "objects", "pose")
WEIGHTINGS = ("equal", "dwa", "gradnorm", "rlw", "geometric", "uncertainty")
WEIGHTINGS_THAT_REPLACE_ALPHAS = ("dwa", "rlw", "geometric")  # gradnorm starts from them
SAMPLERS = ("proportional", "round_robin", "annealed")
BACKUP_FOLDER = "backup"
ARCHITECTURE_FLAGS = ("tasks", "backbone", "sharing", "sharing_option", "image_size", "head_conv",
                      "head_channels", "pyramid_conv", "pyramid_channels")
# The flags of how a model is trained: a run resumed from its backup must keep them.
RECIPE_FLAGS = ("pretrained", "aggregator", "weighting", "task_weights", "epochs", "batch_size",
                "learning_rate", "augment", "max_train_examples", "seed")

flags.DEFINE_string("config", None, "A JSON or YAML file of flag values; flags given on the "
                    "command line override it.")
flags.DEFINE_string("preset", None, "Build the model of this preset (a zoo name, a folder or a "
                    "URL) instead of --backbone/--sharing; with --tasks, on its trunk (a task of "
                    "the preset keeps its head, other tasks come from the dataset); with "
                    "--image_size, at that size.")
flags.DEFINE_bool("pretrained", False, "With --preset: start from the preset's trained weights.")
flags.DEFINE_bool("freeze_trunk", False, "With --pretrained: keep the preset's trained trunk as it "
                  "is and train only the heads (mtl_zoo.from_preset(freeze_trunk=True)).")
flags.DEFINE_integer("frozen_epochs", None, "With --freeze_trunk: keep the trunk frozen for this many "
                     "epochs only, then train everything for the rest of --epochs, in the same run "
                     "(mtl_zoo.unfreeze_at).", lower_bound=1)
flags.DEFINE_integer("frozen_backbone_epochs", None, "With --frozen_epochs: unfreeze in two stages "
                     "(gradual unfreezing, Howard & Ruder 2018): the rest of the trunk (the feature "
                     "pyramid) trains from --frozen_epochs on, the backbone only after this many epochs, "
                     "more than --frozen_epochs.", lower_bound=1)
flags.DEFINE_float("unfrozen_learning_rate_factor", None, "With --frozen_epochs: multiply the "
                   "learning rate by this factor once the trunk trains, e.g. 0.1 (the lower rate "
                   "of Keras's fine-tuning guide; mtl_zoo.unfreeze_at(learning_rate_factor=...)).")
flags.DEFINE_list("tasks", None, "Tasks to train, among the dataset's (mtl_zoo.data.sources."
                  "source_tasks); default: action,objects,pose on mtl_shapes, all tasks otherwise "
                  "(with --preset: the preset's).")
flags.DEFINE_string("backbone", "tiny", "Backbone family (see mtl_zoo.list_backbones()).")
flags.DEFINE_string("sharing", "hard", "Sharing scheme (mtl_zoo.builders.SHARING_SCHEMES).")
flags.DEFINE_multi_string("sharing_option", None, "An option of the sharing scheme as name=value, "
                          "the value in YAML (e.g. beta=0.001, task_experts=1, 'levels=[P3, P4]'); "
                          "repeat the flag for more (mtl_zoo.sharing.SCHEMES[scheme].OPTIONS).")
flags.DEFINE_enum("head_conv", "standard", list(CONV_KINDS), "3x3 convs of the dense "
                  "heads (detection, pose, segmentation, depth): full, or depthwise-separable "
                  "(light heads for mobile backbones; mtl_zoo.convs.CONV_KINDS).")
flags.DEFINE_enum("pyramid_conv", "standard", list(CONV_KINDS), "3x3 convs of the "
                  "shared feature pyramid that the dense heads read: full, or depthwise-separable "
                  "with batch norm (the FPNLite pyramid, for --head_conv=separable).")
flags.DEFINE_integer("head_channels", None, "Width of the dense heads' conv towers (default: each "
                     "task's own, 64); 32 with --head_conv=separable and --pyramid_channels=32 makes "
                     "light heads for a mobile backbone.", lower_bound=1)
flags.DEFINE_integer("pyramid_channels", 64, "Width of the shared feature pyramid.", lower_bound=1)
flags.DEFINE_integer("image_size", 128, "Square input size in pixels, a multiple of 32.")
flags.DEFINE_string("aggregator", None, "Gradient aggregator, e.g. PCGrad (mtl_zoo.weighting.AGGREGATORS).")
flags.DEFINE_enum("weighting", "equal", WEIGHTINGS, "Loss weighting: equal alphas, dwa (Liu et al. "
                  "2019), gradnorm (Chen et al. 2018), rlw (Lin et al. 2021), geometric (Chennupati "
                  "et al. 2019) or uncertainty (learned, Kendall et al. 2018).")
flags.DEFINE_list("task_weights", None, "Static alphas as task=value pairs, e.g. action=1,pose=0.5.")
flags.DEFINE_integer("epochs", 8, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("max_train_examples", None, "Train on the first N training examples only (of "
                     "each --dataset).", lower_bound=1)
flags.DEFINE_integer("max_val_examples", None, "Validate on the first N validation examples only "
                     "(of each --dataset).", lower_bound=1)
flags.DEFINE_bool("augment", True, "Random scale jitter (0.8-1.2) of the training images, and "
                  "horizontal flips where the dataset allows them (not multi_mnist); cropped "
                  "views mask the dataset's crop-sensitive tasks (class presence, people_count).")
flags.DEFINE_float("learning_rate", 2e-3, "Peak Adam learning rate (cosine decay to 0).",
                   lower_bound=0.0)
flags.register_validator("learning_rate", math.isfinite, "--learning_rate must be a finite number.")
flags.DEFINE_enum("sampler", "proportional", SAMPLERS, "With several --dataset: where the "
                  "examples of a batch come from: in proportion to the datasets' sizes, in turns "
                  "(round_robin), or annealed from proportional to nearly uniform over the epochs "
                  "(Stickland & Murray 2019).")
flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy (mtl_zoo.cli.strategies).")
flags.DEFINE_string("tpu", None, "With --strategy=tpu: the TPU's address (default: this TPU VM's).")
flags.DEFINE_float("worker_timeout", 300, "With --strategy=multi_worker: seconds to wait for the other "
                   "workers of TF_CONFIG to come up before giving up with an error.", lower_bound=0)
flags.DEFINE_string("model_dir", "runs/mtl_shapes_tiny", "Where the model, metrics, plots and logs go.")
flags.DEFINE_bool("plots", True, "Write PNG plots into model_dir/plots.")
flags.DEFINE_bool("export", True, "Export a SavedModel for serving into model_dir/export.")
flags.DEFINE_bool("single_task_baselines", False, "Also train one single-task model per task with "
                  "the same recipe (but no --aggregator or --weighting=gradnorm: one task has nothing to "
                  "balance) and report delta_m (Maninis et al. 2019).")
flags.DEFINE_integer("seed", 0, "Seed of the weights, the shuffling and the augmentation.")
flags.DEFINE_bool("prepare_data_only", False, "Build the dataset (TFDS) and exit: a multi-worker "
                  "launcher does it once before the workers start.")

PREDICTION_IMAGES = 8


def build_job_model(dataset="mtl_shapes", tasks=None, backbone="tiny", image_size=128,
                    sharing="hard", sharing_options=None, dense=DenseParts()):
    """The model the job trains: `dataset`'s `tasks` on `backbone` with `sharing` (and its
    `sharing_options`), the heads and feature pyramid built as `dense` says (a
    `mtl_zoo.convs.DenseParts`).

    With the defaults, the main job's model (mtl_shapes action + object
    detection + pose, T = 3), also the "default CPU model" of the benchmarks.

    Example:
    >>> build_job_model(image_size=64).task_names  # doctest: +SKIP
    ['action', 'objects', 'pose']
    """
    import mtl_zoo as mz

    return mz.build_model(backbone, selected_tasks(dataset, tasks, dense),
                          input_shape=(image_size, image_size, 3), sharing=sharing,
                          sharing_options=sharing_options, **dense.pyramid_arguments())


def check_no_repeated_tasks(names):
    """A ValueError when --tasks `names` a task more than once.

    Example:
    >>> check_no_repeated_tasks(["pose", "objects", "pose"])
    Traceback (most recent call last):
    ...
    ValueError: --tasks names ['pose'] more than once: give each task once.
    """
    from mtl_zoo.naming import repeated

    twice = repeated(names)
    if twice:
        raise ValueError(f"--tasks names {twice} more than once: give each task once.")


def selected_tasks(dataset, names=None, dense=DenseParts()):
    """The tasks called `names` among the tasks of `dataset` (a source name, or a list of
    them), in that order (None: each dataset's defaults), their heads' conv towers built as
    `dense` says.

    Raises:
        ValueError: an unknown task name, or a chosen task that several datasets have.
    """
    from mtl_zoo.data.sources import source_tasks
    from mtl_zoo.tasks import get_task
    from mtl_zoo.naming import unknown_name_error

    datasets = dataset_flags.checked_dataset_names([dataset] if isinstance(dataset, str) else dataset)
    if names is not None:
        check_no_repeated_tasks(names)
    of_dataset = {source: {task.name: task for task in source_tasks(source)} for source in datasets}
    available = {}
    for tasks in of_dataset.values():
        for name, task in tasks.items():
            available.setdefault(name, task)  # a name several datasets have is refused if chosen
    if names is None:
        names = [name for source in datasets for name in
                 (DEFAULT_TASKS if source == "mtl_shapes" else of_dataset[source])]
    for name in names:
        if name not in available:
            raise unknown_name_error(f"task of dataset {','.join(datasets)!r}", name, available)
    dataset_flags.check_one_dataset_per_task(
        [(source, [name for name in tasks if name in names]) for source, tasks in of_dataset.items()])
    return [get_task(dense.task_config(available[name].as_spec())) for name in names]


def flagged_dense_parts():
    """The `DenseParts` of --head_conv, --head_channels, --pyramid_conv and --pyramid_channels."""
    return DenseParts(FLAGS.head_conv, FLAGS.head_channels, FLAGS.pyramid_conv, FLAGS.pyramid_channels)


def parse_task_weights(pairs):
    """`["action=1", "pose=0.5"]` -> `{"action": 1.0, "pose": 0.5}`.

    Example:
    >>> parse_task_weights(["action=1", "pose=0.5"])
    {'action': 1.0, 'pose': 0.5}
    """
    weights = {}
    for pair in pairs or []:
        name, _, value = pair.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--task_weights takes task=value pairs, got {pair!r}.") from None
    return weights


def parse_sharing_options(pairs):
    """`["beta=0.001", "levels=[P3, P4]"]` -> `{"beta": 0.001, "levels": ["P3", "P4"]}` (values in YAML).

    Example:
    >>> parse_sharing_options(["task_experts=1", "levels=[P3, P4]"])
    {'task_experts': 1, 'levels': ['P3', 'P4']}
    """
    import yaml

    options = {}
    for pair in pairs or []:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"--sharing_option takes name=value, got {pair!r}.")
        try:
            options[name.strip()] = _number_if_numeric(yaml.safe_load(value))
        except yaml.YAMLError:
            raise ValueError(f"--sharing_option {pair!r}: the value is not valid YAML.") from None
    return options


def _number_if_numeric(value):
    """`value`, or the float a string such as "1e-3" spells (YAML 1.1 reads that as a string)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def architecture():
    """The `build_model` arguments of the flagged model (from --preset or the flags)."""
    from mtl_zoo.presets import load_preset

    if FLAGS.preset:
        given = [name for name in ARCHITECTURE_FLAGS
                 if FLAGS[name].present and name not in ("tasks", "image_size")]
        if given:
            raise ValueError(f"--preset fixes the architecture: drop {['--' + n for n in given]}.")
        spec = load_preset(FLAGS.preset)[0]
        config = preset_config_for_tasks(spec, FLAGS.tasks) if FLAGS.tasks else dict(spec["config"])
        if FLAGS["image_size"].present:
            config["input_shape"] = [FLAGS.image_size, FLAGS.image_size, 3]
        return config
    if FLAGS.pretrained:
        raise ValueError("--pretrained loads a preset's weights: give --preset too.")
    import mtl_zoo as mz
    from mtl_zoo.builders import SHARING_SCHEMES

    if FLAGS.backbone not in mz.list_backbones():
        raise mz.naming.unknown_name_error("backbone", FLAGS.backbone, mz.list_backbones())
    if FLAGS.sharing not in SHARING_SCHEMES:
        raise mz.naming.unknown_name_error("sharing scheme", FLAGS.sharing, SHARING_SCHEMES)
    dense = flagged_dense_parts()
    config = {"backbone": FLAGS.backbone, "input_shape": [FLAGS.image_size, FLAGS.image_size, 3],
              "sharing": FLAGS.sharing, **dense.pyramid_arguments(),
              "tasks": [task.as_spec() for task in selected_tasks(FLAGS.dataset, FLAGS.tasks, dense)]}
    if dense.pyramid_channels == DenseParts().pyramid_channels:
        # as run.json files from before --pyramid_channels hold it: their runs still resume
        del config["pyramid_channels"]
    if FLAGS.sharing_option:
        from mtl_zoo.sharing import resolve_options

        config["sharing_options"] = parse_sharing_options(FLAGS.sharing_option)
        resolve_options(FLAGS.sharing, config["sharing_options"])  # unknown names fail here
    return config


def preset_config_for_tasks(spec, names):
    """The `build_model` config of the preset `spec` with the tasks called `names`: the
    preset's own where it has one of that name, else the dataset's (`selected_tasks`, with
    fresh heads); see `mtl_zoo.presets.transfer.config_with_tasks`. A preset task that the
    dataset labels otherwise (another kind or class count) is the dataset's, with a fresh
    head, and a line says so."""
    from mtl_zoo.data.sources import source_tasks
    from mtl_zoo.presets.transfer import config_with_tasks

    check_no_repeated_tasks(names)
    of_preset = {task["name"]: task for task in spec["config"]["tasks"]}
    of_dataset = {task.name: task.as_spec() for source in dataset_flags.checked_dataset_names(FLAGS.dataset)
                  for task in source_tasks(source)}
    relabelled = {name: _label_differences(of_preset[name], of_dataset[name]) for name in names
                  if name in of_preset and name in of_dataset}
    relabelled = {name: differences for name, differences in relabelled.items() if differences}
    others = [name for name in names if name not in of_preset or name in relabelled]
    try:
        chosen = {task.name: task for task in selected_tasks(FLAGS.dataset, others)} if others else {}
    except ValueError as error:
        if not str(error).startswith("Unknown task"):
            raise
        raise ValueError(f"{error} The tasks of preset {spec['name']!r} ({', '.join(of_preset)}) "
                         "are also valid: they keep their heads.") from None
    for name, differences in relabelled.items():
        print(f"Task {name!r}: preset {spec['name']} has {differences[0]}, --dataset="
              f"{','.join(FLAGS.dataset)} {differences[1]}: it gets a fresh head.")
    config, _ = config_with_tasks(spec, [chosen.get(name, name) for name in names])
    config["tasks"] = [task if isinstance(task, dict) else task.as_spec() for task in config["tasks"]]
    return config


def _label_differences(preset_task, dataset_task):
    """How a dataset labels a task otherwise than a preset trained it, as `(the preset's,
    the dataset's)` descriptions, or None when the labels agree: another kind or count
    (classes, keypoints, ...), or, where both name them, other names or another order
    (class_names, keypoint_names, ...: the same count of other classes).

    Example:
    >>> _label_differences({"kind": "detection", "num_classes": 2, "class_names": ["cat", "dog"]},
    ...                    {"kind": "detection", "num_classes": 2, "class_names": ["car", "bus"]})
    ("class_names ['cat', 'dog']", "class_names ['car', 'bus']")
    """
    def space(task):  # what a task's labels must look like
        return {key: value for key, value in task.items() if key == "kind" or key.startswith("num_")}

    if space(preset_task) != space(dataset_task):
        return space(preset_task), space(dataset_task)
    renamed = [key for key, value in preset_task.items() if key.endswith("_names") and value is not None
               and dataset_task.get(key) is not None and list(dataset_task[key]) != list(value)]
    if not renamed:
        return None
    return tuple(", ".join(f"{key} {_shortened(task[key])}" for key in renamed)
                 for task in (preset_task, dataset_task))


def _shortened(names, shown=6):
    """A list of names, cut after the first `shown`."""
    names = list(names)
    return repr(names) if len(names) <= shown else repr(names[:shown])[:-1] + ", ...]"


def preset_arguments(spec, config):
    """The `from_preset` arguments `tasks` and `input_shape` that build `config` from the
    preset `spec`: as tasks, the name of each task the preset has with the same config (its
    trained head goes over) and the config of each other task (a fresh head); None for
    what is the preset's own."""
    preset_tasks = spec["config"]["tasks"]
    tasks = [task["name"] if task in preset_tasks else task for task in config["tasks"]]
    same_shape = list(config["input_shape"]) == list(spec["config"]["input_shape"])
    return {"tasks": None if config["tasks"] == preset_tasks else tasks,
            "input_shape": None if same_shape else config["input_shape"]}


def preset_uncertainty(spec, uncertainty):
    """`from_preset`'s `uncertainty_weighting` for the preset `spec` under --weighting, as
    without a preset: every task learns its weight (`uncertainty`) or none does. None
    keeps the preset's own, where it weights every task already (True).

    Example:
    >>> [preset_uncertainty({"config": {"uncertainty_weighting": True}}, flag) for flag in (True, False)]
    [None, False]
    >>> preset_uncertainty({"config": {"uncertainty_weighting": {"action": "classification"}}}, True)
    True
    """
    preset_weighting = spec["config"].get("uncertainty_weighting")
    if uncertainty:
        return None if preset_weighting is True else True
    return False if preset_weighting else None


def build_flagged_model(config, tasks=None):
    """The model of `config` (only `tasks` when given: a single-task baseline), with the
    flags' weighting, task weights and preset weights (with --pretrained, a baseline
    starts from the preset's trunk too, and --freeze_trunk freezes it in both)."""
    import mtl_zoo as mz
    from mtl_zoo.presets import load_preset

    config = dict(config, tasks=tasks or config["tasks"])
    uncertainty = FLAGS.weighting == "uncertainty"
    if FLAGS.pretrained:  # `config` is the preset's (architecture()), maybe with other tasks
        spec = load_preset(FLAGS.preset)[0]
        model = mz.from_preset(FLAGS.preset, pretrained=True, freeze_trunk=FLAGS.freeze_trunk,
                               uncertainty_weighting=preset_uncertainty(spec, uncertainty),
                               **preset_arguments(spec, config))
    else:  # --weighting decides, over a preset config's uncertainty_weighting
        model = mz.build_model(**dict(config, uncertainty_weighting=uncertainty))
    task_weights = parse_task_weights(FLAGS.task_weights)
    for name in task_weights:
        if tasks is None:
            model.get_task(name)  # a clear error for an unknown task
    model.set_task_weights({name: value for name, value in task_weights.items()
                            if name in model.task_names})
    return model


def weighting_callbacks(seed):
    """The loss-weighting callback of --weighting (none for equal and uncertainty)."""
    import mtl_zoo as mz

    callbacks = {"dwa": mz.weighting.DynamicWeightAverage, "gradnorm": mz.weighting.GradNorm,
                 "rlw": lambda: mz.weighting.RandomLossWeighting(seed=seed),
                 "geometric": mz.weighting.GeometricLossStrategy}
    return [callbacks[FLAGS.weighting]()] if FLAGS.weighting in callbacks else []


def make_aggregator():
    """The `--aggregator` named by the flags (default options), or None without one."""
    import mtl_zoo as mz

    if not FLAGS.aggregator:
        return None
    if FLAGS.aggregator not in mz.weighting.AGGREGATORS:
        raise mz.naming.unknown_name_error("aggregator", FLAGS.aggregator, mz.weighting.AGGREGATORS)
    return mz.weighting.AGGREGATORS[FLAGS.aggregator]()


def task_balancing(baseline):
    """`(aggregator, weighting callbacks)` of the flags for the job's model, or `(None, [])`
    for a single-task `baseline`: one loss and one gradient, nothing to balance (GradNorm and
    the aggregators would refuse it; the other weightings give its one loss weight 1)."""
    if baseline:
        return None, []
    return make_aggregator(), weighting_callbacks(FLAGS.seed)


def make_sampler():
    """The `mtl_zoo.data` task sampler of --sampler (`Annealed` over --epochs)."""
    from mtl_zoo.data import Annealed, Proportional, RoundRobin

    return {"proportional": Proportional, "round_robin": RoundRobin,
            "annealed": lambda: Annealed(num_epochs=FLAGS.epochs)}[FLAGS.sampler]()


def training_streams(model, train_parts, val_parts, augmentation, first_epoch):
    """`(train, validation)` batches of `model` (`LoadedSplit`s of the datasets that label its
    tasks): the epoch-indexed, deterministic stream of one dataset (`build_pipeline`) or of
    their mixture (`mix_datasets`, drawn by --sampler), and the validation examples once."""
    from mtl_zoo.data import build_pipeline, concatenate_datasets, mix_datasets

    # Epoch-indexed and deterministic: a resumed run trains on the batches an uninterrupted
    # run would have, and a rerun with the same flags on the same ones.
    epochs = {"seed": FLAGS.seed, "epochs": FLAGS.epochs, "first_epoch": first_epoch}
    if len(train_parts) == 1:
        train = build_pipeline(model, train_parts[0].examples, FLAGS.batch_size, augmentation=augmentation,
                               shuffle_buffer=train_parts[0].count, deterministic=True, **epochs)
        return train, build_pipeline(model, val_parts[0].examples, FLAGS.batch_size)
    sizes = [part.count for part in train_parts]
    train = mix_datasets(model, [part.examples for part in train_parts], FLAGS.batch_size,
                         sampler=make_sampler(), sizes=sizes, augmentation=augmentation,
                         shuffle_buffer=max(sizes), **epochs)
    return train, concatenate_datasets(model, [part.examples for part in val_parts], FLAGS.batch_size)


def flagged_augmentation(datasets, task_names):
    """The --augment `Augmentation` for examples of `datasets` (None without --augment):
    flips only where every dataset allows them, and each dataset's crop-sensitive tasks."""
    from mtl_zoo.data import Augmentation
    from mtl_zoo.data.sources import allows_horizontal_flips, crop_sensitive_tasks

    if not FLAGS.augment:
        return None
    return Augmentation(
        horizontal_flip=all(allows_horizontal_flips(name) for name in datasets), scale_range=(0.8, 1.2),
        crop_sensitive_tasks=[task for name in datasets for task in crop_sensitive_tasks(name)
                              if task in task_names])


def fit_and_evaluate(strategy, config, model_dir, data, tasks=None):
    """Builds, trains (resuming from `model_dir/backup`) and evaluates one model on the parts
    of `data` (`{"train": [LoadedSplit], "validation": [LoadedSplit]}`) that label its tasks.

    On the non-chief workers of a multi-worker run it only trains (restoring from
    the chief's backup folder, which it never writes) and returns (None, None).

    Returns:
        (model, {"evaluation", "validation", "history"}).
    """
    import keras

    import mtl_zoo as mz
    from mtl_zoo.cli.strategies import writes_run_files
    from mtl_zoo.distribution import distribute_global_batches, is_multi_worker

    keras.utils.set_random_seed(FLAGS.seed)
    names = [task["name"] for task in tasks or config["tasks"]]
    train_parts = dataset_flags.labelling(data["train"], names)
    val_parts = dataset_flags.labelling(data["validation"], names)
    batches_per_epoch = mz.data.steps_per_epoch([part.count for part in train_parts], FLAGS.batch_size)
    with strategy.scope():
        model = build_flagged_model(config, tasks)
        schedule = keras.optimizers.schedules.CosineDecay(FLAGS.learning_rate,
                                                          decay_steps=FLAGS.epochs * batches_per_epoch)
        aggregator, weighting = task_balancing(baseline=tasks is not None)
        model.compile(optimizer=keras.optimizers.Adam(schedule), aggregator=aggregator)
        unfreeze = unfreezing_stages(model)  # of the baselines too
    # from every flagged dataset, as the multi-task model's: a baseline keeps the job's recipe
    augmentation = flagged_augmentation([part.dataset for part in data["train"]], names)
    # kept until the job's files are written (remove_backups): a crash while evaluating or
    # exporting resumes from the finished training
    backup = mz.SharedBackupAndRestore(os.path.join(model_dir, BACKUP_FOLDER), delete_checkpoint=False)
    train_data, val_data = (distribute_global_batches(strategy, batches, FLAGS.batch_size) for batches in
                            training_streams(model, train_parts, val_parts, augmentation,
                                             backup.backed_up_epoch()))
    trainable = sum(math.prod(variable.shape) for variable in model.trainable_weights)
    print(f"Training {model.name} ({model.count_params():,} parameters, {trainable:,} trainable, tasks {names}, "
          f"{strategy.num_replicas_in_sync} replica(s)) on {dataset_flags.described(train_parts)}; "
          f"checkpoints in {model_dir}.")
    for stage in unfreeze:
        slower = f", at {FLAGS.unfrozen_learning_rate_factor:g}x the learning rate" if stage.lowers_rate else ""
        part = "trunk" if len(unfreeze) == 1 else ("backbone" if stage.epoch == FLAGS.frozen_backbone_epochs
                                                   else "trunk apart from the backbone")
        print(f"The frozen {part} ({len(stage.layers)} layer{'s' * (len(stage.layers) > 1)}) trains from "
              f"epoch {stage.epoch + 1} on{slower}.")
    chief = writes_run_files(strategy)
    callbacks = [*weighting, *unfreeze, mz.weighting.TaskWeightHistory(), backup]
    if chief:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(model_dir, LOGS_FOLDER)))
    model.fit(train_data, validation_data=val_data, epochs=FLAGS.epochs,
              steps_per_epoch=batches_per_epoch,
              verbose=progress_verbosity() if chief else 0, callbacks=callbacks)
    losses = model.evaluate(val_data, return_dict=True, verbose=0)  # every worker takes part
    if not chief:
        return None, None
    path = os.path.join(model_dir, "model.keras")
    model.save(path)  # written whole or not at all
    if is_multi_worker(strategy):  # evaluate, plot and export alone, outside the workers' collectives
        model = mz.load_model(path)
    return model, {"evaluation": dataset_flags.evaluate_each_on_its_dataset(model, val_parts),
                   "validation": losses, "history": backup.history}


def write_plots(model, history, val_parts, plot_dir):
    """Loss curves, task weights and predictions on the first validation images (of each
    dataset, `LoadedSplit`s, in equal shares)."""
    import numpy as np

    from mtl_zoo import visualization
    from mtl_zoo.data import raw_batches

    os.makedirs(plot_dir, exist_ok=True)
    share = max(1, PREDICTION_IMAGES // len(val_parts))
    images = np.concatenate([next(iter(raw_batches(model, part.examples.take(share), share)))[0].numpy()
                             for part in val_parts])
    return [visualization.plot_task_losses(history, model.task_names,
                                           os.path.join(plot_dir, "losses.png")),
            visualization.plot_task_weights(history, model.task_names,
                                            os.path.join(plot_dir, "task_weights.png")),
            visualization.draw_predictions(model, images, os.path.join(plot_dir, "predictions.png"))]


def single_task_baselines(strategy, config, data):
    """Trains one single-task model per task with the job's recipe; returns their results."""
    from mtl_zoo.evaluation import headline_metrics

    baselines = {}
    for task in config["tasks"]:
        model, outcome = fit_and_evaluate(strategy, config, os.path.join(
            FLAGS.model_dir, "baselines", task["name"]), data, tasks=[task])
        baselines[task["name"]] = {**outcome["evaluation"][task["name"]],
                                   "headline": headline_metrics(outcome["evaluation"], model)}
    return baselines


def train():
    """Runs the training job with the parsed flags; returns what it wrote to metrics.json."""
    from mtl_zoo.cli.config_file import apply_config_file
    from mtl_zoo.cli.strategies import check_global_batch, make_strategy, writes_run_files
    from mtl_zoo.distribution import is_multi_worker
    from mtl_zoo.files import check_local_path

    job_started = time.monotonic()
    if FLAGS.config:
        apply_config_file(FLAGS, FLAGS.config, config_flag_names())
    check_local_path(FLAGS.model_dir, "--model_dir")
    if FLAGS["sampler"].present and len(FLAGS.dataset) == 1:
        raise ValueError("--sampler picks the dataset of each example among several --dataset: "
                         "drop it with one dataset.")
    if FLAGS.task_weights and FLAGS.weighting in WEIGHTINGS_THAT_REPLACE_ALPHAS:
        raise ValueError(f"--task_weights sets fixed alphas, which --weighting={FLAGS.weighting} "
                         "replaces as it trains: give one of the two (--weighting=equal or "
                         "uncertainty keeps them, gradnorm starts from them).")
    check_freeze_trunk()
    config = architecture()
    if FLAGS.prepare_data_only:
        task_names = [task["name"] for task in config["tasks"]]
        for split in ("train", None):  # None: each dataset's evaluation split
            for part in dataset_flags.load_splits(split, task_names=task_names):
                print(f"{part.dataset} {part.split}: {part.count} examples ready.")
        return None
    strategy = make_strategy(FLAGS.strategy, FLAGS.tpu, FLAGS.worker_timeout)
    check_global_batch(FLAGS.batch_size, strategy)
    chief = writes_run_files(strategy)
    if FLAGS.single_task_baselines and is_multi_worker(strategy):
        raise ValueError("--single_task_baselines runs on one machine: drop it with --strategy=multi_worker.")
    if not chief:
        return train_in_model_dir(config, strategy, chief, job_started)
    with claimed_model_dir(FLAGS.model_dir, run_identity(config)):
        return train_in_model_dir(config, strategy, chief, job_started)


def unfreezing_stages(model):
    """The `UnfreezeAt` callbacks of --frozen_epochs for `model`, frozen by --freeze_trunk: one
    for the whole trunk, or, with --frozen_backbone_epochs, one for the rest of the trunk and
    one, later, for its backbone. --unfrozen_learning_rate_factor lowers the rate when the
    first of them trains (for a model whose frozen trunk is its backbone alone, such as a
    classification baseline, when the backbone does)."""
    import mtl_zoo as mz

    if not FLAGS.frozen_epochs:
        return []
    factor = FLAGS.unfrozen_learning_rate_factor
    if not FLAGS.frozen_backbone_epochs:
        return [mz.unfreeze_at(model, FLAGS.frozen_epochs, learning_rate_factor=factor)]
    frozen = [layer for layer in model.layers if layer.weights and not layer.trainable]
    backbone = [layer.name for layer in frozen if isinstance(layer, mz.backbones.Backbone)]
    rest = [layer.name for layer in frozen if layer.name not in backbone]
    stages = [mz.unfreeze_at(model, FLAGS.frozen_epochs, rest, learning_rate_factor=factor)] if rest else []
    return [*stages, mz.unfreeze_at(model, FLAGS.frozen_backbone_epochs, backbone,
                                    learning_rate_factor=None if rest else factor)]


def check_freeze_trunk():
    """--freeze_trunk needs a trained trunk (--pretrained) of a multi-task preset, and freezes
    the parameters that the tasks share: --aggregator and --weighting=gradnorm have nothing to
    balance unless --frozen_epochs unfreezes them. --frozen_epochs needs it, and fewer than --epochs;
    --frozen_backbone_epochs needs --frozen_epochs, and more of them, fewer than --epochs;
    --unfrozen_learning_rate_factor needs --frozen_epochs, and a factor > 0."""
    from mtl_zoo.presets import load_preset
    from mtl_zoo.sharing import SCHEMES

    if FLAGS.unfrozen_learning_rate_factor is not None and not FLAGS.frozen_epochs:
        raise ValueError("--unfrozen_learning_rate_factor sets the learning rate once --frozen_epochs "
                         "have passed: give --freeze_trunk and --frozen_epochs too.")
    if FLAGS.unfrozen_learning_rate_factor is not None and not 0 < FLAGS.unfrozen_learning_rate_factor < math.inf:
        raise ValueError("--unfrozen_learning_rate_factor must be a finite number > 0, got "
                         f"{FLAGS.unfrozen_learning_rate_factor}.")
    if FLAGS.frozen_backbone_epochs and not FLAGS.frozen_epochs:
        raise ValueError("--frozen_backbone_epochs keeps the backbone frozen longer than the rest of the "
                         "trunk: give --freeze_trunk and --frozen_epochs too.")
    if FLAGS.frozen_backbone_epochs and FLAGS.frozen_backbone_epochs <= FLAGS.frozen_epochs:
        raise ValueError(f"--frozen_backbone_epochs={FLAGS.frozen_backbone_epochs} must exceed "
                         f"--frozen_epochs={FLAGS.frozen_epochs}, when the rest of the trunk starts "
                         "training: give more, or drop it to unfreeze the whole trunk at once.")
    if FLAGS.frozen_epochs and not FLAGS.freeze_trunk:
        raise ValueError("--frozen_epochs says how long --freeze_trunk keeps the trunk frozen: give "
                         "--freeze_trunk too.")
    if not FLAGS.freeze_trunk:
        return
    if not FLAGS.pretrained:
        raise ValueError("--freeze_trunk keeps a preset's trained trunk as it is: give --preset "
                         "and --pretrained too.")
    for name in ("frozen_epochs", "frozen_backbone_epochs"):
        if FLAGS[name].value and FLAGS[name].value >= FLAGS.epochs:
            raise ValueError(f"--{name}={FLAGS[name].value} leaves no epoch of --epochs={FLAGS.epochs} "
                             f"to train the {'trunk' if name == 'frozen_epochs' else 'backbone'}: give fewer, "
                             f"or drop --{name} to keep it frozen.")
    balancing = [flag for flag, given in ((f"--aggregator={FLAGS.aggregator}", FLAGS.aggregator),
                                          ("--weighting=gradnorm", FLAGS.weighting == "gradnorm")) if given]
    if balancing and not FLAGS.frozen_epochs:
        raise ValueError(f"--freeze_trunk freezes the parameters that the preset's tasks share for the "
                         f"whole run, whose task gradients {' and '.join(balancing)} would balance: give "
                         f"--frozen_epochs=N to train them, balanced, after N epochs, or drop --freeze_trunk "
                         f"or {' and '.join(flag.split('=')[0] for flag in balancing)}.")
    preset_config = load_preset(FLAGS.preset)[0]["config"]
    sharing = preset_config.get("sharing", "hard")  # build_model's default
    if FLAGS.frozen_backbone_epochs and not SCHEMES[sharing].HOLDS_BACKBONE_LAYER:
        raise ValueError(f"--frozen_backbone_epochs unfreezes the backbone layer of the preset's model, which "
                         f"{sharing} sharing has not (it holds the backbone's stages or "
                         "copies): drop --frozen_backbone_epochs.")
    preset_tasks = preset_config["tasks"]
    if len(preset_tasks) == 1:
        raise ValueError(f"Preset {FLAGS.preset} has one task ({preset_tasks[0]['name']!r}): its trunk "
                         "cannot be told from its head, so --freeze_trunk has nothing to freeze. "
                         "Drop --freeze_trunk.")


def run_identity(config):
    """What a run folder's `run.json` records, so that a rerun resumes its backup only
    with the same model (`config`, the architecture) and the same recipe flags."""
    recipe = {name: FLAGS[name].value for name in RECIPE_FLAGS}
    for name in ("freeze_trunk", "frozen_epochs", "frozen_backbone_epochs", "unfrozen_learning_rate_factor"):
        if FLAGS[name].value:  # only when given: older run.json files still resume
            recipe[name] = FLAGS[name].value
    if len(FLAGS.dataset) > 1:
        recipe["sampler"] = FLAGS.sampler
    configs = ",".join(config or "" for config in FLAGS.dataset_config or [])
    configs = configs if configs.strip(",") else None  # "," and none: each dataset's default
    return {"dataset": dataset_flags.flagged_names(), "dataset_config": configs, "preset": FLAGS.preset,
            "architecture": config, "uncertainty_weighting": FLAGS.weighting == "uncertainty",
            "recipe": recipe}


def train_in_model_dir(config, strategy, chief, job_started):
    """Loads the data, trains, evaluates and (on the chief) writes the run's files."""
    from mtl_zoo.evaluation import delta_m_record, format_delta_m, headline_metrics, results_table
    from mtl_zoo.files import write_whole

    task_names = [task["name"] for task in config["tasks"]]
    data = {"train": dataset_flags.load_splits("train", FLAGS.max_train_examples, task_names),
            "validation": dataset_flags.load_splits(None, FLAGS.max_val_examples, task_names)}
    started = time.monotonic()
    model, outcome = fit_and_evaluate(strategy, config, FLAGS.model_dir, data)
    if not chief:
        print("This worker is done; the chief writes the run's files.")
        return None
    outcome["evaluated_on"] = dataset_flags.evaluated_on(data["validation"])
    outcome["seconds"] = {"model": round(time.monotonic() - started, 1)}
    outcome["flags"] = {name: FLAGS[name].value for name in config_flag_names() | {"config"}}
    if FLAGS.single_task_baselines:
        started = time.monotonic()
        baselines = single_task_baselines(strategy, config, data)
        outcome["seconds"]["baselines"] = round(time.monotonic() - started, 1)
        baseline_headlines = {key: value for task in baselines.values()
                              for key, value in task.pop("headline").items()}
        outcome["baselines"] = baselines
        outcome.update(delta_m_record(headline_metrics(outcome["evaluation"], model), baseline_headlines))
    if FLAGS.plots:
        outcome["plots"] = write_plots(model, outcome["history"], data["validation"],
                                       os.path.join(FLAGS.model_dir, "plots"))
    if FLAGS.export:
        outcome["export"] = model.export(os.path.join(FLAGS.model_dir, "export"))
    outcome["seconds"]["job"] = round(time.monotonic() - job_started
                                      - outcome["seconds"].get("baselines", 0.0), 1)
    write_whole(os.path.join(FLAGS.model_dir, "metrics.json"), json.dumps(outcome, indent=2))
    remove_backups(FLAGS.model_dir)
    print(results_table(outcome["evaluation"], f"Validation ({dataset_flags.described(data['validation'])})"))
    if FLAGS.single_task_baselines:
        print(results_table(outcome["baselines"], "Single-task baselines (same recipe)"))
        print(f"delta_m (Maninis et al. 2019) over the headline metrics: {format_delta_m(outcome)}")
    written = ["model", "metrics"] + ["plots"] * FLAGS.plots + ["export"] * FLAGS.export
    print(f"{', '.join(written[:-1]).capitalize()} and {written[-1]} written to {FLAGS.model_dir}")
    return outcome


def remove_backups(model_dir):
    """Deletes the backups of the run in `model_dir` and of its single-task baselines, once
    the job's files are written."""
    import shutil

    folders = [os.path.join(model_dir, BACKUP_FOLDER)]
    baselines = os.path.join(model_dir, "baselines")
    if os.path.isdir(baselines):
        folders += [os.path.join(baselines, task, BACKUP_FOLDER) for task in os.listdir(baselines)]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def job_flag_defaults():
    """`{name: default}` of every flag of the training job: its own and the dataset flags."""
    modules = [sys.modules[__name__], dataset_flags]
    return {flag.name: flag.default for module in modules for flag in FLAGS.get_flags_for_module(module)}


def repeated_flag_names():
    """The training job's flags given once per value (--sharing_option=a=1 --sharing_option=b=2)."""
    return {flag.name for flag in FLAGS.get_flags_for_module(sys.modules[__name__])
            if isinstance(flag, flags.MultiFlag)}


def config_flag_names():
    """The flags a --config file may set: all the job's flags but --config itself."""
    return set(job_flag_defaults()) - {"config"}


main = absl_main(train)


def run():
    """Console entry point (`mtl-zoo-train`, `mtl-zoo train`)."""
    run_command(main)


if __name__ == "__main__":
    run()
