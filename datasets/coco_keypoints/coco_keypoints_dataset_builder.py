"""COCO 2017 person keypoints: people's boxes, 17 keypoints with visibility, crowd regions.

Reads `person_keypoints_{train,val}2017.json` and the matching images, either
downloaded from cocodataset.org (checksums in checksums.tsv) or from a local
folder: TFDS's manual folder (`<data_dir>/downloads/manual`, or
`download_config=tfds.download.DownloadConfig(manual_dir=...)`) holding the
official zips (checked against checksums.tsv) or their extracted layout
(`annotations/person_keypoints_val2017.json`, `val2017/*.jpg`, ...).

Every annotation is checked while the dataset is built; a malformed one stops
the build with an error naming the file and the annotation / image id, so no
record is silently dropped.
"""

import hashlib
import io
import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from mtl_zoo.dataset_builders import builder_paths

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle")
# (left, right) keypoint indices swapped by a horizontal flip.
FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

_URLS = {
    "annotations": "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
    "train": "http://images.cocodataset.org/zips/train2017.zip",
    "validation": "http://images.cocodataset.org/zips/val2017.zip",
}
_IMAGE_FOLDERS = {"train": "train2017", "validation": "val2017"}
_IMAGE_KEYS = ("id", "file_name", "height", "width")
_ANNOTATION_KEYS = ("id", "image_id", "bbox", "keypoints", "num_keypoints", "iscrowd", "area")
# How far (pixels) a box or labelled keypoint may reach past the image border:
# COCO's float coordinates overshoot by rounding; anything beyond is an error.
_BORDER_SLACK = 1.0


class Builder(tfds.core.GeneratorBasedBuilder):
    """COCO 2017 person keypoints (Lin et al. 2014)."""

    # This file and its folder (checksums.tsv, README.md, dummy_data/): TFDS infers
    # them from the module name, which misses them in an editable install, where
    code_path, pkg_dir_path = builder_paths(__file__)
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Keypoints at pixel centres: COCO's integer pixel indices + 0.5, then normalised.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Optional: to build offline, put into the manual folder either the official
    zips (annotations_trainval2017.zip, train2017.zip, val2017.zip) or their
    extracted layout: annotations/person_keypoints_{train,val}2017.json and the
    folders train2017/ and val2017/ of images. Without a manual folder holding
    the annotations, the builder downloads them from cocodataset.org.
    """

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(encoding_format="jpeg"),
                "image/filename": tfds.features.Text(),
                "image/id": np.int64,
                "objects": tfds.features.Sequence({
                    "id": np.int64,
                    "bbox": tfds.features.BBoxFeature(),
                    "keypoints": tfds.features.Tensor(shape=(NUM_KEYPOINTS, 3), dtype=np.float32),
                    "num_keypoints": np.int64,
                    "is_crowd": np.bool_,
                    "area": np.float32,
                }),
                "num_people": np.int64,
                "has_person": np.bool_,
            }),
            homepage="https://cocodataset.org/#keypoints-2017",
        )

    def _split_generators(self, dl_manager):
        paths = self._local_paths(dl_manager) or dl_manager.download_and_extract(_URLS)
        annotations = epath.Path(paths["annotations"]) / "annotations"
        return {
            split: self._generate_examples(
                annotations / f"person_keypoints_{folder}.json", epath.Path(paths[split]) / folder)
            for split, folder in _IMAGE_FOLDERS.items()
        }

    def _local_paths(self, dl_manager):
        """Where the manual folder's annotations and images are, or None to download."""
        try:
            folder = epath.Path(dl_manager.manual_dir)
        except AssertionError:  # no manual folder, or an empty one
            return None
        annotation_zip = folder / os.path.basename(_URLS["annotations"])
        if not (annotation_zip.exists() or (folder / "annotations").exists()):
            return None
        paths = {}
        for key, url in _URLS.items():
            archive = folder / os.path.basename(url)
            if archive.exists():
                verify_archive(archive, self.url_infos[url].size, self.url_infos[url].checksum)
                paths[key] = dl_manager.extract(archive)
            else:
                paths[key] = folder
        return paths

    def _generate_examples(self, annotation_path, image_folder):
        for image, people in read_person_annotations(annotation_path):
            individuals = [person for person in people if not person["iscrowd"]]
            yield image["id"], {
                "image": io.BytesIO(read_image(image_folder / image["file_name"], image)),
                "image/filename": image["file_name"],
                "image/id": image["id"],
                "objects": [person_record(person, image, annotation_path) for person in people],
                "num_people": len(individuals),
                "has_person": bool(people),
            }


def verify_archive(path, size, sha256):
    """Raises ValueError unless the file at `path` has this size and sha256."""
    path = epath.Path(path)
    actual_size = path.stat().length
    if actual_size != size:
        raise ValueError(f"{path}: size {actual_size} bytes, checksums.tsv says {size}; "
                         "the file is incomplete or not the official archive: download it again.")
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ValueError(f"{path}: sha256 {digest.hexdigest()}, checksums.tsv says {sha256}; "
                         "the file is corrupt or not the official archive: download it again.")


def _require(entry, keys, what, path):
    missing = [key for key in keys if key not in entry]
    if missing:
        raise ValueError(f"{path}: {what} is missing key(s) {missing} (each needs {list(keys)}).")


