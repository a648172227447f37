"""Tests of the mtl_shapes builder: builds offline, is deterministic by seed, labels agree with the pixels."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mtl_zoo.dataset_builders.mtl_shapes import mtl_shapes_dataset_builder as builder_module
from mtl_zoo.dataset_builders.mtl_shapes import scene, skeleton

TINY = builder_module.MtlShapesConfig(name="tiny", description="Tests: 64x64, 6/3/3 examples.",
                                      image_size=64, num_train=6, num_validation=3, num_test=3)


class MtlShapesTest(tfds.testing.DatasetBuilderTestCase):
    """Generated (no download): the test builds the tiny config."""

    DATASET_CLASS = builder_module.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [TINY]
    SPLITS = {"train": 6, "validation": 3, "test": 3}


def _build(tmp_path, **config):
    options = dict(name="tiny", image_size=64, num_train=4, num_validation=2, num_test=2, **config)
    builder = builder_module.Builder(data_dir=str(tmp_path), config=builder_module.MtlShapesConfig(**options))
    builder.download_and_prepare()
    return builder


def _record_bytes(builder):
    files = sorted(builder.data_path.glob("*.tfrecord*"))
    assert files, f"no records under {builder.data_path}"
    return {f.name: f.read_bytes() for f in files}


def test_same_seed_gives_byte_identical_records_and_other_seeds_differ(tmp_path):
    first = _record_bytes(_build(tmp_path / "a", seed=3))
    again = _record_bytes(_build(tmp_path / "b", seed=3))
    other = _record_bytes(_build(tmp_path / "c", seed=4))
    assert first == again
    assert first.keys() == other.keys() and first != other


def _examples(count=60, size=64):
    return [scene.generate_example(np.random.default_rng([0, 0, i]), size) for i in range(count)]


def test_keypoints_are_in_the_image_and_in_the_figure_box_when_labelled():
    for example in _examples():
        keypoints, (box,) = example["keypoints"][0], example["person_boxes"]
        labelled = keypoints[:, 2] > 0
        x, y = keypoints[labelled, 0], keypoints[labelled, 1]
        assert ((x >= 0) & (x < 1) & (y >= 0) & (y < 1)).all()
        assert ((y >= box[0]) & (x >= box[1]) & (y <= box[2]) & (x <= box[3])).all()
        assert (keypoints[~labelled] == 0).all()
        assert set(np.unique(keypoints[:, 2])) <= {0.0, 1.0, 2.0}


def test_visibility_matches_the_mask_under_each_keypoint():
    person = scene.SEGMENTATION_CLASSES.index("person")
    seen = set()
    for example in _examples():
        size = example["segmentation"].shape[0]
        for x, y, visibility in example["keypoints"][0]:
            if visibility > 0:
                under = example["segmentation"][int(y * size), int(x * size)]
                assert (under == person) == (visibility == 2)
                seen.add(int(visibility))
    assert seen == {1, 2}  # both visible and occluded keypoints occur


def test_boxes_are_normalised_and_hold_every_mask_pixel_of_their_class():
    for example in _examples():
        boxes, classes, mask = example["boxes"], example["classes"], example["segmentation"]
        size = mask.shape[0]
        assert ((boxes >= 0) & (boxes <= 1)).all()
        assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
        assert classes[0] == 0 and (classes[1:] > 0).all()  # the figure first, then shapes
        for detection_class in np.unique(classes):
            rows, cols = np.nonzero(mask == detection_class + 1)
            inside = np.zeros(rows.shape, bool)
            for ymin, xmin, ymax, xmax in boxes[classes == detection_class] * size:
                inside |= (rows >= ymin) & (rows < ymax) & (cols >= xmin) & (cols < xmax)
            assert inside.all()
        assert set(np.unique(mask)) <= set(range(len(scene.SEGMENTATION_CLASSES)))


def test_every_action_and_shape_class_occurs():
    examples = _examples(120)
    assert {e["action"] for e in examples} == set(range(len(skeleton.ACTIONS)))
    assert set(np.concatenate([e["classes"] for e in examples])) == set(range(len(scene.OBJECT_CLASSES)))


def test_flip_pairs_pair_left_with_right_keypoints():
    names = skeleton.KEYPOINT_NAMES
    paired = [k for pair in skeleton.FLIP_PAIRS for k in pair]
    assert len(paired) == len(set(paired))
    for left, right in skeleton.FLIP_PAIRS:
        assert names[left].startswith("left_") and names[right] == "right_" + names[left][len("left_"):]
    unpaired = {names[k] for k in range(len(names)) if k not in paired}
    assert unpaired == {"head", "neck"}


def test_a_figure_faces_the_viewer_so_its_left_side_is_on_the_image_right():
    pose = skeleton.sample_pose(np.random.default_rng(0), "arms_out")
    for left, right in skeleton.FLIP_PAIRS:
        assert pose[left, 0] > pose[right, 0]


def test_config_rejects_tiny_images():
    with pytest.raises(ValueError, match="image_size must be >= 32"):
        builder_module.MtlShapesConfig(name="bad", image_size=16)


def test_bright_colours_drawn_above_255_are_clipped_not_wrapped(monkeypatch):
    # uniform(150, 256) can draw 255.7, which rounded and cast to uint8 wrapped to 0 (1.0.0)
    monkeypatch.setattr(scene, "_bright_colour", lambda rng: np.array([255.7, 255.6, 0.2]))
    example = scene.generate_example(np.random.default_rng(0), 64)
    objects = example["segmentation"] > 0
    assert objects.any()
    assert (example["image"][objects] == [255, 255, 0]).all()
