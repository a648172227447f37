"""Helpers for examples that `tfds.testing.mock_data` fakes from a builder's feature spec."""

import tensorflow as tf


def ordered_boxes(labels):
    """`labels` with every `boxes` entry's corners ordered: the fake boxes are random corners,
    where TFDS's BBoxFeature refuses real ones with ymin > ymax or xmin > xmax.

    Example:
    >>> ordered_boxes({"digits": {"boxes": tf.constant([[0.5, 0.1, 0.2, 0.4]])}})["digits"]["boxes"].numpy()
    array([[0.2, 0.1, 0.5, 0.4]], dtype=float32)
    """
    if not isinstance(labels, dict):
        return labels
    return {key: (tf.concat([tf.minimum(value[..., :2], value[..., 2:]), tf.maximum(value[..., :2], value[..., 2:])],
                            axis=-1) if key == "boxes" else ordered_boxes(value))
            for key, value in labels.items()}
