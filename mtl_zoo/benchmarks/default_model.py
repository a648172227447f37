"""The default CPU model of the benchmarks and one ready-made training step on it.

The model `scripts/train.py` trains (`build_job_model`: tiny backbone,
mtl_shapes action + objects + pose; other backbones on request), on one batch of generated mtl_shapes
images run through the input pipeline.

Example:
>>> model, step = train_step(image_size=64, batch_size=4)  # doctest: +SKIP
>>> step()  # one train_on_batch  # doctest: +SKIP
"""


def benchmark_tasks(quick):
    """The mtl_shapes tasks a benchmark trains: the job's three, or with `quick` (the smoke
    runs of the tests) action and objects, since two tasks trace faster than three.

    Example:
    >>> benchmark_tasks(quick=True)
    ['action', 'objects']
    """
    from mtl_zoo.cli.train import DEFAULT_TASKS

    return ["action", "objects"] if quick else list(DEFAULT_TASKS)


def train_step(image_size, batch_size, tasks=None, sharing="hard", aggregator=None, backbone="tiny",
               dense=None, sharing_options=None, fused_batch_norm=True, jit_compile=False):
    """`(model, step)`: the default model compiled with Adam (and `aggregator`),
    and a function that runs one `train_on_batch` on a fixed batch.

    Args:
        image_size: input side in pixels (a multiple of 32).
        batch_size: images per batch.
        tasks: task names of mtl_shapes (None: the job's default three).
        sharing: a `build_model` sharing scheme.
        sharing_options: that scheme's options (None: its defaults).
        aggregator: a gradient aggregator for `compile`, or None.
        backbone: a backbone name (random weights).
        dense: how the heads and feature pyramid are built, a `mtl_zoo.convs.DenseParts`
            (None: the default, standard 3x3 convs 64 channels wide).
        fused_batch_norm: False trains the batch norms with Keras's ops instead of
            TensorFlow's fused kernel (`mtl_zoo.layers.set_fused_batch_norm`).
        jit_compile: compile the train step with XLA (`MultiTaskModel.compile`).
    """
    import keras

    from mtl_zoo.data import with_labels_of
    from mtl_zoo.cli.train import build_job_model
    from mtl_zoo.convs import DenseParts
    from mtl_zoo.data import build_pipeline
    from mtl_zoo.data.sources import mtl_shapes
    from mtl_zoo.layers import set_fused_batch_norm

    keras.utils.set_random_seed(0)
    model = build_job_model(tasks=tasks, backbone=backbone, image_size=image_size, sharing=sharing,
                            sharing_options=sharing_options, dense=dense or DenseParts())
    set_fused_batch_norm(model, fused_batch_norm)
    model.compile(optimizer="adam", aggregator=aggregator, jit_compile=jit_compile)
    examples = with_labels_of(mtl_shapes.generate(batch_size, image_size, seed=0), model.task_names)
    images, targets, masks = next(iter(build_pipeline(model, examples, batch_size)))
    return model, lambda: model.train_on_batch(images, targets, sample_weight=masks)
