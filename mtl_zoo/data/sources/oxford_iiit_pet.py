"""Oxford-IIIT Pet (TFDS `oxford_iiit_pet` 4.x): breed, species, head box and pet mask.

Labels: `breed` (Classification, 37), `species` (Classification, cat / dog),
`head` (Detection, 1 class: the pet's head box, TFDS >= 4.0.0) and
`segmentation` (Segmentation, 2 classes) from the trimaps: 1 (pet) -> 1,
2 (background) -> 0, 3 (border, uncertain) -> 255, ignored by the loss.
TFDS has head boxes for the "train" split only (an all-zero box elsewhere):
an all-zero box becomes zero boxes, and `load("test")` leaves the `head`
key out, so the pipeline masks that task instead of learning "no head".

Example:
>>> from mtl_zoo.data.sources import oxford_iiit_pet
>>> examples = oxford_iiit_pet.load("train")  # doctest: +SKIP
"""

import functools

import tensorflow as tf

from mtl_zoo import tasks as mtl_tasks
from mtl_zoo.data.sources.tfds_labels import detection_labels, load_tfds, tfds_features

TFDS_NAME = "oxford_iiit_pet:4.*.*"
SPLITS_WITH_HEAD_BOXES = ("train",)
SEGMENTATION_CLASSES = ("background", "pet")
# trimap value -> segmentation class: 1 pet, 2 background, 3 border (ignored); 0 is unused.
_TRIMAP_TO_CLASS = (255, 1, 0, 255)


@functools.cache
def breed_names():
    """The 37 breed names, in TFDS's class-id order."""
    return tuple(tfds_features(TFDS_NAME)["label"].names)


@functools.cache
def species_names():
    """The species names ("Cat", "Dog"), in TFDS's class-id order."""
    return tuple(tfds_features(TFDS_NAME)["species"].names)


EVALUATION_SPLIT = "test"  # the dataset has no validation split

def to_example(features, with_head=True):
    """`(image, {"breed", "species", "segmentation"[, "head"]})` from one TFDS example."""
    trimap = tf.cast(features["segmentation_mask"][..., 0], tf.int32)
    labels = {
        "breed": tf.cast(features["label"], tf.int32),
        "species": tf.cast(features["species"], tf.int32),
        "segmentation": tf.gather(tf.constant(_TRIMAP_TO_CLASS, tf.uint8), tf.minimum(trimap, 3)),
    }
    if with_head:
        box = tf.reshape(features["head_bbox"], [1, 4])
        labels["head"] = detection_labels(box, [0], keep=tf.reduce_any(box > 0, axis=-1))
    return features["image"], labels


def load(split, data_dir=None, download=True):
    """The `(image, labels)` examples of the pets' `split` (see the module docstring)."""
    with_head = all(part.split("[")[0].strip() in SPLITS_WITH_HEAD_BOXES
                    for part in str(split).split("+"))
    return load_tfds(TFDS_NAME, split, data_dir, download).map(
        functools.partial(to_example, with_head=with_head), num_parallel_calls=tf.data.AUTOTUNE)


def tasks():
    """Classification breed (37) and species (2), Detection head (1), Segmentation (2)."""
    breeds, species = list(breed_names()), list(species_names())
    return [mtl_tasks.Classification("breed", num_classes=len(breeds), class_names=breeds),
            mtl_tasks.Classification("species", num_classes=len(species), class_names=species),
            mtl_tasks.Detection("head", num_classes=1, class_names=["head"]),
            mtl_tasks.Segmentation("segmentation", num_classes=len(SEGMENTATION_CLASSES),
                                   class_names=list(SEGMENTATION_CLASSES))]
