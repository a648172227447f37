"""Tests of the coco_keypoints builder: dummy_data builds offline; malformed input is named."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mtl_zoo.dataset_builders.coco_keypoints import coco_keypoints_dataset_builder as builder_module


class CocoKeypointsLocalFolderTest(tfds.testing.DatasetBuilderTestCase):
    """dummy_data is the manual folder, in the extracted layout: nothing is downloaded."""

    DATASET_CLASS = builder_module.Builder
    SPLITS = {"train": 2, "validation": 1}

    def _get_dl_extract_result(self, url):
        raise AssertionError(f"A manual folder holding the annotations must not download {url}.")


class CocoKeypointsDownloadTest(tfds.testing.DatasetBuilderTestCase):
    """A manual folder without annotations downloads the official zips (mocked).

    The manual folder is dummy_data/val2017 (images only); the mocked
    downloads of the three zips all extract to dummy_data.
    """

    DATASET_CLASS = builder_module.Builder
    SPLITS = {"train": 2, "validation": 1}
    EXAMPLE_DIR = str(builder_module.Builder.pkg_dir_path / "dummy_data" / "val2017")
    DL_EXTRACT_RESULT = {"annotations": "..", "train": "..", "validation": ".."}
    requested = None

    def _get_dl_extract_result(self, url):
        CocoKeypointsDownloadTest.requested = dict(url)
        return super()._get_dl_extract_result(url)

    def test_download_and_prepare_as_dataset(self):
        super().test_download_and_prepare_as_dataset()
        self.assertEqual(self.requested, builder_module._URLS)


def test_examples_hold_normalised_people_and_crowd_regions(tmp_path):
    builder = builder_module.Builder(data_dir=str(tmp_path))
    manual = builder_module.Builder.pkg_dir_path / "dummy_data"
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    examples = {int(e["image/id"]): e for e in tfds.as_numpy(builder.as_dataset(split="train"))}
    first, empty = examples[1], examples[2]
    assert first["image"].shape == (32, 40, 3) and empty["image"].shape == (36, 48, 3)
    objects = first["objects"]
    assert objects["keypoints"].shape == (3, 17, 3)
    assert objects["is_crowd"].tolist() == [False, False, True]
    assert first["num_people"] == 2 and first["has_person"]
    assert empty["num_people"] == 0 and not empty["has_person"] and len(empty["objects"]["id"]) == 0
    np.testing.assert_allclose(objects["bbox"][0], [2 / 32, 4 / 40, 30 / 32, 18 / 40], atol=1e-6)
    np.testing.assert_allclose(objects["keypoints"][0, 0], [10.5 / 40, 5.5 / 32, 2], atol=1e-6)  # pixel centres
    assert not objects["keypoints"][2].any()  # crowd regions carry no keypoints
    assert ((objects["bbox"] >= 0) & (objects["bbox"] <= 1)).all()


def _image(**changes):
    return {"id": 7, "file_name": "a.jpg", "height": 8, "width": 10, **changes}


def _person(**changes):
    return {"id": 70, "image_id": 7, "bbox": [1, 1, 4, 5], "keypoints": [2, 3, 2] + [0] * 48,
            "num_keypoints": 1, "iscrowd": 0, "area": 10.0, **changes}


def _write(tmp_path, annotations=None, images=None, image_bytes=None):
    """A one-image annotation JSON and its 8x10 JPEG in tmp_path."""
    data = {"images": images or [_image()], "annotations": annotations or [_person()]}
    path = tmp_path / "person_keypoints_val2017.json"
    path.write_text(json.dumps(data))
    if image_bytes is None:
        image_bytes = tf.io.encode_jpeg(np.zeros((8, 10, 3), np.uint8)).numpy()
    (tmp_path / "a.jpg").write_bytes(image_bytes)
    return path


def _build_records(path, folder):
    builder = builder_module.Builder(data_dir=str(folder / "tfds"))
    return list(builder._generate_examples(builder_module.epath.Path(path), builder_module.epath.Path(folder)))


def test_well_formed_hand_written_file_builds(tmp_path):
    path = _write(tmp_path)
    (key, record), = _build_records(path, tmp_path)
    assert key == 7 and record["num_people"] == 1
    # pixel (2, 3) of a 10x8 image: its centre (2.5, 3.5), normalised
    np.testing.assert_allclose(record["objects"][0]["keypoints"][0], [0.25, 0.4375, 2.0])


def _without_keypoints():
    person = _person()
    del person["keypoints"]
    return person


@pytest.mark.parametrize("person, message", [
    (_without_keypoints(), r"annotation entry #0 \(id 70\) is missing key\(s\) \['keypoints'\]"),
    (_person(keypoints=[0] * 50), r"annotation id 70 \(image id 7.*'keypoints' has 50 values"),
    (_person(bbox=[6, 1, 6, 5]), r"annotation id 70 \(image id 7.*box .* lies outside the image"),
    (_person(bbox=[1, 1, 4]), r"annotation id 70 .*'bbox' must be \[x, y, width, height\]"),
    (_person(keypoints=[20, 3, 2] + [0] * 48), r"annotation id 70 .*keypoint lies outside"),
    (_person(keypoints=[2, 3, 5] + [0] * 48), r"annotation id 70 .*visibilities"),
    (_person(image_id=99), r"annotation id 70 refers to image id 99"),
    (_person(keypoints=["x"] * 51), r"annotation id 70 .*'keypoints' must be a flat list of numbers"),
])
def test_malformed_annotations_name_the_file_and_the_entry(tmp_path, person, message):
    path = _write(tmp_path, annotations=[person])
    with pytest.raises(ValueError, match=message) as error:
        _build_records(path, tmp_path)
    assert str(path) in str(error.value)


def test_missing_image_keys_and_files_are_named(tmp_path):
    path = _write(tmp_path, images=[{"id": 7, "file_name": "a.jpg", "width": 10}])
    with pytest.raises(ValueError, match=r"image entry #0 \(id 7\) is missing key\(s\) \['height'\]"):
        _build_records(path, tmp_path)
    path = _write(tmp_path, images=[_image(file_name="gone.jpg")])
    with pytest.raises(FileNotFoundError, match=r"gone.jpg \(image id 7\) is missing"):
        _build_records(path, tmp_path)
    with pytest.raises(ValueError, match=r"missing key\(s\) \['annotations'\]"):
        (tmp_path / "no_annotations.json").write_text(json.dumps({"images": []}))
        builder_module.read_person_annotations(tmp_path / "no_annotations.json")


def test_undecodable_or_wrongly_sized_images_are_named(tmp_path):
    path = _write(tmp_path, image_bytes=b"\xff\xd8 not a jpeg")
    with pytest.raises(ValueError, match=r"a.jpg \(image id 7\) cannot be decoded"):
        _build_records(path, tmp_path)
    path = _write(tmp_path, image_bytes=tf.io.encode_jpeg(np.zeros((9, 10, 3), np.uint8)).numpy())
    with pytest.raises(ValueError, match=r"a.jpg \(image id 7\) is 9x10 but the annotations say 8x10"):
        _build_records(path, tmp_path)


def test_local_archives_are_checked_against_checksums(tmp_path):
    archive = tmp_path / "val2017.zip"
    archive.write_bytes(b"not the official zip")
    with pytest.raises(ValueError, match=r"val2017.zip: size 20 bytes, checksums.tsv says 815585330"):
        builder_module.verify_archive(archive, 815585330, "0" * 64)
    with pytest.raises(ValueError, match=r"val2017.zip: sha256 [0-9a-f]{64}, checksums.tsv says 0{64}"):
        builder_module.verify_archive(archive, 20, "0" * 64)
    assert set(builder_module.Builder.url_infos) == set(builder_module._URLS.values())


def test_a_manual_folder_with_a_wrong_archive_is_refused(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "annotations_trainval2017.zip").write_bytes(b"truncated")
    builder = builder_module.Builder(data_dir=str(tmp_path / "tfds"))
    with pytest.raises(ValueError, match=r"manual/annotations_trainval2017.zip: size 9 bytes"):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
