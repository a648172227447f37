"""Serving export: SavedModel signatures, parity with predict_decoded, TFLite, bad input."""

import concurrent.futures
import os
import re
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.benchmarks import run_benchmark
from mtl_zoo.builders import SHARING_SCHEMES
from mtl_zoo.data import build_pipeline, raw_batches
from mtl_zoo.export.serving import to_model_input
from mtl_zoo.files import umask_mode, write_whole

SIZE = 64
# Low thresholds, so that the untrained heads return detections to compare.
ALL_KINDS = [
    mz.tasks.Classification("count", num_classes=3),
    mz.tasks.MultiLabel("attributes", num_labels=4),
    mz.tasks.Detection("shapes", num_classes=2, score_threshold=0.05, max_detections=10),
    mz.tasks.Keypoints("pose", num_keypoints=3, score_threshold=0.05, max_detections=5),
    mz.tasks.Landmarks("face", num_landmarks=2, hidden_units=8),
    mz.tasks.Segmentation("parts", num_classes=3, head_channels=8),
    mz.tasks.Depth("depth", head_channels=8),
]


def random_images(count, height=SIZE, width=SIZE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def sorted_detections(boxes, classes, scores):
    """Detection rows ordered by (score, class, box), so tied peaks compare equal."""
    rows = np.concatenate([scores[..., None], classes[..., None], boxes], axis=-1).astype(np.float64)
    return np.stack([image[np.lexsort(np.round(image, 3).T[::-1])] for image in rows])


def assert_decoded_equal(outputs, reference, atol=1e-4, tied_detections_reorder=False):
    """Flat serving outputs equal predict_decoded's nested dict.

    With `tied_detections_reorder` (another runtime, e.g. TFLite, may order
    peaks of equal score differently), detections are compared as sets of rows.
    """
    for task, values in reference.items():
        for key, expected in values.items():
            actual = np.asarray(outputs[f"{task}_{key}"])
            assert actual.shape == expected.shape, (task, key)
            if tied_detections_reorder and "boxes" in values and key in ("boxes", "classes"):
                continue
            np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                                       atol=atol, err_msg=f"{task}_{key}")
        if "boxes" in values:
            actual = [np.asarray(outputs[f"{task}_{k}"]) for k in ("boxes", "classes", "scores")]
            np.testing.assert_allclose(
                sorted_detections(*actual),
                sorted_detections(values["boxes"], values["classes"], values["scores"]), atol=atol)


@pytest.fixture(scope="module")
def all_kinds(tmp_path_factory):
    """One model with every task kind, exported once; (model, version path, loaded)."""
    keras.utils.set_random_seed(0)
    model = mz.build_model("tiny", ALL_KINDS, (SIZE, SIZE, 3))
    path = model.export(str(tmp_path_factory.mktemp("all_kinds") / "model"))
    return model, path, tf.saved_model.load(path)


def test_serving_default_matches_predict_decoded_for_every_task_kind(all_kinds):
    model, _, loaded = all_kinds
    images = random_images(3)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    reference = model.predict_decoded(images)
    assert reference["shapes"]["num_detections"].min() > 0  # something to compare
    assert_decoded_equal(outputs, reference)
    np.testing.assert_array_equal(outputs["image_size"], [[SIZE, SIZE]] * 3)
    expected = {f"{t}_{k}" for t, v in reference.items() for k in v} | {"image_size"}
    assert set(outputs) == expected


def test_serving_raw_matches_the_keras_model(all_kinds):
    model, _, loaded = all_kinds
    images = random_images(2, seed=1)
    outputs = loaded.signatures["serving_raw"](images=tf.constant(images))
    reference = model.predict(images.astype("float32"), verbose=0)
    assert set(outputs) == set(reference)
    for name, expected in reference.items():
        np.testing.assert_allclose(outputs[name], expected, atol=1e-5, err_msg=name)


