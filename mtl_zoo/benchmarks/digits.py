"""MultiMNIST digits as arrays, shared by the MultiLeNet benchmarks and the LibMTL harness.

The digits come from this package's TFDS builder `multi_mnist`, config
"test_set_only": 8,000 training pairs from MNIST test digits 0-7999 and 2,000
test pairs from digits 8000-9999. The MNIST files are read from the folder in
the environment variable MTL_ZOO_MNIST_DIR when it is set (the official .gz
files, checked against their sha256), and downloaded otherwise.

The .npz holds `x_train` uint8 (N, 36, 36), `left_train`, `right_train`
int64 (N,), and the same for `test`: a format both Keras and PyTorch read.

Example:
>>> path = write_digit_arrays("/tmp/digits.npz", max_train=512)  # doctest: +SKIP
>>> load_digit_arrays(path)["x_train"].shape  # doctest: +SKIP
(512, 36, 36)
"""

import os

import numpy as np

MNIST_DIR_ENV = "MTL_ZOO_MNIST_DIR"
SPLITS = ("train", "test")
LABELS = ("left", "right")
IMAGE_SIDE = 36


def digits_origin():
    """Where `write_digit_arrays` takes MNIST from, in words, for benchmark descriptions."""
    folder = os.environ.get(MNIST_DIR_ENV)
    return (f"MNIST files read from {MNIST_DIR_ENV}={folder}" if folder
            else f"MNIST downloaded by TFDS ({MNIST_DIR_ENV} unset)")


def write_digit_arrays(path, max_train=None, max_test=None, data_dir=None):
    """Writes the multi_mnist "test_set_only" digits (first `max_*` pairs) to `path`.

    The file appears complete or not at all (written beside it, then renamed).
    Returns `path`.
    """
    import tensorflow_datasets as tfds

    from mtl_zoo.data.sources import multi_mnist

    arrays = {}
    for split, limit in zip(SPLITS, (max_train, max_test)):
        name = split if limit is None else f"{split}[:{int(limit)}]"
        examples = multi_mnist.load(name, data_dir=data_dir, config="test_set_only",
                                    manual_dir=os.environ.get(MNIST_DIR_ENV))
        images, lefts, rights = [], [], []
        for image, labels in tfds.as_numpy(examples.batch(1024)):
            images.append(image[..., 0])
            lefts.append(labels["left"])
            rights.append(labels["right"])
        arrays[f"x_{split}"] = np.concatenate(images).astype(np.uint8)
        arrays[f"left_{split}"] = np.concatenate(lefts).astype(np.int64)
        arrays[f"right_{split}"] = np.concatenate(rights).astype(np.int64)
    partial = f"{path}.partial.npz"
    np.savez(partial, **arrays)
    os.replace(partial, path)
    return path


def load_digit_arrays(path):
    """The arrays of a digits .npz, checked: every array present, shapes consistent.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: an array is missing or has the wrong shape or range.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"No digits file at {path}; write one with write_digit_arrays.")
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    needed = [f"{kind}_{split}" for split in SPLITS for kind in ("x",) + LABELS]
    missing = [name for name in needed if name not in arrays]
    if missing:
        raise ValueError(f"{path} lacks arrays {missing}; it has {sorted(arrays)}.")
    for split in SPLITS:
        images = arrays[f"x_{split}"]
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or not len(images):
            raise ValueError(f"{path}: x_{split} must be (N > 0, {IMAGE_SIDE}, {IMAGE_SIDE}) "
                             f"images, got {images.shape}.")
        for label in LABELS:
            values = arrays[f"{label}_{split}"]
            if values.shape != (len(images),) or values.min() < 0 or values.max() > 9:
                raise ValueError(f"{path}: {label}_{split} must be {len(images)} digits 0-9, got "
                                 f"shape {values.shape}, range [{values.min()}, {values.max()}].")
    return arrays
