"""Overlapping two MNIST digits into one MultiMNIST image (Sener & Koltun 2018, after Sabour et al. 2017)."""

import numpy as np

DIGIT_SIZE = 28
CANVAS_SIZE = 36
RIGHT_OFFSET = 6  # the right digit's top-left corner on the canvas; the left digit sits at (0, 0)


def pair_partners(num_digits, rng):
    """For each digit i, the index of a different digit drawn uniformly from the others.

    Example:
    >>> partners = pair_partners(5, np.random.default_rng(0))
    >>> bool((partners != np.arange(5)).all())
    True
    """
    if num_digits < 2:
        raise ValueError(f"MultiMNIST needs at least 2 digits to pair, got {num_digits}.")
    return (np.arange(num_digits) + rng.integers(1, num_digits, num_digits)) % num_digits


def ink_box(digit, top, left):
    """Normalised [ymin, xmin, ymax, xmax] on the canvas of a digit's non-zero pixels, or None if blank."""
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    if rows.size == 0:
        return None
    box = np.array([top + rows[0], left + cols[0], top + rows[-1] + 1, left + cols[-1] + 1], np.float32)
    return box / CANVAS_SIZE


def overlap_digits(left_digit, right_digit):
    """The (36, 36) uint8 canvas with `left_digit` at the top-left and `right_digit` 6 pixels down and right.

    Where the digits overlap the canvas takes the brighter pixel, as in Sener &
    Koltun's loader (which then resizes the canvas to 28x28; we keep 36x36).

    Example:
    >>> overlap_digits(np.ones((28, 28), np.uint8), np.zeros((28, 28), np.uint8)).shape
    (36, 36)
    """
    canvas = np.zeros((CANVAS_SIZE, CANVAS_SIZE), np.uint8)
    canvas[:DIGIT_SIZE, :DIGIT_SIZE] = left_digit
    right = canvas[RIGHT_OFFSET:RIGHT_OFFSET + DIGIT_SIZE, RIGHT_OFFSET:RIGHT_OFFSET + DIGIT_SIZE]
    np.maximum(right, right_digit, out=right)
    return canvas