def read_person_annotations(path):
    """Checked `(image, [person annotations])` pairs of a COCO person-keypoints JSON, by image id.

    Args:
        path: the annotation JSON (e.g. `annotations/person_keypoints_val2017.json`).

    Returns:
        A list of (image dict, list of annotation dicts) for every image of the
        file, including images without people.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not JSON, a key is missing, an image id is
            repeated, or an annotation names an image id that is not in the file.

    Example:
    >>> pairs = read_person_annotations("annotations/person_keypoints_val2017.json")  # doctest: +SKIP
    """
    path = epath.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Annotation file {path} does not exist.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'images' and 'annotations'.")
    _require(data, ("images", "annotations"), "the file", path)
    people = {}
    images = {}
    for index, image in enumerate(data["images"]):
        _require(image, _IMAGE_KEYS, f"image entry #{index} (id {image.get('id')})", path)
        if image["id"] in images:
            raise ValueError(f"{path}: image id {image['id']} appears twice.")
        images[image["id"]] = image
        people[image["id"]] = []
    for index, annotation in enumerate(data["annotations"]):
        _require(annotation, _ANNOTATION_KEYS,
                 f"annotation entry #{index} (id {annotation.get('id')})", path)
        if annotation["image_id"] not in images:
            raise ValueError(f"{path}: annotation id {annotation['id']} refers to image id "
                             f"{annotation['image_id']}, which is not among the file's images.")
        people[annotation["image_id"]].append(annotation)
    return [(images[i], sorted(people[i], key=lambda a: a["id"])) for i in sorted(images)]


def read_image(path, image):
    """The bytes of an image file, after checking it decodes to the annotated size."""
    path = epath.Path(path)
    where = f"image id {image['id']}"
    if not path.exists():
        raise FileNotFoundError(f"Image file {path} ({where}) is missing.")
    data = path.read_bytes()
    try:
        shape = tf.io.decode_image(data, channels=3, expand_animations=False).shape
    except tf.errors.OpError as error:
        raise ValueError(f"Image file {path} ({where}) cannot be decoded: {error.message}") from None
    if tuple(shape[:2]) != (image["height"], image["width"]):
        raise ValueError(f"Image file {path} ({where}) is {shape[0]}x{shape[1]} but the annotations "
                         f"say {image['height']}x{image['width']} (height x width).")
    return data


def _numbers(annotation, key, where):
    try:
        return np.asarray(annotation[key], np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}: {key!r} must be a flat list of numbers, got {annotation[key]!r}.") from None


def person_record(annotation, image, path):
    """One checked person annotation as an `objects` record (normalised box and keypoints).

    Raises:
        ValueError: naming the file and the annotation and image ids, when
            the keypoints are not 17 (x, y, v) triples with v in {0, 1, 2},
            the box is not [x, y, width, height] inside the image, or a
            labelled keypoint lies outside the image.
    """
    height, width = float(image["height"]), float(image["width"])
    where = f"{path}: annotation id {annotation['id']} (image id {image['id']}, {width:g}x{height:g})"
    keypoints = _numbers(annotation, "keypoints", where)
    if keypoints.shape != (3 * NUM_KEYPOINTS,):
        raise ValueError(f"{where}: 'keypoints' has {keypoints.size} values, expected "
                         f"{3 * NUM_KEYPOINTS} ({NUM_KEYPOINTS} x (x, y, visibility)).")
    keypoints = keypoints.reshape(NUM_KEYPOINTS, 3)
    if not np.isin(keypoints[:, 2], (0, 1, 2)).all():
        raise ValueError(f"{where}: keypoint visibilities {keypoints[:, 2].tolist()} must be 0, 1 or 2.")
    labelled = keypoints[keypoints[:, 2] > 0]
    if ((labelled[:, 0] < -_BORDER_SLACK) | (labelled[:, 0] > width + _BORDER_SLACK)
            | (labelled[:, 1] < -_BORDER_SLACK) | (labelled[:, 1] > height + _BORDER_SLACK)).any():
        raise ValueError(f"{where}: a labelled keypoint lies outside the image: {labelled.tolist()}.")
    box = _numbers(annotation, "bbox", where)
    if box.shape != (4,):
        raise ValueError(f"{where}: 'bbox' must be [x, y, width, height], got {annotation['bbox']}.")
    x, y, w, h = box.tolist()
    if (w < 0 or h < 0 or x < -_BORDER_SLACK or y < -_BORDER_SLACK
            or x + w > width + _BORDER_SLACK or y + h > height + _BORDER_SLACK):
        raise ValueError(f"{where}: box [x, y, width, height] = {annotation['bbox']} lies outside "
                         "the image or has a negative size.")
    # COCO's keypoint coordinates are integer pixel indices (x in 0..width-1): +0.5 puts
    # them at the pixel centres, in the continuous coordinates of the boxes, so that a
    # horizontal flip (x -> 1 - x) maps a keypoint onto its mirror pixel's centre.
    normalised = (keypoints + np.array([0.5, 0.5, 0.0], np.float32)) / np.array([width, height, 1.0], np.float32)
    normalised[:, :2] = np.clip(normalised[:, :2], 0.0, 1.0)
    normalised[keypoints[:, 2] == 0] = 0.0
    return {
        "id": annotation["id"],
        "bbox": tfds.features.BBox(*np.clip([y / height, x / width, (y + h) / height, (x + w) / width],
                                            0.0, 1.0).tolist()),
        "keypoints": normalised,
        "num_keypoints": int(annotation["num_keypoints"]),
        "is_crowd": bool(annotation["iscrowd"]),
        "area": float(annotation["area"]),
    }
