"""The dataset flags that the training and evaluation command lines share, and the
loading of the examples they name: one dataset, or several whose tasks a model learns
together, each task from the images of the dataset that labels it."""

import inspect
from typing import NamedTuple

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_list("dataset", ["mtl_shapes"], "Dataset source (mtl_zoo.data.sources.list_sources(), or "
                  "the import path of a source module of your own, e.g. my_project.boats), or several, "
                  "comma-separated, each labelling its own tasks: the model then learns them all, each "
                  "from its own dataset's images (mtl_zoo.data.mix_datasets).")
flags.DEFINE_list("dataset_config", None, "Source config, e.g. mtl_shapes 'default' or 'small', "
                  "multi_mnist 'full' or 'test_set_only'; with several --dataset, one per dataset "
                  "in their order, empty for a dataset's default (e.g. small,test_set_only or ,small).")
flags.DEFINE_string("data_dir", None, "TFDS data folder (TFDS's default when unset).")
flags.DEFINE_string("manual_dir", None, "A local folder with the dataset's source files, for "
                    "building offline (e.g. the MNIST .gz files for multi_mnist); with several "
                    "--dataset, given to each of them that builds from such files.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.", lower_bound=1)


class LoadedSplit(NamedTuple):
    """One dataset's examples of a split: `examples` keep the labels of `tasks` only.

    Example:
    >>> LoadedSplit("mtl_shapes", "train", examples=None, count=48, tasks=("action",)).count
    48
    """

    dataset: str
    split: str
    examples: object  # a tf.data.Dataset of (image, {task: raw label}), cached
    count: int
    tasks: tuple


def checked_dataset_names(names):
    """The --dataset `names` as a list, after checks for an empty or a repeated name.

    Example:
    >>> checked_dataset_names(["mtl_shapes", ""])
    Traceback (most recent call last):
    ...
    ValueError: --dataset=mtl_shapes, has an empty name: give one dataset, or several comma-separated (mtl_zoo.data.sources.list_sources()).
    """
    names = list(names)
    if not names or not all(names):
        raise ValueError(f"--dataset={','.join(names)} has an empty name: give one dataset, or several "
                         "comma-separated (mtl_zoo.data.sources.list_sources()).")
    if len(set(names)) < len(names):
        raise ValueError(f"--dataset={','.join(names)} names a dataset twice: give each once.")
    return names


def flagged_datasets():
    """`[(name, load options)]` of --dataset, --dataset_config and --manual_dir, each
    dataset's options checked against its source's `load`.

    Raises:
        ValueError: a dataset is named twice, --dataset_config does not give one config per
            dataset, or a dataset takes no config (or no dataset takes --manual_dir).
    """
    from mtl_zoo.data.sources import get_source

    names = checked_dataset_names(FLAGS.dataset)
    configs = list(FLAGS.dataset_config or [None] * len(names))
    if len(configs) != len(names):
        raise ValueError(f"--dataset_config gives {len(configs)} configs for {len(names)} datasets "
                         f"{names}: give one per dataset, in their order, empty for a dataset's "
                         "default (e.g. --dataset_config=small,).")
    chosen = []
    for name, config in zip(names, configs):
        accepted = inspect.signature(get_source(name).load).parameters
        if config and "config" not in accepted:
            raise ValueError(f"Dataset {name!r} takes no --dataset_config.")
        options = {"config": config} if config else {}
        if FLAGS.manual_dir is not None and "manual_dir" in accepted:
            options["manual_dir"] = FLAGS.manual_dir
        chosen.append((name, options))
    if FLAGS.manual_dir is not None and not any("manual_dir" in options for _, options in chosen):
        several = len(names) > 1
        raise ValueError(f"{'Datasets' if several else 'Dataset'} {', '.join(map(repr, names))} "
                         f"take{'' if several else 's'} no --manual_dir.")
    return chosen


def flagged_names():
    """The --dataset names as one text, "mtl_shapes" or "mtl_shapes,multi_mnist"."""
    return ",".join(FLAGS.dataset)


def load_splits(split=None, limit=None, task_names=None):
    """The `LoadedSplit` of each flagged dataset: its `split` (None: the dataset's evaluation
    split, `mtl_zoo.data.sources.evaluation_split`), the first `limit` examples, only the
    labels of `task_names` (None: all its labels), cached in memory.

    Raises:
        ValueError: a dataset fails to load (the message names it) or a split is empty; or,
            with `task_names`, some task is labelled by no dataset or by several, or a
            dataset labels none of them.
    """
    from mtl_zoo.data.sources import evaluation_split, load_examples, source_tasks

    chosen = flagged_datasets()
    if task_names:  # from the sources' tasks(), before any dataset is built
        _check_tasks_labelled(task_names, {name: [task.name for task in source_tasks(name)]
                                           for name, _ in chosen})
    loaded = []
    for name, options in chosen:
        dataset_split = split or evaluation_split(name)
        try:
            examples = load_examples(name, dataset_split, data_dir=FLAGS.data_dir, **options)
        except ValueError as error:  # e.g. an unknown split: say of which dataset, unless it does
            message = str(error)
            raise ValueError(message if repr(name) in message else f"Dataset {name!r}: {message}") from None
        labelled = list(examples.element_spec[1])
        tasks = [task for task in task_names if task in labelled] if task_names else labelled
        loaded.append(LoadedSplit(name, dataset_split, examples, 0, tuple(tasks)))
    if task_names:
        _check_tasks_labelled(task_names, {part.dataset: list(part.examples.element_spec[1])
                                           for part in loaded})
        check_one_dataset_per_task([(part.dataset, part.tasks) for part in loaded])
        for part in loaded:
            if not part.tasks:
                raise ValueError(f"Dataset {part.dataset!r} labels none of the model's tasks "
                                 f"{list(task_names)} (it labels {list(part.examples.element_spec[1])}): "
                                 "drop it from --dataset.")
    return [_counted(part, limit) for part in loaded]


