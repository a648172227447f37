"""Raw multi-task labels from TFDS features: shared by the sources that adapt TFDS datasets."""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from mtl_zoo.naming import unknown_name_error


def load_tfds(name, split, data_dir=None, download=True, manual_dir=None):
    """The decoded examples (feature dicts) of TFDS dataset `name`'s `split`.

    Args:
        name: TFDS name with optional config and version, e.g. "voc/2012".
        split: TFDS split ("train", "validation", "test[:10%]", ...).
        data_dir: TFDS data folder (TFDS's default when None).
        download: build the dataset first (downloading what is missing);
            when False the dataset must already be prepared in `data_dir`.
        manual_dir: TFDS's manual folder, for a builder that builds from local
            files there (None: `<data_dir>/downloads/manual`).

    Example:
    >>> examples = load_tfds("voc/2012", "validation")  # doctest: +SKIP
    """
    if manual_dir is not None and not os.path.isdir(manual_dir):
        raise FileNotFoundError(f"{name}: manual_dir {manual_dir} is not a folder.")
    prepare = ({"download_config": tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))}
               if manual_dir is not None else None)
    return tfds.load(name, split=split, data_dir=data_dir, download=download,
                     download_and_prepare_kwargs=prepare)


def configured_builder(builder_class, config, data_dir=None):
    """`builder_class(data_dir=..., config=config)`, after a check that a config given by
    name is one of the builder's (TFDS's own error lists no valid names).

    Example:
    >>> from mtl_zoo.dataset_builders.mtl_shapes import Builder
    >>> configured_builder(Builder, "tiny")
    Traceback (most recent call last):
    ...
    ValueError: Unknown mtl_shapes config 'tiny'. Valid choices: default, small.
    """
    if isinstance(config, str) and config not in builder_class.builder_configs:
        raise unknown_name_error(f"{builder_class.name} config", config, builder_class.builder_configs)
    return builder_class(data_dir=data_dir, config=config)


def tfds_features(name):
    """The feature spec of TFDS dataset `name`, from its code (no data needed).

    Example:
    >>> tfds_features("voc/2012")["objects"]["label"].names[:2]  # doctest: +SKIP
    ['aeroplane', 'bicycle']
    """
    return tfds.builder(name).info.features


def detection_labels(boxes, classes, keep=None, iscrowd=None, areas=None):
    """A Detection raw label `{"boxes": (N, 4) float32, "classes": (N,) int32}` from TFDS
    objects, with `"iscrowd": (N,) bool` when `iscrowd` is given and `"areas": (N,)
    float32` when `areas` is.

    Args:
        boxes: (M, 4) normalised [ymin, xmin, ymax, xmax] (a TFDS `BBoxFeature` sequence).
        classes: (M,) class ids (a TFDS `ClassLabel` sequence).
        keep: optional (M,) bool: the objects kept as boxes (the others are left out).
        iscrowd: optional (M,) bool: the objects that are ignore regions (crowd or
            difficult objects): kept as boxes, flagged for the evaluation, no
            training target (see `mtl_zoo.tasks.Detection`).
        areas: optional (M,) segment areas as fractions of the image area
            (`image_area_fractions`).

    Example:
    >>> labels = detection_labels([[0.1, 0.2, 0.5, 0.6]], [3])
    >>> labels["classes"].numpy().tolist()
    [3]
    >>> detection_labels([[0.1, 0.2, 0.5, 0.6]], [3], iscrowd=[True])["iscrowd"].numpy().tolist()
    [True]
    """
    labels = {"boxes": tf.reshape(tf.cast(boxes, tf.float32), [-1, 4]),
              "classes": tf.reshape(tf.cast(classes, tf.int32), [-1])}
    if iscrowd is not None:
        labels["iscrowd"] = tf.reshape(tf.cast(iscrowd, tf.bool), [-1])
    if areas is not None:
        labels["areas"] = tf.reshape(tf.cast(areas, tf.float32), [-1])
    if keep is not None:
        labels = {key: tf.boolean_mask(value, keep) for key, value in labels.items()}
    return labels


def image_area_fractions(areas, image):
    """Areas in an image's pixels (COCO's segment `area`) as fractions of its area.

    Example:
    >>> image_area_fractions([50, 200], tf.zeros((10, 20, 3), tf.uint8)).numpy().tolist()
    [0.25, 1.0]
    """
    size = tf.cast(tf.shape(image)[0] * tf.shape(image)[1], tf.float32)
    return tf.math.divide_no_nan(tf.reshape(tf.cast(areas, tf.float32), [-1]), size)


def classes_present(classes, num_classes, ignored=None):
    """A MultiLabel raw label (num_classes,): 1 for classes with an object, else 0.

    Classes whose only objects are `ignored` (e.g. only difficult or crowd
    instances) are -1, unknown: the MultiLabel loss skips them.

    Args:
        classes: (M,) class ids of an image's objects.
        num_classes: length of the vector.
        ignored: optional (M,) bool, objects that neither prove nor disprove their class.

    Example:
    >>> classes_present([2, 0, 1], 4, ignored=[False, False, True]).numpy().tolist()
    [1, -1, 1, 0]
    """
    classes = tf.reshape(tf.cast(classes, tf.int32), [-1])
    ignored = tf.zeros_like(classes, tf.bool) if ignored is None else tf.reshape(ignored, [-1])

    def any_of(chosen):
        hits = tf.one_hot(tf.boolean_mask(classes, chosen), num_classes, dtype=tf.int32)
        return tf.reduce_sum(hits, axis=0) > 0

    present, uncertain = any_of(tf.logical_not(ignored)), any_of(ignored)
    return tf.where(present, 1, tf.where(uncertain, -1, 0))
