"""mtl_shapes: generated stick figures and shapes labelled for four related tasks (no download)."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from mtl_zoo.dataset_builders import builder_paths
from mtl_zoo.dataset_builders.mtl_shapes import scene, skeleton

KEYPOINT_NAMES = skeleton.KEYPOINT_NAMES
FLIP_PAIRS = skeleton.FLIP_PAIRS
ACTIONS = skeleton.ACTIONS
OBJECT_CLASSES = scene.OBJECT_CLASSES
SEGMENTATION_CLASSES = scene.SEGMENTATION_CLASSES
SPLIT_NAMES = ("train", "validation", "test")


@dataclasses.dataclass
class MtlShapesConfig(tfds.core.BuilderConfig):
    """What to generate: image side, seed and examples per split.

    Args:
      image_size: image height and width in pixels (at least 32).
      seed: the dataset's seed; example `i` of a split is drawn from
        `numpy.random.default_rng([seed, split index, i])`, so the data is the
        same on every run and every machine for a given config.
      num_train, num_validation, num_test: examples per split.

    Example:
    >>> config = MtlShapesConfig(name="tiny", image_size=64, num_train=8,
    ...                          num_validation=4, num_test=4)
    >>> builder = Builder(config=config, data_dir="/tmp/tfds")  # doctest: +SKIP
    """

    image_size: int = 128
    seed: int = 0
    num_train: int = 3000
    num_validation: int = 500
    num_test: int = 500

    def __post_init__(self):
        if self.image_size < 32:
            raise ValueError(f"mtl_shapes: image_size must be >= 32 pixels, got {self.image_size}.")
        for split in SPLIT_NAMES:
            if getattr(self, f"num_{split}") < 1:
                raise ValueError(f"mtl_shapes: num_{split} must be >= 1, got {getattr(self, f'num_{split}')}.")


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for mtl_shapes: one stick figure doing an action, 0-3 shapes, a textured background.

    Labels per image: the figure's action (its pose shows it), boxes of the
    figure and the shapes with their classes, the figure's 14 keypoints with
    visibility (0 outside the image, 1 covered by a shape, 2 visible) and a
    segmentation mask. Generated with numpy; no download.
    """

    # TFDS finds checksums.tsv, README.md, CITATIONS.bib and dummy_data/ next to the module, a path
    code_path, pkg_dir_path = builder_paths(__file__)
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Colour channels drawn above 255 are clipped to 255; they wrapped to 0 "
                 "(2.7% of the default config's training images had such an object).",
    }
    BUILDER_CONFIGS = [
        MtlShapesConfig(name="default", description="128x128 images, seed 0, 3000/500/500 examples."),
        MtlShapesConfig(name="small", description="64x64 images, seed 0, 600/100/100 examples.",
                        image_size=64, num_train=600, num_validation=100, num_test=100),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def _info(self):
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(size, size, 3)),
                "action": tfds.features.ClassLabel(names=ACTIONS),
                "objects": tfds.features.Sequence({
                    "bbox": tfds.features.BBoxFeature(),
                    "label": tfds.features.ClassLabel(names=OBJECT_CLASSES),
                }),
                "people": tfds.features.Sequence({
                    "bbox": tfds.features.BBoxFeature(),
                    "keypoints": tfds.features.Tensor(shape=(len(KEYPOINT_NAMES), 3), dtype=np.float32),
                }),
                "segmentation": tfds.features.Image(shape=(size, size, 1)),
            }),
            supervised_keys=("image", "action"),
            homepage="https://github.com/mtl-zoo/mtl_zoo/tree/main/datasets/mtl_shapes",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # generated, nothing to download
        return {split: self._generate_examples(index, getattr(self.builder_config, f"num_{split}"))
                for index, split in enumerate(SPLIT_NAMES)}

    def _generate_examples(self, split_index, num_examples):
        config = self.builder_config
        for i in range(num_examples):
            yield i, tfds_example(scene.generate_example(
                np.random.default_rng([config.seed, split_index, i]), config.image_size))


def tfds_example(example):
    """Maps `scene.generate_example`'s arrays to this builder's features."""
    return {
        "image": example["image"],
        "action": example["action"],
        "objects": {"bbox": example["boxes"], "label": example["classes"]},
        "people": {"bbox": example["person_boxes"], "keypoints": example["keypoints"]},
        "segmentation": example["segmentation"][..., None],
    }
