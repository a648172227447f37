"""Input pipeline throughput against the default model's training rate, on the same machine.

The pipeline (`mtl_zoo.data.build_pipeline`: resize, joint augmentation,
encoding by the model's tasks, batching with masks) must deliver images
faster than the model trains on them, or training starves. Both rates are
measured in one run; the table reports pipeline images/s over training
images/s (target >= 3x).
"""

import keras

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
FULLEST = "flip + scale/crop + colour"


def pipeline_pass(model, examples, augmentation, batches):
    """A callable that reads one epoch of `examples` (`batches` batches of `BATCH_SIZE` when
    they hold `batches * BATCH_SIZE` examples) from `build_pipeline` as the main job builds it
    (epoch-indexed, deterministic), through a new iterator each call, so that no prefetching
    runs between calls, and returns how many images it read."""
    from mtl_zoo.data import Augmentation, build_pipeline

    data = build_pipeline(model, examples, BATCH_SIZE,
                          None if augmentation is None else Augmentation(**augmentation),
                          shuffle_buffer=batches * BATCH_SIZE, seed=0, deterministic=True, epochs=1)
    return lambda: sum(int(images.shape[0]) for images, _, _ in data)


def training_steps(model, batch, steps):
    """A callable that runs `steps` `train_on_batch` steps of `model` on one prepared batch and
    returns how many images it trained on."""
    images, targets, masks = batch
    model.compile(optimizer="adam")

    def train():
        for _ in range(steps):
            model.train_on_batch(images, targets, sample_weight=masks)
        return steps * BATCH_SIZE

    return train


def _verdict(ratio):
    """How a `(median, first quartile, third quartile)` ratio stands against the target."""
    median, low, high = ratio
    if low >= TARGET_RATIO:
        return "meets the target"
    if high < TARGET_RATIO:
        return "misses the target"
    return (f"{'meets' if median >= TARGET_RATIO else 'misses'} the target at the median, the "
            f"middle half of its rounds spanning it")


PHASES = ("plain", "after_generator")


def measure_rounds(quick, phases=PHASES):
    """`{phase: {"images": {name: images per call}, "seconds": {name: [seconds of each round]}}}`
    of the training steps and of a pass of each pipeline, timed in turns, for each of
    `phases` in order: "plain", then "after_generator" (only the fullest augmentation, after
    iterating a `from_generator` dataset, which changes the process for good: first of all
    when it is the first phase)."""
    import tensorflow as tf

    from mtl_zoo.benchmarks.measure import interleaved_seconds
    from mtl_zoo.data import with_labels_of
    from mtl_zoo.cli.train import build_job_model
    from mtl_zoo.data import build_pipeline
    from mtl_zoo.data.sources import mtl_shapes

    def iterate_a_generator_dataset():
        list(tf.data.Dataset.from_generator(lambda: iter([0]), output_signature=tf.TensorSpec([], tf.int32)))

    if phases[0] == "after_generator":  # first of all, as a user's generator input would be
        iterate_a_generator_dataset()
    keras.utils.set_random_seed(0)
    batches, steps, rounds = settings(quick)
    model = build_job_model(image_size=IMAGE_SIZE)
    examples = with_labels_of(mtl_shapes.generate(batches * BATCH_SIZE, IMAGE_SIZE, seed=0),
                          model.task_names).cache()
    for _ in examples:  # fill the cache: the job trains on decoded examples held in memory
        pass
    training = training_steps(model, next(iter(build_pipeline(model, examples, BATCH_SIZE))), steps)
    measured = {}
    for phase in phases:
        if phase == "after_generator" and phase != phases[0]:
            iterate_a_generator_dataset()
        names = [FULLEST] if phase == "after_generator" else list(AUGMENTATIONS)
        functions = {"training": training, **{name: pipeline_pass(model, examples, AUGMENTATIONS[name], batches)
                                              for name in names}}
        measured[phase] = {"images": {name: function() for name, function in functions.items()},
                           "seconds": interleaved_seconds(functions, repeats=rounds, warmup=1)}
    return measured


def settings(quick):
    """(batches per pipeline pass, training steps per round, rounds). A pass reads about as
    many examples as an epoch of the main job (mtl_shapes' 3,000 training images): each
    epoch sets up its shuffle and map functions again."""
    return (1, 1, 1) if quick else (94, 8, 9)


def _rows(measured, label=""):
    """The table rows of one `measure_rounds` result."""
    import numpy as np

    from mtl_zoo.benchmarks.measure import round_ratios

    per_image = {name: np.asarray(seconds) / measured["images"][name]
                 for name, seconds in measured["seconds"].items()}
    rows = [[f"training (model.train_on_batch){label}", 1.0 / np.median(per_image["training"]),
             "-", "-", "-"]]
    for name in per_image:
        if name != "training":
            ratio = round_ratios(per_image["training"], per_image[name])
            rows.append([f"pipeline, augmentation: {name}{label}", 1.0 / np.median(per_image[name]),
                         ratio[0], f"{ratio[1]:.2f}-{ratio[2]:.2f}", _verdict(ratio)])
    return rows


def run(quick=False):
    """Measures, each in a fresh process, the pipelines against training, then the fullest
    augmentation in a process that has iterated a `from_generator` dataset."""
    from mtl_zoo.benchmarks.measure import run_isolated

    if quick:  # a smoke test of the code and the table: both phases in one process
        measured = run_isolated(__name__, "measure_rounds", quick=True)
    else:  # the generator's change outlives it: a fresh process each
        measured = {phase: run_isolated(__name__, "measure_rounds", quick=False, phases=[phase])[phase]
                    for phase in PHASES}
    rows = _rows(measured["plain"]) + _rows(measured["after_generator"], ", after a from_generator dataset")
    batches, steps, rounds = settings(quick)
    description = (
        f"Images/s of `mtl_zoo.data.build_pipeline` (a pass over {batches} batches of {BATCH_SIZE} "
        f"mtl_shapes {IMAGE_SIZE} px examples, about one epoch of the main job, built as the "
        f"main job builds it: `epochs=...` and `deterministic=True`; a new iterator each pass, "
        f"so no prefetching runs between passes; decoded in memory as the main job caches them; "
        f"each example resampled and its labels moved, then each batch's colours changed and labels "
        f"encoded at once; AUTOTUNE parallelism) against the training rate of the default model (`scripts/train.py`: "
        f"tiny backbone, {IMAGE_SIZE} px, action + objects + pose, batch {BATCH_SIZE}, "
        f"{steps} `train_on_batch` steps), timed in turns in a fresh process over {rounds} rounds "
        f"after a warm-up round; images/s is the median over the rounds. `x training` is pipeline / "
        f"training images/s, the median of the round-by-round ratios (a round's passes ran back to "
        f"back, so the machine's speed of the moment cancels), with the first and third quartiles "
        f"beside it. The target is >= {TARGET_RATIO:g}x, so that input never starves training. "
        "Both use all the machine's cores, as they share them in `model.fit`. The last two rows "
        "come from a second process that first iterated a one-element "
        "`tf.data.Dataset.from_generator`: TensorFlow's generator dataset then lowers glibc's "
        "malloc thresholds for the whole process (its log line \"Memory patch applied: "
        "M_TRIM_THRESHOLD=128 kb\"), so every image-sized tensor becomes a fresh `mmap`. "
        "`mtl_shapes.generate` and the TFDS sources use no generator dataset; a user's "
        "`from_generator` input pays this.")
    return Table("Input pipeline throughput", description,
                 ["configuration", "images/s", "x training", "middle half of rounds", "verdict"], rows)
