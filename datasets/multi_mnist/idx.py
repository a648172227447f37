"""Reading and checking MNIST's IDX files (gzip-compressed), with errors that name the file."""

import gzip
import hashlib
import zlib

import numpy as np
from etils import epath

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def sha256(path):
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with epath.Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path):
    """The array stored in a gzip-compressed MNIST IDX file: uint8 (N, 28, 28) images or (N,) labels.

    Raises:
      ValueError: naming the file, when it is not gzip, has the wrong magic
        number, or is shorter or longer than its header says.

    Example:
    >>> read_idx("t10k-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
    (10000,)
    """
    path = epath.Path(path)
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a readable gzip file ({error}); "
                         "replace it with the official MNIST file.") from None
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise ValueError(f"{path} is not an MNIST IDX file: magic number {magic}, expected "
                         f"{IMAGES_MAGIC} (images) or {LABELS_MAGIC} (labels).")
    rank = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * rank
    if len(data) < header:
        raise ValueError(f"{path} is truncated: {len(data)} bytes, shorter than its IDX header.")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path} holds {len(data)} bytes after decompression, but its header "
                         f"{shape} needs {expected}: the file is truncated or damaged.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_digits(images_path, labels_path):
    """(images (N, 28, 28), labels (N,)) from an MNIST image file and its label file, checked to agree."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"Expected an image file and a label file, got {images_path} with shape "
                         f"{images.shape} and {labels_path} with shape {labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} "
                         f"holds {len(labels)} labels.")
    if labels.max(initial=0) > 9:
        index = int(np.argmax(labels > 9))
        raise ValueError(f"{labels_path}: entry {index} has label {labels[index]}, not a digit 0-9.")
    return images, labels