def test_other_image_sizes_are_mapped_back_to_their_pixels(all_kinds):
    model, _, loaded = all_kinds
    height, width = 96, 160
    images = random_images(2, height, width, seed=2)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    resized = tf.image.resize(tf.cast(images, tf.float32), (SIZE, SIZE), antialias=True).numpy()
    reference = model.predict_decoded(resized)
    scale_y, scale_x = height / SIZE, width / SIZE
    np.testing.assert_allclose(
        sorted_detections(*(outputs[f"shapes_{k}"].numpy() for k in ("boxes", "classes", "scores"))),
        sorted_detections(reference["shapes"]["boxes"] * [scale_y, scale_x, scale_y, scale_x],
                          reference["shapes"]["classes"], reference["shapes"]["scores"]), atol=1e-3)
    np.testing.assert_allclose(outputs["pose_keypoints"],
                               reference["pose"]["keypoints"] * [scale_x, scale_y, 1.0], atol=1e-3)
    np.testing.assert_allclose(outputs["face_landmarks"],
                               reference["face"]["landmarks"] * [scale_x, scale_y], atol=1e-3)
    assert outputs["parts_classes"].shape == (2, height, width)
    assert outputs["depth_depth"].shape == (2, height, width)
    assert outputs["parts_probabilities"].shape == (2, height, width, 3)
    np.testing.assert_allclose(outputs["count_probabilities"], reference["count"]["probabilities"],
                               atol=1e-5)


def test_serving_feeds_the_model_what_the_input_pipeline_feeds_it(all_kinds):
    model, _, loaded = all_kinds
    for height, width in [(300, 517), (45, 60)]:  # shrunk and enlarged to 64 x 64
        images = random_images(2, height, width, seed=height)
        examples = tf.data.Dataset.from_tensor_slices((images, {"count": np.array([0, 1])}))
        trained_on = next(iter(build_pipeline(model, examples, 2)))[0]
        served, _ = to_model_input(tf.constant(images), model)  # as the signatures resize
        np.testing.assert_allclose(served, trained_on, atol=1e-4, err_msg=str((height, width)))
        raw = loaded.signatures["serving_raw"](images=tf.constant(images))
        for name, expected in model(trained_on, training=False).items():
            np.testing.assert_allclose(raw[name], expected, atol=1e-4, err_msg=name)


@pytest.fixture(scope="module")
def letterboxed(all_kinds, tmp_path_factory):
    """The every-kind model exported letterboxing into grey bands; (model, loaded)."""
    model = all_kinds[0]
    path = model.export(str(tmp_path_factory.mktemp("letterboxed") / "model"), resize="letterbox",
                        pad_value=114)
    return model, tf.saved_model.load(path)


