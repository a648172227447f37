"""MultiLeNet: the small MultiMNIST model of Sener & Koltun (2018), as a MultiTaskModel.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018, used a LeNet trunk shared by two digit classifiers on 36x36
MultiMNIST images. It is the standard small model for comparing task-balancing
methods (and the model of this package's LibMTL comparison, BENCHMARKS.md).

Trunk: Conv(10, 5x5) - MaxPool 2 - ReLU - Conv(20, 5x5) - MaxPool 2 - ReLU -
Dense(50) - ReLU; each task: Dense(50) - ReLU - Dense(num_classes) logits.
Images come as uint8 or float in [0, 255] and are scaled to [0, 1] in the model.
"""

import keras
from keras import layers

from mtl_zoo.model import MultiTaskModel
from mtl_zoo.tasks import Classification, get_task

MIN_SIDE = 16  # two 5x5 valid convolutions and two 2x2 poolings need at least this


def build_multi_lenet(tasks, input_shape=(36, 36, 1), **model_options):
    """A MultiLeNet `MultiTaskModel` with one classifier head per task.

    Args:
        tasks: `Classification` tasks (or their dicts); other kinds have no
            LeNet head.
        input_shape: (height, width, channels); both sides at least 16.
        **model_options: passed to `MultiTaskModel` (task_weights,
            uncertainty_weighting).

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_multi_lenet([mz.tasks.Classification("left", 10),
    ...                               mz.tasks.Classification("right", 10)])
    >>> sorted(model.output_names)
    ['left_logits', 'right_logits']
    """
    tasks = [get_task(task) for task in tasks]
    others = [f"{task.name} ({task.kind})" for task in tasks if not isinstance(task, Classification)]
    if others:
        raise ValueError(f"MultiLeNet has classification heads only; got {others}. Use "
                         "mtl_zoo.build_model for other task kinds.")
    if len(input_shape) != 3 or min(input_shape[:2]) < MIN_SIDE:
        raise ValueError(f"MultiLeNet needs input_shape (height, width, channels) with sides >= "
                         f"{MIN_SIDE}, got {tuple(input_shape)}.")
    images = keras.Input(shape=tuple(input_shape), name="images")
    x = layers.Rescaling(1 / 255, name="scale")(images)
    for index, filters in enumerate((10, 20), start=1):
        x = layers.Conv2D(filters, 5, name=f"conv{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
        x = layers.ReLU(name=f"relu{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    shared = layers.Dense(50, activation="relu", name="shared_dense")(x)
    outputs = {}
    for task in tasks:
        hidden = layers.Dense(50, activation="relu", name=f"{task.name}_hidden")(shared)
        name = task.output_name("logits")
        outputs[name] = layers.Dense(task.num_classes, dtype="float32", name=name)(hidden)
    return MultiTaskModel(images, outputs, tasks, name="multi_lenet", **model_options)