def _check_tasks_labelled(task_names, labels):
    """A ValueError naming the tasks of `task_names` that no dataset of `labels` (`{dataset:
    [its label names]}`) labels."""
    missing = [task for task in task_names if not any(task in names for names in labels.values())]
    if missing and len(labels) == 1:
        [(dataset, names)] = labels.items()
        raise ValueError(f"The model's tasks {missing} are not labels of dataset {dataset!r} (it "
                         f"labels {names}): pass the --dataset the model was made for.")
    if missing:
        raise ValueError(f"The model's tasks {missing} are labels of none of the datasets "
                         f"(they label {labels}): pass the --dataset the model was made for.")


def _counted(part, limit):
    """`part` keeping its tasks' labels and its first `limit` examples, cached, and counted."""
    from mtl_zoo.data import with_labels_of

    examples = with_labels_of(part.examples, part.tasks)
    examples = (examples.take(limit) if limit else examples).cache()
    count = int(examples.reduce(0, lambda count, _: count + 1))
    if count == 0:
        raise ValueError(f"Split {part.split!r} of dataset {part.dataset!r} has no examples.")
    return part._replace(examples=examples, count=count)


def check_one_dataset_per_task(datasets_and_tasks):
    """A ValueError if a task is among the tasks of several datasets (`[(dataset, task
    names)]`): a model learns and is evaluated on each task from one dataset.

    Example:
    >>> check_one_dataset_per_task([("mtl_shapes", ["action"]), ("voc", ["objects"])])
    """
    owners = {}
    for dataset, tasks in datasets_and_tasks:
        for task in tasks:
            owners.setdefault(task, []).append(dataset)
    shared = {task: datasets for task, datasets in owners.items() if len(datasets) > 1}
    if shared:
        raise ValueError(f"Tasks of several datasets: {shared}. A model learns each task from "
                         "one dataset: leave such tasks out with --tasks, or drop all but one of "
                         "their datasets from --dataset.")


def labelling(loaded, task_names):
    """The parts of `loaded` (`LoadedSplit`s) that label some of `task_names`, each with
    its examples' labels narrowed to those tasks."""
    from mtl_zoo.data import with_labels_of

    parts = []
    for part in loaded:
        tasks = tuple(task for task in part.tasks if task in task_names)
        if tasks:
            parts.append(part._replace(examples=with_labels_of(part.examples, tasks), tasks=tasks))
    return parts


def evaluate_each_on_its_dataset(model, loaded, **options):
    """`{task: {metric: value}}` of `model`, each task evaluated on the examples of the part of
    `loaded` (`LoadedSplit`s) that labels it, in the model's task order; `options` go to
    `mtl_zoo.evaluation.evaluate_model`."""
    from mtl_zoo.data import raw_batches
    from mtl_zoo.evaluation import evaluate_model
    from mtl_zoo.progress import progress_verbosity

    results = {}
    for part in labelling(loaded, model.task_names):
        results.update(evaluate_model(model, raw_batches(model, part.examples, FLAGS.batch_size).unbatch(),
                                      verbose=progress_verbosity(), **options))
    return {name: results[name] for name in model.task_names}


def described(loaded):
    """What `loaded` (`LoadedSplit`s) holds, in one phrase (`described_record`)."""
    return described_record(evaluated_on(loaded))


def described_record(record):
    """An `evaluated_on` record in one phrase.

    Example:
    >>> described_record({"dataset": "mtl_shapes", "split": "train", "examples": 48})
    '48 mtl_shapes train images'
    >>> described_record({"datasets": [{"dataset": "a", "split": "train", "examples": 4},
    ...                                {"dataset": "b", "split": "test", "examples": 2}]})
    '4 a train + 2 b test images'
    """
    parts = record.get("datasets") or [record]
    return " + ".join(f"{part['examples']} {part['dataset']} {part['split']}" for part in parts) + " images"


def evaluated_on(loaded):
    """The `evaluated_on` record of a run's metrics: `{"dataset", "split", "examples"}`,
    with several datasets their names and splits comma-joined, the examples summed, and
    each one's under "datasets"."""
    record = {"dataset": ",".join(part.dataset for part in loaded),
              "split": ",".join(dict.fromkeys(part.split for part in loaded)),
              "examples": sum(part.count for part in loaded)}
    if len(loaded) > 1:
        record["datasets"] = [{"dataset": part.dataset, "split": part.split, "examples": part.count}
                              for part in loaded]
    return record