@pytest.mark.parametrize("height, width", [(48, 96), (96, 48)])
def test_letterboxed_outputs_are_mapped_back_through_the_letterbox(letterboxed, height, width):
    model, loaded = letterboxed
    images = random_images(2, height, width, seed=width)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    examples = tf.data.Dataset.from_tensor_slices((images, {"count": np.array([0, 1])}))
    letterboxed_images, _ = next(iter(raw_batches(model, examples, 2, resize="letterbox",
                                                  pad_value=114)))
    raw = loaded.signatures["serving_raw"](images=tf.constant(images))
    for name, expected in model(letterboxed_images, training=False).items():
        np.testing.assert_allclose(raw[name], expected, atol=1e-4, err_msg=name)
    reference = model.predict_decoded(letterboxed_images.numpy())
    assert reference["shapes"]["num_detections"].min() > 0  # something to compare
    assert reference["pose"]["num_instances"].min() > 0
    # scale 64 / 96: the image fills 32 rows (or columns) of the input, from 16 to 48
    top, left = (16, 0) if height < width else (0, 16)
    rows, columns = slice(top, SIZE - top), slice(left, SIZE - left)

    def by_hand(yx):  # model-input (y, x) pixels -> image pixels, clipped to the image
        return np.clip((yx - [top, left]) * 1.5, 0.0, [height, width])

    boxes = reference["shapes"]["boxes"].reshape(2, -1, 2, 2)
    boxes = by_hand(boxes).reshape(2, -1, 4)
    np.testing.assert_allclose(
        sorted_detections(*(outputs[f"shapes_{k}"].numpy() for k in ("boxes", "classes", "scores"))),
        sorted_detections(boxes, reference["shapes"]["classes"], reference["shapes"]["scores"]),
        atol=1e-3)
    keypoints = reference["pose"]["keypoints"]
    np.testing.assert_allclose(outputs["pose_keypoints"][..., 2], keypoints[..., 2], atol=1e-5)
    np.testing.assert_allclose(outputs["pose_keypoints"][..., 1::-1], by_hand(keypoints[..., 1::-1]),
                               atol=1e-3)
    np.testing.assert_allclose(outputs["face_landmarks"][..., ::-1],
                               by_hand(reference["face"]["landmarks"][..., ::-1]), atol=1e-3)
    for name, maps in [("parts_probabilities", reference["parts"]["probabilities"]),
                       ("depth_depth", reference["depth"]["depth"][..., None])]:
        served = outputs[name].numpy().reshape(2, height, width, -1)  # the image's size
        content = tf.image.resize(maps[:, rows, columns], (height, width)).numpy()  # no bands
        np.testing.assert_allclose(served, content, atol=1e-4, err_msg=name)
        with_bands = tf.image.resize(maps, (height, width)).numpy()
        assert np.abs(served - with_bands).max() > 1e-4  # the untrained maps vary a little
    np.testing.assert_allclose(outputs["count_probabilities"], reference["count"]["probabilities"],
                               atol=1e-5)


def test_letterboxed_bytes_are_letterboxed_each_their_own_way(letterboxed):
    _, loaded = letterboxed
    wide, tall = random_images(1, 48, 96, seed=11)[0], random_images(1, 90, 40, seed=12)[0]
    encoded = [tf.io.encode_png(wide).numpy(), tf.io.encode_png(tall).numpy()]
    outputs = loaded.signatures["serving_bytes"](image_bytes=tf.constant(encoded))
    for i, image in enumerate([wide, tall]):
        one = loaded.signatures["serving_default"](images=tf.constant(image[None]))
        for name in ("shapes_boxes", "shapes_scores", "pose_keypoints", "face_landmarks"):
            np.testing.assert_allclose(outputs[name][i:i + 1], one[name], atol=1e-4, err_msg=name)
        height, width = image.shape[:2]
        np.testing.assert_allclose(outputs["depth_depth"][i:i + 1, :height, :width],
                                   one["depth_depth"], atol=1e-4)


def test_the_resize_mode_is_recorded_and_checked(all_kinds, letterboxed, tmp_path):
    assert all_kinds[2].resize.numpy() == b"stretch" and all_kinds[2].pad_value.numpy() == 0.0
    model, loaded = letterboxed
    assert loaded.resize.numpy() == b"letterbox" and loaded.pad_value.numpy() == 114.0
    assert "images letterboxed to the model input (aspect ratio kept, bands of 114)" in (
        mz.export.describe_serving_outputs(model, resize="letterbox", pad_value=114))
    with pytest.raises(ValueError, match="Unknown resize mode 'crop'. Valid choices: letterbox, str"):
        model.export(str(tmp_path), resize="crop")
    with pytest.raises(ValueError, match="Did you mean 'letterbox'"):
        mz.export.saved_model(model, str(tmp_path), resize="letterboxed")
    with pytest.raises(ValueError, match="pad_value must be a number"):
        mz.export.saved_model(model, str(tmp_path), resize="letterbox", pad_value="grey")
    assert os.listdir(tmp_path) == []  # refused before anything is written


