"""The sources adapting TFDS datasets: structure, ranges, consistency, and a model encodes them.

No network: the TFDS datasets are faked from their feature specs
(`tfds.testing.mock_data`, from the builder code), and coco_keypoints is
built from its dummy_data.
"""

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.testing import mocking

import mtl_zoo as mz
from fake_tfds import ordered_boxes
from mtl_zoo.data.sources import coco, coco_keypoints, get_source, list_sources, tfds_labels
from mtl_zoo.dataset_builders.coco_keypoints import Builder as CocoKeypointsBuilder

DUMMY_COCO_KEYPOINTS = CocoKeypointsBuilder.pkg_dir_path / "dummy_data"


class _EqualLengthSequences(mocking.RandomFakeGenerator):
    """Fake examples whose variable-length features share one length (10), as a real
    example's boxes, labels and flags do (TFDS's default draws each length separately)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, constant_dynamic_shape=True, **kwargs)


def _mocked_examples(name, split="train", count=3):
    """`count` examples of source `name` on random data faked from the TFDS feature spec."""
    with mock.patch.object(mocking, "RandomFakeGenerator", _EqualLengthSequences), \
            tfds.testing.mock_data(num_examples=count, policy=tfds.testing.MockPolicy.USE_CODE):
        return [(image, ordered_boxes(labels)) for image, labels in get_source(name).load(split).take(count)]


def _model_encodes(name, image, labels):
    """A tiny model with the source's tasks takes the example resized to 64x64."""
    model = mz.build_model("tiny", get_source(name).tasks(), input_shape=(64, 64, 3))
    resized = tf.cast(tf.image.resize(image, (64, 64)), tf.uint8)
    targets = model.encode_labels(labels)
    assert set(targets) == set(labels)
    outputs = model(resized[None], training=False)
    assert all(np.isfinite(v.numpy()).all() for v in outputs.values())
    return targets


def _check_detection(labels, num_classes):
    boxes, classes = labels["boxes"].numpy(), labels["classes"].numpy()
    assert labels["boxes"].dtype == tf.float32 and labels["classes"].dtype == tf.int32
    assert boxes.shape == (len(classes), 4)
    assert ((boxes >= 0) & (boxes <= 1)).all()
    assert ((classes >= 0) & (classes < num_classes)).all()


def test_sources_are_registered_with_tasks_named_like_their_labels():
    assert {"celeb_a", "coco", "coco_keypoints", "oxford_iiit_pet", "voc"} <= set(list_sources())
    assert len(coco.CLASS_NAMES) == len(set(coco.CLASS_NAMES)) == 80
    assert [t.name for t in get_source("voc").tasks()] == ["objects", "labels"]
    assert get_source("voc").tasks()[0].class_names[14] == "person"


def test_classes_present_marks_ignored_only_classes_unknown():
    vector = tfds_labels.classes_present([3, 3, 1, 0], 5, ignored=[False, True, True, False])
    assert vector.numpy().tolist() == [1, -1, 0, 1, 0]
    assert tfds_labels.classes_present(tf.zeros([0], tf.int64), 3).numpy().tolist() == [0, 0, 0]


@pytest.mark.parametrize("name, flag", [("voc", "is_difficult"), ("coco", "is_crowd")])
def test_detection_sources_keep_boxes_and_labels_consistent(name, flag):
    num_classes = get_source(name).tasks()[0].num_classes
    examples = _mocked_examples(name)
    for image, labels in examples:
        assert image.dtype == tf.uint8 and image.shape[-1] == 3
        _check_detection(labels["objects"], num_classes)
        vector = labels["labels"].numpy()
        assert vector.shape == (num_classes,) and set(vector) <= {-1, 0, 1}
        # every class of a box not flagged crowd / difficult is present, and only those
        crowd, classes = labels["objects"]["iscrowd"].numpy(), labels["objects"]["classes"].numpy()
        assert labels["objects"]["iscrowd"].dtype == tf.bool and crowd.shape == classes.shape
        assert set(np.flatnonzero(vector == 1)) == set(classes[~crowd])
    _model_encodes(name, *examples[0])


