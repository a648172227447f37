"""The dataset flags that the training and evaluation command lines share, and the
loading of the examples they name."""

import inspect

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "mtl_shapes", "Dataset source (mtl_zoo.data.sources.list_sources()).")
flags.DEFINE_string("dataset_config", None, "Source config, e.g. mtl_shapes 'default' or 'small', "
                    "multi_mnist 'full' or 'test_set_only'.")
flags.DEFINE_string("data_dir", None, "TFDS data folder (TFDS's default when unset).")
flags.DEFINE_string("manual_dir", None, "A local folder with the dataset's source files, for "
                    "building offline (e.g. the MNIST .gz files for multi_mnist).")
flags.DEFINE_integer("batch_size", 32, "Global batch size.", lower_bound=1)


def source_options():
    """The `load_examples` options the flags set (config, manual_dir), checked against the
    source's `load`."""
    from mtl_zoo.data.sources import get_source

    options = {"config": FLAGS.dataset_config, "manual_dir": FLAGS.manual_dir}
    options = {name: value for name, value in options.items() if value is not None}
    accepted = inspect.signature(get_source(FLAGS.dataset).load).parameters
    for name in options:
        if name not in accepted:
            raise ValueError(f"Dataset {FLAGS.dataset!r} takes no --{'dataset_config' if name == 'config' else name}.")
    return options


def with_labels_of(examples, task_names):
    """`(image, labels)` examples keeping only the labels of `task_names`."""
    return examples.map(lambda image, labels: (image, {name: labels[name] for name in task_names}))


def load_split(split, limit=None, task_names=None):
    """The raw `(image, labels)` examples of the flagged dataset's `split` (the first
    `limit`, only `task_names`' labels), cached in memory, and their count.

    Raises:
        ValueError: the split is empty, or the dataset labels none of some of `task_names`.
    """
    from mtl_zoo.data.sources import load_examples

    examples = load_examples(FLAGS.dataset, split, data_dir=FLAGS.data_dir, **source_options())
    if task_names is not None:
        labelled = list(examples.element_spec[1])
        missing = [name for name in task_names if name not in labelled]
        if missing:
            raise ValueError(f"The model's tasks {missing} are not labels of dataset "
                             f"{FLAGS.dataset!r} (it labels {labelled}): pass the --dataset "
                             "the model was made for.")
        examples = with_labels_of(examples, task_names)
    examples = (examples.take(limit) if limit else examples).cache()
    count = int(examples.reduce(0, lambda count, _: count + 1))
    if count == 0:
        raise ValueError(f"Split {split!r} of dataset {FLAGS.dataset!r} has no examples.")
    return examples, count
