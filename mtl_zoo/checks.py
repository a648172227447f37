"""Checks of arguments (counts, numbers, image arrays), shared by the layers, sharing schemes,
pipelines and the model, so that every bad value fails, or warns, with the same kind of
message; and `failed_check`, which finds the message of a check of the data in a TensorFlow
error."""

import math
import numbers
import sys
import warnings

import numpy as np


def check_integer(value, name, minimum=1, owner=None, none_means=None):
    """`value` as an int when it is an integer >= `minimum` (not a bool, a float or a string),
    else a ValueError naming `name` (and `owner`, the layer or scheme it belongs to). With
    `none_means`, None is allowed too (and returned), the message saying what it means.

    Example:
    >>> check_integer(3, "num_experts", minimum=2)
    3
    >>> check_integer(2.0, "num_experts", minimum=2, owner="Sharing scheme 'mmoe'")
    Traceback (most recent call last):
    ...
    ValueError: Sharing scheme 'mmoe': num_experts must be an integer >= 2, got 2.0.
    >>> check_integer(None, "bottleneck", none_means="max(8, channels // 4)") is None
    True
    """
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        prefix = f"{owner}: " if owner else ""
        allowed = f"None ({none_means}) or " if none_means is not None else ""
        raise ValueError(f"{prefix}{name} must be {allowed}an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_number(value, name, low=None, high=None, owner=None):
    """`value` as a float when it is a finite number within [`low`, `high`] (either bound
    None: open), else a ValueError naming `name` (and `owner`).

    Example:
    >>> check_number(0.3, "score_threshold", 0.0, 1.0)
    0.3
    >>> check_number(-1, "max_norm", low=0.0, owner="NashMTL")
    Traceback (most recent call last):
    ...
    ValueError: NashMTL: max_norm must be a finite number >= 0.0, got -1.
    """
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not number or (low is not None and value < low) or (high is not None and value > high):
        prefix = f"{owner}: " if owner else ""
        bounds = (f" in [{low}, {high}]" if low is not None and high is not None
                  else f" >= {low}" if low is not None else f" <= {high}" if high is not None else "")
        raise ValueError(f"{prefix}{name} must be a finite number{bounds}, got {value!r}.")
    return float(value)


def warn_if_unit_range(images, what, stacklevel=3):
    """Warns when `images` (an array or an eager tensor) are floats no larger than 1, not all
    0: the models take raw 0-255 images and scale them themselves, so images already scaled
    to [0, 1] or [-1, 1] would train or predict on nearly black input without an error.
    Other inputs (datasets, uint8 or 0-255 arrays, all-black images) pass without a word.
    `stacklevel` is `warnings.warn`'s, counted from the caller of this function.

    Example:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_unit_range(np.full((1, 4, 4, 3), 0.5, "float32"), "fit's images")
    >>> str(caught[0].message)[:64]
    "fit's images are floats in [0.5, 0.5], but the models take raw 0"
    """
    if hasattr(images, "numpy") and getattr(images.dtype, "is_floating", False):
        try:
            images = images.numpy()
        except (AttributeError, NotImplementedError, ValueError):  # a symbolic tensor
            return
    if not isinstance(images, np.ndarray) or images.dtype.kind != "f":
        return
    finite = np.isfinite(images)
    if not finite.any():
        return
    values = images if finite.all() else images[finite]
    low, high = float(values.min()), float(values.max())
    if high <= 1.0 and (high > 0.0 or low < 0.0):
        warnings.warn(f"{what} are floats in [{low:.3g}, {high:.3g}], but the models take raw 0-255 images (they "
                      "scale them themselves): pass the uint8 images, or undo the scaling.", stacklevel=stacklevel)


# what the messages of mtl_zoo's checks of the data hold (a task's name, or the dataset's
# failure), unlike assertions inside Keras or TensorFlow
DATA_CHECK_MARKS = ("Task '", "task '", "an image is empty", "yields no examples")


def failed_check(error):
    """The message of the mtl_zoo check that `error` reports (a TensorFlow run-time assertion
    about the data, such as a class id out of range), or None for any other error.

    Example:
    >>> import tensorflow as tf
    >>> error = tf.errors.InvalidArgumentError(None, None, "Graph execution error: ... assertion "
    ...     "failed: [Task 'kind': class ids must lie in [0, 4)] [Condition x == y did not hold]")
    >>> failed_check(error)
    "Task 'kind': class ids must lie in [0, 4)"
    """
    tensorflow = sys.modules.get("tensorflow")  # no TensorFlow imported: no such error
    marker = "assertion failed: ["
    if tensorflow is None or not isinstance(error, tensorflow.errors.InvalidArgumentError):
        return None
    text = str(error.message).replace("\\'", "'")  # TensorFlow escapes the quotes
    if marker not in text:
        return None
    body = text[text.index(marker) + len(marker):]
    ends = [index for index in (body.find("] [Condition"), body.find("]\n"), body.rfind("]")) if index >= 0]
    body = body[:min(ends)] if ends else body
    return body if any(mark in body for mark in DATA_CHECK_MARKS) else None