def test_bytes_signature_decodes_each_image_at_its_own_size(all_kinds):
    model, _, loaded = all_kinds
    small, large = random_images(1, 40, 80, seed=3)[0], random_images(1, SIZE, SIZE, seed=4)[0]
    encoded = [tf.io.encode_png(small).numpy(), tf.io.encode_png(large).numpy()]
    outputs = loaded.signatures["serving_bytes"](image_bytes=tf.constant(encoded))
    np.testing.assert_array_equal(outputs["image_size"], [[40, 80], [SIZE, SIZE]])
    assert outputs["depth_depth"].shape == (2, SIZE, 80)  # padded to the largest image
    one = loaded.signatures["serving_default"](images=tf.constant(small[None]))
    for name in ("shapes_scores", "count_probabilities", "face_landmarks", "pose_keypoints"):
        np.testing.assert_allclose(outputs[name][:1], one[name], atol=1e-4, err_msg=name)
    np.testing.assert_allclose(outputs["depth_depth"][0, :40, :80], one["depth_depth"][0], atol=1e-4)
    np.testing.assert_array_equal(outputs["depth_depth"][0, 40:], 0.0)
    reference = model.predict_decoded(large[None])
    np.testing.assert_allclose(outputs["count_probabilities"][1:], reference["count"]["probabilities"],
                               atol=1e-5)


def test_a_grayscale_model_reads_png_gif_and_bmp_bytes(tmp_path):
    import io

    from PIL import Image

    model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    path = model.export(str(tmp_path / "digits"))
    assert os.stat(path).st_mode & 0o777 == umask_mode(directory=True)  # not mkdtemp's 0o700
    loaded = tf.saved_model.load(path)
    gray = random_images(1, 32, 32, seed=5)[0, :, :, :1]
    encoded = []
    for image_format, mode in [("PNG", "L"), ("GIF", "L"), ("BMP", "RGB")]:  # TF reads 24-bit BMP
        stream = io.BytesIO()
        Image.fromarray(gray[:, :, 0]).convert(mode).save(stream, format=image_format)
        encoded.append(stream.getvalue())
    outputs = loaded.signatures["serving_bytes"](image_bytes=tf.constant(encoded))
    want = loaded.signatures["serving_default"](images=tf.constant(gray[None]))["digit_probabilities"]
    np.testing.assert_allclose(outputs["digit_probabilities"], np.repeat(want, 3, axis=0), atol=1e-4)


@pytest.mark.parametrize("signature, value, message", [
    ("serving_default", np.zeros((8, 8, 3), np.uint8), "batch, height, width, 3"),
    ("serving_default", np.zeros((1, 8, 8, 1), np.uint8), "3 channels"),
    ("serving_default", np.zeros((0, 8, 8, 3), np.uint8), "batch of images is empty"),
    ("serving_raw", np.zeros((1, 8, 8, 4), np.uint8), "3 channels"),
    ("serving_bytes", np.array([b"not an image"]), "not a JPEG, PNG"),
    ("serving_bytes", np.array([], dtype=object).astype(bytes), "batch of image bytes is empty"),
    ("serving_bytes", np.array([[b"x"]]), "(batch,) string tensor"),
])
def test_bad_input_fails_with_a_message_and_the_model_keeps_serving(all_kinds, signature, value,
                                                                    message):
    _, _, loaded = all_kinds
    function = loaded.signatures[signature]
    argument = "image_bytes" if signature == "serving_bytes" else "images"
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        function(**{argument: tf.constant(value)})
    good = loaded.signatures["serving_default"](images=tf.constant(random_images(1)))
    assert np.isfinite(good["count_probabilities"].numpy()).all()