@pytest.mark.parametrize("name, flag", [("voc", "is_difficult"), ("coco", "is_crowd")])
def test_detection_sources_keep_difficult_and_crowd_objects_as_ignore_regions(name, flag):
    boxes = [[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.9, 0.9]]
    features = {"image": tf.zeros((4, 4, 3), tf.uint8),
                "objects": {"bbox": tf.constant(boxes), "label": tf.constant([4, 7], tf.int64),
                            flag: tf.constant([False, True]), "area": tf.constant([3, 8], tf.int64)}}
    _, labels = get_source(name).to_example(features)
    np.testing.assert_allclose(labels["objects"]["boxes"], boxes)
    if name == "coco":  # segment areas in pixels become fractions of the 4 x 4 image
        np.testing.assert_allclose(labels["objects"]["areas"], [3 / 16, 8 / 16])
    assert labels["objects"]["classes"].numpy().tolist() == [4, 7]
    assert labels["objects"]["iscrowd"].numpy().tolist() == [False, True]
    assert labels["labels"].numpy()[[4, 7, 0]].tolist() == [1, -1, 0]


def test_coco_keypoints_keeps_crowds_and_people_without_keypoints_flagged():
    keypoints = np.zeros((3, 17, 3), np.float32)
    keypoints[0, :2] = [[0.3, 0.2, 2], [0.35, 0.2, 1]]  # person 0; 1 has no keypoint; 2 is a crowd
    boxes = [[0.1, 0.2, 0.5, 0.4], [0.5, 0.5, 0.9, 0.7], [0.0, 0.0, 1.0, 0.5]]
    features = {"image": tf.zeros((4, 4, 3), tf.uint8),
                "objects": {"id": tf.constant([5, 6, 7], tf.int64), "bbox": tf.constant(boxes),
                            "keypoints": tf.constant(keypoints),
                            "num_keypoints": tf.constant([2, 0, 0], tf.int64),
                            "is_crowd": tf.constant([False, False, True]),
                            "area": tf.constant([2.5, 0.0, 8.0])}}
    _, labels = coco_keypoints.to_example(features)
    np.testing.assert_array_equal(labels["people"]["keypoints"], keypoints)
    for key in ("people", "persons"):
        np.testing.assert_allclose(labels[key]["boxes"], boxes)
        assert labels[key]["iscrowd"].numpy().tolist() == [False, False, True], key
        np.testing.assert_allclose(labels[key]["areas"], [2.5 / 16, 0.0, 0.5])  # of the 4 x 4 image
    assert labels["persons"]["classes"].numpy().tolist() == [0, 0, 0]
    assert labels["people_count"] == 3  # a crowd: three or more
    two_people = {**features, "objects": {key: value[:2] for key, value in features["objects"].items()}}
    assert coco_keypoints.to_example(two_people)[1]["people_count"] == 2  # with or without keypoints


def test_celeb_a_attributes_and_normalised_landmarks():
    examples = _mocked_examples("celeb_a")
    for image, labels in examples:
        height, width = image.shape[:2]
        assert labels["attributes"].shape == (40,) and set(labels["attributes"].numpy()) <= {0, 1}
        landmarks = labels["landmarks"].numpy()
        assert landmarks.shape == (5, 3) and (landmarks[:, 2] == 2).all()
    features = {"image": tf.zeros((218, 178, 3), tf.uint8),
                "attributes": {name: tf.constant(name == "Smiling")
                               for name in get_source("celeb_a").attribute_names()},
                "landmarks": {f"{n}_{axis}": tf.constant(v, tf.int64)
                              for n, (x, y) in zip(get_source("celeb_a").LANDMARK_NAMES,
                                                   [(69, 109), (108, 111), (89, 136), (72, 152), (105, 152)])
                              for axis, v in (("x", x), ("y", y))}}
    _, labels = get_source("celeb_a").to_example(features)
    # pixel (69, 109) at its centre, so that a flip (x -> 1 - x) lands on the mirror pixel's centre
    np.testing.assert_allclose(labels["landmarks"].numpy()[0], [69.5 / 178, 109.5 / 218, 2], rtol=1e-6)
    mirrored = 1.0 - labels["landmarks"].numpy()[0, 0]
    assert mirrored * 178 == pytest.approx((178 - 1 - 69) + 0.5)
    names = get_source("celeb_a").tasks()[0].label_names
    attributes = labels["attributes"].numpy()
    assert attributes[names.index("Smiling")] == 1 and attributes.sum() == 1
    targets = _model_encodes("celeb_a", *examples[0])
    assert targets["landmarks"].shape == (5, 3)


