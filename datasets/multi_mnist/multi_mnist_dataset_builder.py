"""multi_mnist: two overlapping MNIST digits per image (Sener & Koltun 2018 protocol)."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from mtl_zoo.dataset_builders import builder_paths
from mtl_zoo.dataset_builders.multi_mnist import idx, pairs

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
DIGIT_NAMES = tuple(str(d) for d in range(10))


@dataclasses.dataclass
class MultiMnistConfig(tfds.core.BuilderConfig):
    """Which MNIST digits make which split.

    Args:
      seed: seeds the choice of each digit's partner (per split), so the
        pairs are the same on every run.
      test_set_only: build from the MNIST test set alone (t10k-* files):
        digits `[0, first_test_digit)` make the train split, the rest the test
        split. Otherwise MNIST train makes train and MNIST test makes test.
      first_test_digit: see `test_set_only`.
    """

    seed: int = 0
    test_set_only: bool = False
    first_test_digit: int = 8000

    @property
    def file_keys(self):
        """The keys of `MNIST_FILES` this config reads."""
        keys = ("test_images", "test_labels")
        return keys if self.test_set_only else ("train_images", "train_labels") + keys


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for MultiMNIST: a left and a right digit overlapped on a 36x36 canvas.

    Following Sener & Koltun (2018), each digit of a split is paired with
    another digit of the same split drawn at random; the first goes to the
    top-left corner of a 36x36 canvas, the second 6 pixels down and right,
    the brighter pixel winning where they overlap. Sener & Koltun then resize
    the canvas to 28x28; this builder keeps the 36x36 canvas (resize in the
    input pipeline). Labels: the left digit, the right digit, and both
    digits' boxes (the extent of their ink) with their classes.

    Configs: "full" pairs the 60,000 MNIST training digits into the train
    split and the 10,000 test digits into the test split; "test_set_only"
    uses the MNIST test set alone: digits 0-7999 (file order) make the train
    split (8,000 images), digits 8000-9999 the test split (2,000 images).

    The MNIST files are downloaded, or read from the manual directory
    (`download_config=tfds.download.DownloadConfig(manual_dir=...)`) when it
    holds any of them; both ways they are checked against checksums.tsv.
    """

    # TFDS finds checksums.tsv, README.md, CITATIONS.bib and dummy_data/ next to the module, a path
    code_path, pkg_dir_path = builder_paths(__file__)
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        MultiMnistConfig(name="full", description="MNIST train -> train (60,000), MNIST test -> test (10,000)."),
        MultiMnistConfig(name="test_set_only", test_set_only=True,
                         description="MNIST test digits 0-7999 -> train (8,000), 8000-9999 -> test (2,000)."),
    ]
    DEFAULT_CONFIG_NAME = "full"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Optional: to build without a network, put the official gzip-compressed MNIST files
    (t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz; for the "full" config also
    train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz) in the manual directory.
    With none of them there, they are downloaded from https://storage.googleapis.com/cvdf-datasets/mnist/.
    """

    def _info(self):
        digits = tfds.features.ClassLabel(names=DIGIT_NAMES)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(pairs.CANVAS_SIZE, pairs.CANVAS_SIZE, 1)),
                "left": digits,
                "right": digits,
                "digits": tfds.features.Sequence({"bbox": tfds.features.BBoxFeature(), "label": digits}, length=2),
                "left_index": np.int64,
                "right_index": np.int64,
            }),
            supervised_keys=("image", "left"),
            homepage="https://github.com/intel-isl/MultiObjectiveOptimization",
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        paths = self._local_files(dl_manager) or dl_manager.download(
            {key: MNIST_URL + MNIST_FILES[key] for key in config.file_keys})
        test_images, test_labels = idx.read_digits(paths["test_images"], paths["test_labels"])
        if config.test_set_only:
            first = config.first_test_digit
            if not 0 < first < len(test_labels):
                raise ValueError(f"multi_mnist: first_test_digit={first} must be inside the "
                                 f"{len(test_labels)} digits of {paths['test_images']}.")
            return {"train": self._generate_examples(test_images[:first], test_labels[:first], 0, 0),
                    "test": self._generate_examples(test_images[first:], test_labels[first:], first, 1)}
        train_images, train_labels = idx.read_digits(paths["train_images"], paths["train_labels"])
        return {"train": self._generate_examples(train_images, train_labels, 0, 0),
                "test": self._generate_examples(test_images, test_labels, 0, 1)}

    def _local_files(self, dl_manager):
        """{key: path} of this config's MNIST files in the manual dir, verified; None if it holds none."""
        try:
            folder = epath.Path(dl_manager.manual_dir)
        except AssertionError:  # no manual dir, or an empty one
            return None
        paths = {key: folder / MNIST_FILES[key] for key in self.builder_config.file_keys}
        if not any(path.exists() for path in paths.values()):
            return None
        missing = sorted(MNIST_FILES[key] for key, path in paths.items() if not path.exists())
        if missing:
            raise FileNotFoundError(
                f"multi_mnist: the local MNIST folder {folder} lacks {', '.join(missing)} (config "
                f"{self.builder_config.name!r} needs {sorted(MNIST_FILES[key] for key in paths)}). Copy the "
                f"official files there from {MNIST_URL}, or remove the folder's MNIST files to download them.")
        for key, path in paths.items():
            expected, actual = self.url_infos[MNIST_URL + MNIST_FILES[key]].checksum, idx.sha256(path)
            if actual != expected:
                raise ValueError(
                    f"multi_mnist: {path} has sha256 {actual}, expected {expected} for the official "
                    f"{MNIST_FILES[key]}. The file is damaged or not the official one: replace it with "
                    f"{MNIST_URL + MNIST_FILES[key]}.")
        return paths

    def _generate_examples(self, images, labels, first_index, split_index):
        """Pairs digit i (left) with a random other digit (right); keys are the left digit's index."""
        partners = pairs.pair_partners(len(labels), np.random.default_rng([self.builder_config.seed, split_index]))
        for i, j in enumerate(partners):
            boxes = [pairs.ink_box(images[i], 0, 0),
                     pairs.ink_box(images[j], pairs.RIGHT_OFFSET, pairs.RIGHT_OFFSET)]
            for index, box in ((i, boxes[0]), (j, boxes[1])):
                if box is None:
                    raise ValueError(f"multi_mnist: MNIST digit {first_index + index} is blank (no ink): "
                                     "the image file is damaged.")
            yield int(first_index + i), {
                "image": pairs.overlap_digits(images[i], images[j])[..., None],
                "left": int(labels[i]),
                "right": int(labels[j]),
                "digits": {"bbox": np.stack(boxes), "label": [int(labels[i]), int(labels[j])]},
                "left_index": first_index + i,
                "right_index": first_index + j,
            }