def test_truncated_image_bytes_and_wrong_dtype_are_refused(all_kinds):
    _, _, loaded = all_kinds
    jpeg = tf.io.encode_jpeg(random_images(1)[0]).numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?i)jpeg|image"):
        loaded.signatures["serving_bytes"](image_bytes=tf.constant([jpeg[:40]]))
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError), match="uint8"):
        loaded.signatures["serving_default"](images=tf.zeros((1, SIZE, SIZE, 3), tf.float32))
    good = loaded.signatures["serving_bytes"](image_bytes=tf.constant([jpeg]))  # still serving
    assert np.isfinite(good["count_probabilities"].numpy()).all()


def test_eight_threads_share_one_loaded_model(all_kinds):
    model, _, loaded = all_kinds
    batches = [random_images(2, seed=10 + i) for i in range(8)]
    expected = [model.predict_decoded(batch)["count"]["probabilities"] for batch in batches]

    def serve(batch):
        return loaded.signatures["serving_default"](images=tf.constant(batch))["count_probabilities"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(serve, batches * 2))
    for i, result in enumerate(results):
        np.testing.assert_allclose(result, expected[i % 8], atol=1e-5)


def test_tfsm_layer_loads_serving_default(all_kinds):
    model, path, _ = all_kinds
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    images = random_images(2, seed=5)
    outputs = layer(tf.constant(images))
    np.testing.assert_allclose(outputs["count_probabilities"],
                               model.predict_decoded(images)["count"]["probabilities"], atol=1e-5)


def test_saved_model_cli_lists_the_signatures(all_kinds):
    _, path, _ = all_kinds
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True, text=True,
                           check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    for name in ("serving_default", "serving_bytes", "serving_raw", "shapes_boxes", "image_bytes"):
        assert name in shown


def test_versions_follow_tf_serving_layout(all_kinds, tmp_path):
    model, path, _ = all_kinds
    assert os.path.basename(path) == "1"
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    assert mz.export.next_version(os.path.dirname(path)) == 2
    with pytest.raises(ValueError, match="already exists"):
        mz.export.saved_model(model, os.path.dirname(path), version=1)
    with pytest.raises(ValueError, match="positive integer"):
        mz.export.saved_model(model, str(tmp_path), version=0)
    with pytest.raises(ValueError, match="input_signature"):
        model.export(str(tmp_path), input_signature=[tf.TensorSpec((None, SIZE, SIZE, 3))])
    with pytest.raises(ValueError, match="'gs://bucket/served' is not a local path; only local paths"):
        model.export("gs://bucket/served")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="The export folder .*a_file is a file"):
        model.export(str(a_file))
    with pytest.raises(ValueError, match=r"a file stands in its path \(.*a_file/served is not a folder\)"):
        model.export(str(a_file / "served"))  # once looped for ever on the FileExistsError
    assert a_file.read_text() == "x"


def test_an_export_appears_whole_or_not_at_all(all_kinds, tmp_path, monkeypatch):
    model, path, _ = all_kinds
    assert os.listdir(os.path.dirname(path)) == ["1"]  # no staging folder left behind

    def write_half_then_fail(root, filepath, signatures=None):
        with open(os.path.join(filepath, "saved_model.pb"), "wb") as half_written:
            half_written.write(b"\x00" * 10)
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        mz.export.saved_model(model, tmp_path / "served")
    assert os.listdir(tmp_path / "served") == []  # no version 1 for TF Serving to load
    assert mz.export.next_version(tmp_path / "served") == 1


def test_a_version_another_export_writes_meanwhile_is_never_replaced(all_kinds, tmp_path, monkeypatch):
    model, _, _ = all_kinds
    served = tmp_path / "served"
    taken_meanwhile = {"1", "3"}

    def save_while_another_export_lands(root, filepath, signatures=None):
        version = os.path.basename(filepath).split(".")[1]  # staged as ".<version>.partial-..."
        if version in taken_meanwhile:
            taken_meanwhile.remove(version)
            theirs = served / version
            theirs.mkdir(parents=True)
            (theirs / "saved_model.pb").write_bytes(b"theirs")
        with open(os.path.join(filepath, "saved_model.pb"), "wb") as ours:
            ours.write(b"ours")

    monkeypatch.setattr(tf.saved_model, "save", save_while_another_export_lands)
    assert mz.export.saved_model(model, served) == str(served / "2")  # 1 was taken: the next one
    with pytest.raises(ValueError, match="3 was written by another process during this export"):
        mz.export.saved_model(model, served, version=3)
    assert sorted(os.listdir(served)) == ["1", "2", "3"]  # no staging folder left behind
    assert [(served / v / "saved_model.pb").read_bytes() for v in "123"] == [b"theirs", b"ours", b"theirs"]