def test_oxford_iiit_pet_maps_trimaps_and_head_boxes():
    examples = _mocked_examples("oxford_iiit_pet")
    for image, labels in examples:
        assert 0 <= labels["breed"] < 37 and 0 <= labels["species"] < 2
        assert labels["segmentation"].shape == image.shape[:2]
        assert set(np.unique(labels["segmentation"].numpy())) <= {0, 1, 255}
        _check_detection(labels["head"], 1)
        assert labels["head"]["boxes"].shape[0] <= 1
    trimap = tf.constant([[[1], [2]], [[3], [2]]], tf.uint8)
    empty = {"image": tf.zeros((2, 2, 3), tf.uint8), "label": tf.constant(5, tf.int64),
             "species": tf.constant(1, tf.int64), "segmentation_mask": trimap,
             "head_bbox": tf.zeros([4])}
    _, labels = get_source("oxford_iiit_pet").to_example(empty)
    assert labels["segmentation"].numpy().tolist() == [[1, 0], [255, 0]]
    assert labels["head"]["boxes"].shape == (0, 4)
    test_split = _mocked_examples("oxford_iiit_pet", split="test", count=1)
    assert "head" not in test_split[0][1]
    _model_encodes("oxford_iiit_pet", *examples[0])


@pytest.fixture(scope="module")
def coco_keypoints_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    with pytest.raises(FileNotFoundError, match="coco_keypoints: manual_dir .*missing is not a folder"):
        coco_keypoints.load("train", data_dir=str(data_dir), manual_dir=str(data_dir / "missing"))
    coco_keypoints.load("train", data_dir=str(data_dir), manual_dir=DUMMY_COCO_KEYPOINTS)  # builds it
    return str(data_dir)


def test_coco_keypoints_source_from_the_builder(coco_keypoints_dir):
    examples = list(coco_keypoints.load("train", data_dir=coco_keypoints_dir, download=False))
    by_people = sorted(examples, key=lambda e: int(e[1]["people_count"]))
    (empty_image, empty), (image, labels) = by_people
    assert empty["people_count"] == 0 and empty["people"]["keypoints"].shape == (0, 17, 3)
    # two individuals and a crowd region, kept in people and persons as an ignore region
    assert labels["people_count"] == 3
    assert labels["people"]["keypoints"].shape == (3, 17, 3)
    assert labels["people"]["boxes"].shape == (3, 4)
    _check_detection(labels["persons"], 1)
    assert labels["persons"]["boxes"].shape == (3, 4)
    for key in ("people", "persons"):
        assert labels[key]["iscrowd"].numpy().tolist() == [False, False, True], key
    assert (labels["people"]["keypoints"].numpy()[2, :, 2] == 0).all()
    visibility = labels["people"]["keypoints"].numpy()[..., 2]
    assert set(np.unique(visibility)) <= {0, 1, 2} and (visibility > 0).any()
    targets = _model_encodes("coco_keypoints", image, labels)
    assert float(tf.reduce_max(targets["people"]["center_heatmap"])) == pytest.approx(1.0)
    _model_encodes("coco_keypoints", empty_image, empty)
