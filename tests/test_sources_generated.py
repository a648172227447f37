"""The mtl_shapes and multi_mnist sources: examples in the raw label formats their tasks encode."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import mtl_zoo as mz
from fake_tfds import ordered_boxes
from mtl_zoo.data.sources import list_sources, mtl_shapes, multi_mnist, source_tasks
from mtl_zoo.dataset_builders.mtl_shapes import MtlShapesConfig


def _at_model_size(image, labels, size):
    """Resizes an example to the model input (nearest for the mask), as the input pipeline does."""
    labels = dict(labels)
    if "segmentation" in labels:
        mask = tf.image.resize(labels["segmentation"][..., None], (size, size), method="nearest")
        labels["segmentation"] = mask[..., 0]
    return tf.image.resize(image, (size, size)), labels


def test_sources_are_registered():
    assert {"mtl_shapes", "multi_mnist"} <= set(list_sources())
    assert [t.name for t in source_tasks("mtl_shapes")] == ["action", "objects", "pose", "segmentation"]
    assert [t.name for t in source_tasks("multi_mnist")] == ["left", "right", "digits"]


def test_mtl_shapes_examples_encode_for_a_model_of_its_tasks(tmp_path):
    config = MtlShapesConfig(name="tiny", image_size=64, num_train=4, num_validation=2, num_test=2)
    examples = list(mtl_shapes.load("train", data_dir=str(tmp_path), config=config))
    assert len(examples) == 4
    image, labels = examples[0]
    assert image.dtype == tf.uint8 and image.shape == (64, 64, 3)
    assert labels["objects"]["boxes"].shape[1:] == (4,) and labels["objects"]["classes"].dtype == tf.int32
    assert labels["pose"]["keypoints"].shape == (1, 14, 3) and labels["segmentation"].shape == (64, 64)
    model = mz.build_model("tiny", source_tasks("mtl_shapes"), (32, 32, 3))
    pose = model.get_task("pose")
    assert len(pose.flip_pairs) == 6 and len(pose.keypoint_names) == 14
    for image, labels in examples:
        image, labels = _at_model_size(image, labels, 32)
        targets = model.encode_labels(labels)
        assert set(targets) == {"action", "objects", "pose", "segmentation"}
        assert float(tf.reduce_sum(targets["objects"]["weights"])) == labels["objects"]["classes"].shape[0]
        assert float(tf.reduce_sum(targets["pose"]["weights"])) == 1.0
        assert targets["segmentation"].shape == (32, 32)
        assert int(targets["action"]) == int(labels["action"])


def test_mtl_shapes_load_without_download_needs_a_built_dataset(tmp_path):
    config = MtlShapesConfig(name="tiny", image_size=32, num_train=1, num_validation=1, num_test=1)
    with pytest.raises(AssertionError, match="could not find data"):
        mtl_shapes.load("train", data_dir=str(tmp_path), download=False, config=config)
    for source, names in ((mtl_shapes, "default, small"), (multi_mnist, "full, test_set_only")):
        with pytest.raises(ValueError, match=f"Unknown {source.__name__.split('.')[-1]} config 'smal'. "
                                             f".*Valid choices: {names}."):
            source.load("train", data_dir=str(tmp_path), config="smal")
    assert not list(tmp_path.iterdir())


def test_multi_mnist_examples_encode_for_a_model_of_its_tasks(tmp_path):
    with tfds.testing.mock_data(num_examples=3, data_dir=str(tmp_path)):
        examples = [(image, ordered_boxes(labels))
                    for image, labels in multi_mnist.load("test", data_dir=str(tmp_path), config="test_set_only")]
    assert len(examples) == 3
    model = mz.build_model("tiny", source_tasks("multi_mnist"), (32, 32, 3))
    for image, labels in examples:
        assert image.dtype == tf.uint8 and image.shape == (36, 36, 3)
        assert np.array_equal(image[..., 0], image[..., 2])  # grayscale repeated
        assert labels["digits"]["boxes"].shape == (2, 4) and labels["digits"]["classes"].shape == (2,)
        image, labels = _at_model_size(image, labels, 32)
        targets = model.encode_labels(labels)
        assert set(targets) == {"left", "right", "digits"}
        assert targets["digits"]["heatmap"].shape[-1] == 10


def test_mtl_shapes_generate_matches_the_built_train_split(tmp_path):
    config = MtlShapesConfig(name="same", image_size=48, seed=7, num_train=5, num_validation=1, num_test=1)
    built = list(mtl_shapes.load("train", data_dir=str(tmp_path), config=config).as_numpy_iterator())
    generated = list(mtl_shapes.generate(5, image_size=48, seed=7).as_numpy_iterator())

    def by_image(examples):  # TFDS stores examples in its own order
        return sorted(examples, key=lambda example: example[0].tobytes())

    for (built_image, built_labels), (image, labels) in zip(by_image(built), by_image(generated)):
        np.testing.assert_array_equal(image, built_image)
        tf.nest.map_structure(np.testing.assert_array_equal, labels, built_labels)
    with pytest.raises(ValueError, match="num_examples must be >= 1"):
        mtl_shapes.generate(0)


def test_mtl_shapes_generate_builds_no_generator_dataset():
    # A generator dataset would lower glibc's malloc thresholds for the whole process.
    graph = mtl_shapes.generate(3, image_size=48)._as_serialized_graph().numpy()
    assert b"RangeDataset" in graph and b"GeneratorDataset" not in graph
    assert b"GeneratorDataset" in tf.data.Dataset.from_generator(
        lambda: iter([1]), output_signature=tf.TensorSpec([], tf.int32))._as_serialized_graph().numpy()