def test_describe_serving_outputs_lists_every_output(all_kinds):
    model, _, loaded = all_kinds
    for signature in mz.export.SIGNATURES:
        described = mz.export.serving_outputs(model, signature)
        returned = loaded.signatures[signature].structured_outputs
        assert [o.name for o in described] == sorted(returned)
        for output in described:
            assert output.dtype == returned[output.name].dtype.name
            assert output.meaning
    text = mz.export.describe_serving_outputs(model)
    assert "| `shapes_boxes` | float32 | (B, 10, 4) |" in text
    assert "| `parts_classes` | int32 | (B, H, W) |" in text
    with pytest.raises(ValueError, match="serving_default"):
        mz.export.serving_outputs(model, "serving_defualt")


def count_model_traces(model, monkeypatch):
    """A list that grows by one each time `model` is called (traced, in a tf.function)."""
    calls, call = [], model.call
    monkeypatch.setattr(model, "call", lambda *args, **kwargs: (calls.append(1), call(*args, **kwargs))[1])
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("sharing", [s for s in SHARING_SCHEMES if s != "hard"])  # hard: the all_kinds tests
def test_every_sharing_scheme_saves_and_exports_every_task_kind(sharing, tmp_path, capsys, monkeypatch):
    keras.utils.set_random_seed(0)
    model = mz.build_model("tiny", ALL_KINDS, (32, 32, 3), sharing=sharing)
    images = random_images(2, 32, 32, seed=6)
    model.save(tmp_path / "m.keras")
    reloaded = mz.load_model(tmp_path / "m.keras")
    reloaded_outputs = reloaded(images, training=False)  # eager: no predict function to trace
    for name, expected in model(images, training=False).items():
        np.testing.assert_allclose(reloaded_outputs[name], expected, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(sum(float(loss) for loss in reloaded.losses),
                               sum(float(loss) for loss in model.losses), rtol=1e-6)
    traces = count_model_traces(model, monkeypatch)
    loaded = tf.saved_model.load(mz.export.saved_model(model, str(tmp_path / "export"), verbose=True))
    assert len(traces) == 1  # the three signatures call one trace of the model
    assert "signatures serving_default(images), serving_bytes(image_bytes)" in capsys.readouterr().out
    assert_decoded_equal(loaded.signatures["serving_default"](images=tf.constant(images)),
                         model.predict_decoded(images))


def test_tflite_raw_and_decoded_match_keras(tmp_path, monkeypatch):
    keras.utils.set_random_seed(0)
    tasks = [mz.tasks.Classification("count", 3),
             mz.tasks.Detection("shapes", 2, score_threshold=0.05, max_detections=10),
             mz.tasks.Segmentation("parts", 2, head_channels=8)]
    model = mz.build_model("tiny", tasks, (32, 32, 3))
    traces = count_model_traces(model, monkeypatch)
    path = mz.export.tflite(model, str(tmp_path / "model.tflite"))
    assert len(traces) == 1  # both signatures call one trace of the model
    interpreter = tf.lite.Interpreter(model_path=path)
    images = random_images(2, 32, 32, seed=7)
    raw = interpreter.get_signature_runner("serving_raw")(images=images.astype("float32"))
    reference = model.predict(images.astype("float32"), verbose=0)
    assert set(raw) == set(reference)
    for name, expected in reference.items():
        np.testing.assert_allclose(raw[name], expected, atol=1e-4, err_msg=name)
    decoded = interpreter.get_signature_runner("serving_default")(images=images)
    assert_decoded_equal(decoded, model.predict_decoded(images), tied_detections_reorder=True)
    with pytest.raises(ValueError, match=".tflite"):
        mz.export.tflite(model, str(tmp_path / "model.tfl"))
    assert os.listdir(tmp_path) == ["model.tflite"]


def test_a_tflite_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    model = mz.build_model("tiny", [mz.tasks.Classification("count", 3)], (32, 32, 3))

    def interrupted(source, destination, overwrite=False):
        raise OSError("interrupted")

    monkeypatch.setattr(tf.io.gfile, "rename", interrupted)
    with pytest.raises(OSError, match="interrupted"):
        mz.export.tflite(model, str(tmp_path / "model.tflite"), decoded=False)
    assert os.listdir(tmp_path) == []  # neither the file nor its partial copy
    # refused before any work: a missing folder, or a path that is a folder
    with pytest.raises(ValueError, match="The folder '.*no' of the TFLite path does not exist"):
        mz.export.tflite(model, str(tmp_path / "no" / "model.tflite"))
    (tmp_path / "taken.tflite").mkdir()
    with pytest.raises(ValueError, match="the TFLite path '.*taken.tflite' is a folder; name a file in it"):
        mz.export.tflite(model, str(tmp_path / "taken.tflite"))


def test_two_writers_of_one_file_do_not_share_a_staging_file(tmp_path, monkeypatch):
    path = str(tmp_path / "results.json")
    stale, running = tmp_path / ".results.json.partial-killed", tmp_path / ".other.json.partial-x"
    stale.write_text("left by a writer killed an hour ago")
    running.write_text("being written")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    rename = tf.io.gfile.rename

    def another_writer_first(source, destination, overwrite=False):
        monkeypatch.setattr(tf.io.gfile, "rename", rename)
        write_whole(path, "second writer")  # starts and ends while the first is about to rename
        rename(source, destination, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "rename", another_writer_first)
    write_whole(path, "first writer")
    assert open(path).read() == "first writer"  # whole: the last rename wins
    assert sorted(os.listdir(tmp_path)) == [".other.json.partial-x", "results.json"]


def test_tflite_covers_keypoints_landmarks_depth_and_multilabel(tmp_path):
    keras.utils.set_random_seed(1)
    tasks = [mz.tasks.MultiLabel("attributes", 4),
             mz.tasks.Keypoints("pose", 3, flip_pairs=[(1, 2)], score_threshold=0.05, max_detections=5),
             mz.tasks.Landmarks("face", 2),
             mz.tasks.Depth("depth", head_channels=8)]
    model = mz.build_model("tiny", tasks, (32, 32, 3))
    interpreter = tf.lite.Interpreter(model_path=mz.export.tflite(model, str(tmp_path / "m.tflite")))
    images = random_images(2, 32, 32, seed=8)
    raw = interpreter.get_signature_runner("serving_raw")(images=images.astype("float32"))
    for name, expected in model.predict(images.astype("float32"), verbose=0).items():
        np.testing.assert_allclose(raw[name], expected, atol=1e-4, err_msg=name)
    decoded = interpreter.get_signature_runner("serving_default")(images=images)
    assert_decoded_equal(decoded, model.predict_decoded(images), tied_detections_reorder=True)


@pytest.mark.slow
def test_export_benchmark_runs_quick():
    table = run_benchmark("export", quick=True)
    assert len(table.rows) == 2 * 5 and len(table.columns) == 4
    assert {row[1] for row in table.rows} == {1, 4}
    for row in table.rows:
        assert np.isfinite(row[2]) and row[2] > 0 and row[3] > 0
    assert "| SavedModel `serving_default` (decoded) | 4 |" in table.to_markdown()
