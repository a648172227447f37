"""Tests of the multi_mnist builder: dummy_data builds offline, the real test set builds from a local
folder, and bad local files are named."""

import gzip
import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mtl_zoo.dataset_builders.multi_mnist import idx, pairs
from mtl_zoo.dataset_builders.multi_mnist import multi_mnist_dataset_builder as builder_module

DUMMY = pathlib.Path(__file__).parent / "dummy_data" / "downloads"
DOWNLOADS = {key: f"downloads/{name}" for key, name in builder_module.MNIST_FILES.items()}
ROOT = pathlib.Path(__file__).resolve().parents[2]
MNIST_DIR = pathlib.Path(os.environ.get("MTL_ZOO_MNIST_DIR", ROOT.parent / "shared" / "data" / "mnist"))


class MultiMnistFullTest(tfds.testing.DatasetBuilderTestCase):
    """The "full" config on dummy MNIST files (24 "train" digits, 12 "test" digits), download mocked."""

    DATASET_CLASS = builder_module.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["full"]
    DL_DOWNLOAD_RESULT = DOWNLOADS
    SPLITS = {"train": 24, "test": 12}


class MultiMnistTestSetOnlyTest(tfds.testing.DatasetBuilderTestCase):
    """The test-set-only split rule on the 12 dummy test digits: 0-7 train, 8-11 test."""

    DATASET_CLASS = builder_module.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [builder_module.MultiMnistConfig(
        name="test_set_only_dummy", description="Tests.", test_set_only=True, first_test_digit=8)]
    DL_DOWNLOAD_RESULT = DOWNLOADS
    SPLITS = {"train": 8, "test": 4}


def _prepare(tmp_path, config, manual_dir):
    builder = builder_module.Builder(data_dir=str(tmp_path / "tfds"), config=config)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason=f"the real MNIST test set is not at {MNIST_DIR} (set MTL_ZOO_MNIST_DIR)")
def test_test_set_only_builds_from_the_real_local_folder(tmp_path):
    builder = _prepare(tmp_path, "test_set_only", MNIST_DIR)
    assert builder.info.splits["train"].num_examples == 8000
    assert builder.info.splits["test"].num_examples == 2000
    images, labels = idx.read_digits(MNIST_DIR / "t10k-images-idx3-ubyte.gz", MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    for split, first, last in (("train", 0, 8000), ("test", 8000, 10000)):
        for example in tfds.as_numpy(builder.as_dataset(split=split).take(40)):
            left, right = int(example["left_index"]), int(example["right_index"])
            assert first <= left < last and first <= right < last and left != right
            assert (example["left"], example["right"]) == (labels[left], labels[right])
            assert example["digits"]["label"].tolist() == [labels[left], labels[right]]
            expected = pairs.overlap_digits(images[left], images[right])
            np.testing.assert_array_equal(example["image"][..., 0], expected)


def test_boxes_surround_each_digits_ink():
    images, _ = idx.read_digits(DUMMY / "t10k-images-idx3-ubyte.gz", DUMMY / "t10k-labels-idx1-ubyte.gz")
    digit = images[0]
    box = pairs.ink_box(digit, pairs.RIGHT_OFFSET, pairs.RIGHT_OFFSET) * pairs.CANVAS_SIZE
    canvas = pairs.overlap_digits(np.zeros_like(digit), digit)
    rows, cols = np.nonzero(canvas)
    assert (box[0], box[1], box[2], box[3]) == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    assert (box >= pairs.RIGHT_OFFSET).all() and (box <= pairs.CANVAS_SIZE).all()


def _local_copy(tmp_path, names):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in names:
        shutil.copy(DUMMY / name, folder / name)
    return folder


def test_a_missing_local_file_is_named(tmp_path):
    folder = _local_copy(tmp_path, ["t10k-images-idx3-ubyte.gz"])
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte.gz"):
        _prepare(tmp_path, "test_set_only", folder)


def test_a_wrong_checksum_names_the_file_and_both_digests(tmp_path):
    folder = _local_copy(tmp_path, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    actual = idx.sha256(folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(ValueError) as error:
        _prepare(tmp_path, "test_set_only", folder)
    message = str(error.value)
    assert "t10k-images-idx3-ubyte.gz" in message and actual in message
    assert "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6" in message


@pytest.mark.parametrize("content, problem", [
    (b"not gzip at all", "not a readable gzip file"),
    (gzip.compress((1234).to_bytes(4, "big") + bytes(8), mtime=0), "magic number 1234"),
    (gzip.compress((2049).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(3), mtime=0), "truncated"),
], ids=["not gzip", "wrong magic number", "truncated"])
def test_undecodable_idx_files_are_named(tmp_path, content, problem):
    path = tmp_path / "broken-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=problem) as error:
        idx.read_idx(path)
    assert str(path) in str(error.value)


def test_partners_are_other_digits_and_depend_on_the_seed():
    first = pairs.pair_partners(50, np.random.default_rng([0, 0]))
    assert (first != np.arange(50)).all() and ((first >= 0) & (first < 50)).all()
    np.testing.assert_array_equal(first, pairs.pair_partners(50, np.random.default_rng([0, 0])))
    assert (first != pairs.pair_partners(50, np.random.default_rng([1, 0]))).any()
