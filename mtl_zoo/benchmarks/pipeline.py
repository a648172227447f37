"""Input pipeline throughput against the default model's training rate, on the same machine.

The pipeline (`mtl_zoo.data.build_pipeline`: resize, joint augmentation,
encoding by the model's tasks, batching with masks) must deliver images
faster than the model trains on them, or training starves. Both rates are
measured in one run; the table reports pipeline images/s over training
images/s (target >= 3x).
"""

import time

import keras

from mtl_zoo.benchmarks.measure import median_seconds
from mtl_zoo.benchmarks.table import Table

IMAGE_SIZE = 128
BATCH_SIZE = 32
TARGET_RATIO = 3.0
AUGMENTATIONS = {
    "none (resize only)": None,
    "flip": {"horizontal_flip": True},
    "flip + scale/crop + colour": {"horizontal_flip": True, "scale_range": (0.7, 1.4),
                                   "brightness": 0.2, "contrast": 0.2, "saturation": 0.2,
                                   "hue": 0.03},
}


def pipeline_images_per_second(model, examples, augmentation, batches, repeats):
    """Images/s of `build_pipeline` over `batches` batches (best of `repeats` passes)."""
    from mtl_zoo.data import Augmentation, build_pipeline

    data = build_pipeline(model, examples, BATCH_SIZE,
                          None if augmentation is None else Augmentation(**augmentation),
                          shuffle_buffer=batches * BATCH_SIZE, seed=0).take(batches)
    for _ in data.take(2):  # warm-up: tracing and thread pools
        pass
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(int(images.shape[0]) for images, _, _ in data)
        best = max(best, count / (time.perf_counter() - start))
    return best


def training_images_per_second(model, batch, steps):
    """Images/s of `train_on_batch` steps of `model` on one prepared batch (median step time)."""
    images, targets, masks = batch
    model.compile(optimizer="adam")
    seconds = median_seconds(lambda: model.train_on_batch(images, targets, sample_weight=masks),
                             repeats=steps, warmup=2)
    return BATCH_SIZE / seconds


def run(quick=False):
    """Measures the pipeline with each augmentation setting and the training rate."""
    from mtl_zoo.cli.train import build_job_model, only_tasks
    from mtl_zoo.data import build_pipeline
    from mtl_zoo.data.sources import mtl_shapes

    keras.utils.set_random_seed(0)
    batches, repeats, steps = (4, 1, 3) if quick else (32, 3, 20)
    model = build_job_model(image_size=IMAGE_SIZE)
    examples = only_tasks(mtl_shapes.generate(batches * BATCH_SIZE, IMAGE_SIZE, seed=0),
                          model.task_names).cache()
    for _ in examples:  # fill the cache: the job trains on decoded examples held in memory
        pass
    training = training_images_per_second(
        model, next(iter(build_pipeline(model, examples, BATCH_SIZE))), steps)
    rows = [["training (model.train_on_batch)", training, 1.0]]
    for name, augmentation in AUGMENTATIONS.items():
        rate = pipeline_images_per_second(model, examples, augmentation, batches, repeats)
        rows.append([f"pipeline, augmentation: {name}", rate, rate / training])
    description = (
        f"Images/s of `mtl_zoo.data.build_pipeline` ({batches} batches of {BATCH_SIZE} mtl_shapes "
        f"{IMAGE_SIZE} px examples, decoded in memory as the main job caches them, through resize, augmentation, encoding by the model's tasks and "
        f"batching with masks; AUTOTUNE parallelism; best of {repeats} passes) against the "
        f"training rate of the default model (`scripts/train.py`: tiny backbone, {IMAGE_SIZE} px, "
        f"action + objects + pose, batch {BATCH_SIZE}, median of {steps} `train_on_batch` "
        f"steps), measured in the same run. `x training` is pipeline / training images/s; "
        f"the target is >= {TARGET_RATIO:g}x, so that input never starves training. Both share "
        "the machine's cores, as they do in `model.fit`.")
    return Table("Input pipeline throughput", description,
                 ["configuration", "images/s", "x training"], rows)
