import hashlib
import http.server
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest
import tensorflow as tf

import mtl_zoo as mz
from mtl_zoo.files import umask_mode
from mtl_zoo.presets import DownloadError, catalog_names, load_preset
from mtl_zoo.presets.card import serving_section, write_preset

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "download.py"
TASKS = [{"kind": "classification", "name": "shape", "num_classes": 3, "class_names": ["a", "b", "c"]},
         {"kind": "classification", "name": "color", "num_classes": 2}]
CONFIG = {"backbone": "tiny", "input_shape": [32, 32, 3], "tasks": TASKS}
WEIGHTS_FILE = "tiny_shape_color_v1.weights.h5"
MNIST_DIR = pathlib.Path(os.environ.get("MTL_ZOO_MNIST_DIR", pathlib.Path(__file__).resolve().parents[2]
                                        / "shared" / "data" / "mnist"))


class FileServer:
    """A real HTTP server on 127.0.0.1 serving `files` ({url path: bytes}), counting requests.

    `broken[path]` = "404" answers 404; "truncate" announces the whole file and sends half.
    """

    def __init__(self):
        self.files, self.broken, self.requests = {}, {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body, mode = server.files.get(self.path), server.broken.get(self.path)
                if body is None or mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if mode == "truncate" else body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, path):
        return self.requests.count(path)


def _preset(weights, url="w.weights.h5", sha256=None, name="tiny_shape_color"):
    return {"name": name, "description": "test preset", "config": CONFIG,
            "preprocessing": "raw 0-255", "labels": {"shape": ["a", "b", "c"]}, "metrics": {},
            "weights": {"url": url, "sha256": sha256 or hashlib.sha256(weights).hexdigest(),
                        "size": len(weights), "file": WEIGHTS_FILE}}


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _images(size=32):
    return np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")


def _assert_same_outputs(model, reference, size=32):
    got, want = model.predict(_images(size), verbose=0), reference.predict(_images(size), verbose=0)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])


def _leftovers(cache):
    return [name for _, _, files in os.walk(cache) for name in files if name.startswith(".partial-")]


def _weights_files(cache):
    return [name for _, _, files in os.walk(cache) for name in files if name.endswith(".weights.h5")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model standing for a trained one, and its weights file's bytes."""
    model = mz.build_model(**CONFIG)
    path = tmp_path_factory.mktemp("weights") / "w.weights.h5"
    model.save_weights(path)
    return model, path.read_bytes()


@pytest.fixture(scope="module")
def server():
    file_server = FileServer()
    yield file_server
    file_server.httpd.shutdown()


@pytest.fixture
def served(server, trained, request):
    """Serves a fresh preset folder at `{server.url}/<test name>`; returns its URL path."""
    _, weights = trained
    path = f"/{request.node.name}"
    server.files[f"{path}/preset.json"] = json.dumps(_preset(weights)).encode()
    server.files[f"{path}/w.weights.h5"] = weights
    return path


def test_download_then_cache_hit_makes_no_request(server, served, trained, tmp_path):
    model = mz.from_preset(server.url + served, cache_dir=tmp_path)
    _assert_same_outputs(model, trained[0])
    assert server.count(f"{served}/preset.json") == 1 and server.count(f"{served}/w.weights.h5") == 1
    again = mz.from_preset(server.url + served + "/preset.json", cache_dir=tmp_path)
    _assert_same_outputs(again, trained[0])
    assert server.count(f"{served}/preset.json") == 1 and server.count(f"{served}/w.weights.h5") == 1
    assert _weights_files(tmp_path) == [WEIGHTS_FILE] and not _leftovers(tmp_path)
    modes = {os.stat(os.path.join(folder, name)).st_mode & 0o777
             for folder, _, files in os.walk(tmp_path) for name in files}
    assert modes == {umask_mode()}  # readable as the umask says, not a temporary file's 0o600


def test_a_partial_file_left_by_a_killed_download_is_removed_once_stale(server, served, trained, tmp_path):
    from mtl_zoo.presets.download import fetch

    folder = tmp_path / "weights"
    folder.mkdir()
    stale, fresh = folder / ".partial-killed", folder / ".partial-running"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fetch(server.url + served + "/w.weights.h5", str(folder / WEIGHTS_FILE), hashlib.sha256(trained[1]).hexdigest())
    assert sorted(path.name for path in folder.iterdir()) == [".partial-running", WEIGHTS_FILE]


def test_404_is_a_clear_error_and_leaves_nothing(server, served, tmp_path):
    server.broken[f"{served}/w.weights.h5"] = "404"
    with pytest.raises(DownloadError, match=r"w\.weights\.h5 failed: the server answered HTTP 404"):
        mz.from_preset(server.url + served, cache_dir=tmp_path)
    assert not _weights_files(tmp_path) and not _leftovers(tmp_path)


def test_server_down_is_a_clear_error(tmp_path):
    with pytest.raises(DownloadError, match="could not reach the server.*MTL_ZOO_MIRROR"):
        mz.from_preset(_closed_port_url() + "/zoo/x", cache_dir=tmp_path)
    assert not [files for _, _, files in os.walk(tmp_path) if files]


def test_truncated_body_is_rejected_and_leaves_nothing(server, served, tmp_path):
    server.broken[f"{served}/w.weights.h5"] = "truncate"
    with pytest.raises(DownloadError, match="transfer broke off"):
        mz.from_preset(server.url + served, cache_dir=tmp_path)
    assert not _weights_files(tmp_path) and not _leftovers(tmp_path)


def test_wrong_sha256_is_rejected_and_leaves_nothing(server, served, trained, tmp_path):
    server.files[f"{served}/preset.json"] = json.dumps(_preset(trained[1], sha256="0" * 64)).encode()
    with pytest.raises(DownloadError, match="failed: the downloaded file has sha256 [0-9a-f]{64}, expected 0{64}"):
        mz.from_preset(server.url + served, cache_dir=tmp_path)
    assert not _weights_files(tmp_path) and not _leftovers(tmp_path)


def test_a_wrong_size_beside_the_right_sha256_blames_the_size_and_keeps_the_cached_file(
        server, served, trained, tmp_path):
    mz.from_preset(server.url + served, cache_dir=tmp_path)  # caches the good file
    [cached] = [pathlib.Path(root) / name for root, _, files in os.walk(tmp_path)
                for name in files if name == WEIGHTS_FILE]
    wrong = _preset(trained[1])
    wrong["weights"]["size"] += 5
    server.files[f"/other_{served[1:]}/preset.json"] = json.dumps(wrong).encode()
    with pytest.raises(ValueError, match=rf"has {len(trained[1])} bytes, but its size is given as "
                                         rf"{len(trained[1]) + 5}: correct the weights' size"):
        mz.from_preset(f"{server.url}/other_{served[1:]}", cache_dir=tmp_path)
    assert cached.read_bytes() == trained[1]  # a good file, another preset's too: not removed


def test_a_corrupt_cached_preset_json_is_fetched_again_except_offline(server, served, trained, tmp_path,
                                                                     monkeypatch, capsys):
    mz.from_preset(server.url + served, cache_dir=tmp_path)
    [cached] = [pathlib.Path(root) / name for root, _, files in os.walk(tmp_path)
                for name in files if name == "preset.json"]
    cached.write_text('{"name": "cut sh')
    monkeypatch.setenv("MTL_ZOO_OFFLINE", "1")
    with pytest.raises(ValueError, match="is not valid JSON .* MTL_ZOO_OFFLINE is set, so it is left"):
        mz.from_preset(server.url + served, cache_dir=tmp_path)
    assert cached.read_text() == '{"name": "cut sh'
    monkeypatch.delenv("MTL_ZOO_OFFLINE")
    _assert_same_outputs(mz.from_preset(server.url + served, cache_dir=tmp_path), trained[0])  # one call
    assert "removed a corrupt cached file" in capsys.readouterr().out
    assert server.count(f"{served}/preset.json") == 2 and json.loads(cached.read_text())["name"]


def test_corrupt_cached_file_is_downloaded_again(server, served, trained, tmp_path, capsys):
    mz.from_preset(server.url + served, cache_dir=tmp_path)
    [cached] = [pathlib.Path(root) / name for root, _, files in os.walk(tmp_path)
                for name in files if name == WEIGHTS_FILE]
    cached.write_bytes(b"not an h5 file")
    model = mz.from_preset(server.url + served, cache_dir=tmp_path)
    assert "removed a corrupt cached file" in capsys.readouterr().out
    assert server.count(f"{served}/w.weights.h5") == 2
    assert cached.read_bytes() == trained[1] and not _leftovers(tmp_path)
    _assert_same_outputs(model, trained[0])


def test_offline_mode_uses_only_the_cache(server, served, trained, tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_ZOO_OFFLINE", "1")
    with pytest.raises(DownloadError, match="MTL_ZOO_OFFLINE is set and .* is not in the cache"):
        mz.from_preset(server.url + served, cache_dir=tmp_path)
    assert server.count(f"{served}/preset.json") == 0
    monkeypatch.delenv("MTL_ZOO_OFFLINE")
    mz.from_preset(server.url + served, cache_dir=tmp_path)
    monkeypatch.setenv("MTL_ZOO_OFFLINE", "1")
    before = len(server.requests)
    _assert_same_outputs(mz.from_preset(server.url + served, cache_dir=tmp_path), trained[0])
    assert len(server.requests) == before
    # a corrupt cached file, offline: the mismatch and the path are reported, the file is kept
    [cached] = [pathlib.Path(root) / name for root, _, files in os.walk(tmp_path)
                for name in files if name == WEIGHTS_FILE]
    cached.write_bytes(b"not an h5 file")
    with pytest.raises(DownloadError, match=rf"MTL_ZOO_OFFLINE is set and the cached file is corrupt: "
                                            rf"{re.escape(str(cached))} has sha256 [0-9a-f]{{64}}, expected "
                                            rf"[0-9a-f]{{64}} \(14 bytes, expected \d+\)\. It is left"):
        mz.from_preset(server.url + served, cache_dir=tmp_path)
    assert cached.read_bytes() == b"not an h5 file" and len(server.requests) == before


@pytest.mark.parametrize("race", ["removed_while_checked", "removed_after_the_check"])
def test_a_cached_file_that_another_process_removes_is_a_cache_miss(server, served, trained, tmp_path,
                                                                    monkeypatch, race):
    from mtl_zoo.presets import download

    path = tmp_path / WEIGHTS_FILE
    path.write_bytes(b"corrupt")
    real_verify = download.verify_file

    def verify(file, sha256, size=None, what=None):  # another process sharing the cache removes it
        if file != str(path) or not path.exists():
            return real_verify(file, sha256, size, what)
        if race == "removed_while_checked":
            path.unlink()
            return real_verify(file, sha256, size)  # FileNotFoundError
        try:
            return real_verify(file, sha256, size)  # DownloadError: it is corrupt ...
        finally:
            path.unlink()  # ... and the other process removes it before this one does

    monkeypatch.setattr(download, "verify_file", verify)
    download.fetch(server.url + served + "/w.weights.h5", str(path), hashlib.sha256(trained[1]).hexdigest())
    assert path.read_bytes() == trained[1] and not _leftovers(tmp_path)


def test_mirror_replaces_the_weights_origin(server, served, trained, tmp_path, monkeypatch):
    dead_origin = _closed_port_url() + "/releases/" + WEIGHTS_FILE
    server.files[f"{served}/preset.json"] = json.dumps(_preset(trained[1], url=dead_origin)).encode()
    server.files[f"/mirror/{WEIGHTS_FILE}"] = trained[1]
    monkeypatch.setenv("MTL_ZOO_MIRROR", server.url + "/mirror/")
    _assert_same_outputs(mz.from_preset(server.url + served, cache_dir=tmp_path), trained[0])
    assert server.count(f"/mirror/{WEIGHTS_FILE}") == 1


def test_local_folder_preset(trained, tmp_path):
    (tmp_path / "preset.json").write_text(json.dumps(_preset(trained[1])))
    with pytest.raises(ValueError, match=r"Preset 'tiny_shape_color': its weights file .*w\.weights\.h5 "
                                         r"is missing\. Copy it beside preset\.json"):
        mz.from_preset(str(tmp_path))
    (tmp_path / "w.weights.h5").write_bytes(trained[1])
    _assert_same_outputs(mz.from_preset(str(tmp_path)), trained[0])
    assert not (tmp_path / "cache").exists()


def test_weights_of_another_architecture_are_a_clear_error(tmp_path):
    other = mz.build_model("tiny", [{"kind": "classification", "name": "shape", "num_classes": 7}], (32, 32, 3))
    other.save_weights(tmp_path / "w.weights.h5")
    weights = (tmp_path / "w.weights.h5").read_bytes()
    (tmp_path / "preset.json").write_text(json.dumps(_preset(weights)))
    with pytest.raises(ValueError, match=r"weights of preset 'tiny_shape_color' .* do not fit its "
                                         r"architecture \(.* tasks \['shape', 'color'\]\).* Keras said"):
        mz.from_preset(str(tmp_path))


def test_bad_preset_json_names_the_file_and_the_problem(trained, tmp_path):
    with pytest.raises(ValueError, match="holds no preset.json, so it is not a preset"):
        mz.from_preset(str(tmp_path), pretrained=False)
    preset = _preset(trained[1])
    del preset["labels"], preset["metrics"]
    (tmp_path / "preset.json").write_text(json.dumps(preset))
    with pytest.raises(ValueError, match=r"preset\.json misses the fields \['labels', 'metrics'\]"):
        mz.from_preset(str(tmp_path), pretrained=False)
    preset = _preset(trained[1])
    preset["config"] = {**CONFIG, "tasks": [{**TASKS[0], "kind": "classifcation"}]}
    (tmp_path / "preset.json").write_text(json.dumps(preset))
    with pytest.raises(ValueError, match="preset.json: Unknown task kind 'classifcation'. "
                                         "Did you mean 'classification'"):
        mz.from_preset(str(tmp_path), pretrained=False)
    preset["config"] = {**CONFIG, "heads": 3}
    (tmp_path / "preset.json").write_text(json.dumps(preset))
    with pytest.raises(ValueError, match=r"unknown keys \['heads'\]"):
        mz.from_preset(str(tmp_path), pretrained=False)
    for change, message in [({"labels": None}, "'labels' must be an object, got NoneType"),
                            ({"labels": {"shape": ["a", "b"]}}, "'labels' of task 'shape' must be a list of 3 names"),
                            ({"metrics": {"shape": 0.9}}, "'metrics' of 'shape' must be an object of numbers"),
                            ({"name": " "}, "'name' is empty"),
                            ({"config": {**CONFIG, "tasks": 5}}, "config 'tasks' must be a non-empty list"),
                            ({"weights": {**_preset(trained[1])["weights"], "size": True}},
                             "weights size must be a positive number of bytes"),
                            ({"weights": {**_preset(trained[1])["weights"], "url": "ftp://host/w.weights.h5"}},
                             "weights url must be an http\\(s\\) address or a file name beside preset.json, "
                             "got 'ftp://host/w.weights.h5'")]:
        (tmp_path / "preset.json").write_text(json.dumps({**_preset(trained[1]), **change}))
        with pytest.raises(ValueError, match=message):
            mz.from_preset(str(tmp_path), pretrained=False)
    (tmp_path / "preset.json").write_bytes(b'{"name": "caf\xe9"}')  # Latin-1, not UTF-8
    with pytest.raises(ValueError, match=r"preset\.json is not valid JSON \(UTF-8\)"):
        mz.from_preset(str(tmp_path), pretrained=False)


def test_a_remote_preset_json_of_wrong_types_is_an_error_and_not_cached(server, served, trained, tmp_path):
    good = server.files[f"{served}/preset.json"]
    server.files[f"{served}/preset.json"] = json.dumps({**_preset(trained[1]), "labels": None}).encode()
    with pytest.raises(ValueError, match="'labels' must be an object"):
        mz.from_preset(server.url + served, cache_dir=tmp_path)
    server.files[f"{served}/preset.json"] = good  # the server fixed: fetched again, not the bad copy
    _assert_same_outputs(mz.from_preset(server.url + served, cache_dir=tmp_path), trained[0])
    assert server.count(f"{served}/preset.json") == 2


def test_unknown_preset_name_suggests_the_closest():
    with pytest.raises(ValueError, match="Unknown preset 'mtl_shapes_tiny_cls_det'. "
                                         "Did you mean 'mtl_shapes_tiny_cls_det_pose'"):
        mz.from_preset("mtl_shapes_tiny_cls_det")


def test_list_presets_rows_match_the_catalog():
    rows = mz.list_presets()
    assert [row["name"] for row in rows] == catalog_names() and len(rows) >= 5
    for row in rows:
        preset, _ = load_preset(row["name"])
        assert row["backbone"] == preset["config"]["backbone"] and row["params"] > 0
        assert row["pretrained"] == (preset["weights"] is not None)
        assert len(row["tasks"]) == len(preset["config"]["tasks"])
    trained = next(row for row in rows if row["name"] == "mtl_shapes_tiny_cls_det_pose")
    assert trained["pretrained"] and trained["sharing"] == "hard"
    assert trained["metrics"]["action/accuracy"] > 0.9 and "pose/pck" in trained["metrics"]
    assert all(not row["metrics"] for row in rows if not row["pretrained"])


@pytest.mark.parametrize("name", catalog_names())
def test_every_preset_builds_as_its_card_says(name):
    """Architecture: parameters and serving outputs as preset.json and the card state them."""
    preset, location = load_preset(name)
    model = mz.from_preset(name, pretrained=False)
    assert model.count_params() == preset["params"]
    assert list(model.image_shape) == preset["config"]["input_shape"]
    card = (pathlib.Path(location) / "README.md").read_text()
    assert serving_section(model) in card
    assert not re.search(r"--\w+=/", card), "a folder of the training machine in the card's command"
    for task in preset["metrics"]:
        assert task in model.task_names
    if preset["weights"] is None:
        with pytest.raises(ValueError, match="has no checkpoint"):
            mz.from_preset(name)


def test_a_preset_written_from_a_run_reloads_the_run(tmp_path):
    # trained with --weighting=uncertainty: the weights hold the learned log-variances
    model = mz.build_model(**CONFIG, uncertainty_weighting=True)
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    identity = {"dataset": "d", "dataset_config": None, "preset": None, "architecture": CONFIG,
                "uncertainty_weighting": False}
    (run / "run.json").write_text(json.dumps(identity))  # wrong: the preset would not load
    evaluation = {"shape": {"accuracy": 0.75}, "color": {"accuracy": 0.5}}
    (run / "metrics.json").write_text(json.dumps({
        "evaluation": evaluation, "flags": {"epochs": 3, "seed": 0, "tasks": ["shape", "color"],
                                            "manual_dir": "/home/me/mnist", "model_dir": "/runs/a"},
        "baselines": {"shape": {"accuracy": 0.5}, "color": {"accuracy": 0.5}}, "delta_m": 0.25,
        "evaluated_on": {"dataset": "d", "split": "test", "examples": 40}, "seconds": {"model": 12.5}}))
    with pytest.raises(ValueError, match="do not fit its architecture"):
        write_preset(str(run), str(tmp_path / "tiny_written"), "A test model.", [], "Random images.")
    assert sorted(os.listdir(tmp_path)) == ["run"]  # checked in the staging folder: nothing written

    (run / "run.json").write_text(json.dumps({**identity, "uncertainty_weighting": True}))
    preset = write_preset(str(run), str(tmp_path / "tiny_written"), "A test model.", ["Tiny."],
                          "Random images.", machine="a test machine")
    assert preset["metrics"] == evaluation and preset["weights"]["file"] == "tiny_written.weights.h5"
    assert preset["config"] == {**CONFIG, "uncertainty_weighting": True}
    with h5py.File(tmp_path / "tiny_written" / "tiny_written.weights.h5") as weights:
        assert "optimizer" not in weights  # the model's variables only
    _assert_same_outputs(mz.from_preset(str(tmp_path / "tiny_written")), model)
    card = (tmp_path / "tiny_written" / "README.md").read_text()
    assert ("python scripts/train.py --epochs=3 --manual_dir=<folder with the d source files> "
            "--tasks=shape,color") in card  # no folder of the training machine
    assert "| shape | accuracy | 0.750 | 0.500 |" in card and "+25.00%" in card
    assert "(40 d test images)" in card and serving_section(model) in card
    assert sorted(os.listdir(tmp_path)) == ["run", "tiny_written"]  # no staging folder left

    # an evaluate --output file in place of the run's metrics.json: an error, and the preset
    # written above is left as it was
    (run / "metrics.json").write_text(json.dumps({"evaluation": evaluation}))
    with pytest.raises(ValueError, match=r"metrics\.json lacks \['flags'\]"):
        write_preset(str(run), str(tmp_path / "tiny_written"), "Changed.", [], "Random images.")
    assert sorted(os.listdir(tmp_path)) == ["run", "tiny_written"]
    assert json.loads((tmp_path / "tiny_written" / "preset.json").read_text())["description"] == "A test model."

    # a folder that is not an earlier version of a preset is never replaced: an error, before
    # any work, and what the folder holds stays (it used to be deleted)
    (run / "metrics.json").write_text(json.dumps({"evaluation": evaluation, "flags": {}}))
    (tmp_path / "tiny_written" / "notes.txt").write_text("mine")
    for folder, held in [(tmp_path / "tiny_written", "\\['notes.txt'\\]\\)"), (tmp_path, "\\['run', 'tiny_written'\\], no preset.json")]:
        with pytest.raises(ValueError, match=f"is not a preset folder \\(it holds {held}.*would delete"):
            write_preset(str(run), str(folder), "Changed.", [], "Random images.")
    assert (tmp_path / "tiny_written" / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["run", "tiny_written"]


def test_shipped_presets_are_the_trained_models():
    from mtl_zoo.data.sources.mtl_shapes import generate

    examples = [(image, labels) for image, labels in generate(48, image_size=128, seed=7).as_numpy_iterator()]
    for name in ("mtl_shapes_tiny_cls_det_pose", "mtl_shapes_mobilenetv3s_cls_det_pose"):
        model = mz.from_preset(name)
        assert model.count_params() == load_preset(name)[0]["params"]
        results = mz.evaluation.evaluate_model(
            model, [(image, {task: labels[task] for task in model.task_names}) for image, labels in examples])
        assert results["action"]["accuracy"] > 0.8, name  # chance is 1/6
        assert results["objects"]["AP50"] > 0.4 and results["pose"]["pck"] > 0.6, name  # untrained: about 0

    digits = mz.from_preset("multi_mnist_tiny_cls_det")
    assert digits.task_names == ["left", "right", "digits"]
    canvas = np.zeros((2, 64, 64, 3), np.uint8)  # no digits at all: no confident detection
    assert digits.predict_decoded(canvas)["digits"]["num_detections"].max() == 0


@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason=f"the real MNIST test set is not in {MNIST_DIR} (set MTL_ZOO_MNIST_DIR)")
def test_shipped_multi_mnist_model_reads_real_held_out_digits():
    from mtl_zoo.dataset_builders.multi_mnist import idx, pairs

    images, labels = idx.read_digits(MNIST_DIR / "t10k-images-idx3-ubyte.gz",
                                     MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    left, right = np.arange(9000, 9100), np.arange(9100, 9200)  # digits of the test split only
    canvases = np.stack([pairs.overlap_digits(images[a], images[b]) for a, b in zip(left, right)])
    canvases = tf.image.resize(np.repeat(canvases[..., None], 3, -1), (64, 64)).numpy()
    decoded = mz.from_preset("multi_mnist_tiny_cls_det").predict_decoded(canvases)
    assert np.mean(decoded["left"]["probabilities"].argmax(-1) == labels[left]) > 0.9
    assert np.mean(decoded["right"]["probabilities"].argmax(-1) == labels[right]) > 0.85


def _download(*flags, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *flags], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_download_script_fetches_and_verifies(server, served, trained, tmp_path):
    result = _download(f"--presets={server.url + served},nyuv2_efficientnetv2b0_seg_depth",
                       f"--cache_dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sha256 ok, downloaded" in result.stdout
    assert "nyuv2_efficientnetv2b0_seg_depth: architecture only" in result.stdout
    [cached] = [os.path.join(root, name) for root, _, files in os.walk(tmp_path)
                for name in files if name == WEIGHTS_FILE]
    assert pathlib.Path(cached).read_bytes() == trained[1]


def test_download_script_reports_bad_input_in_one_line(tmp_path):
    result = _download("--presets=mtl_shapes_tiny_cls_det", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Unknown preset 'mtl_shapes_tiny_cls_det'")
    assert "mtl_shapes_tiny_cls_det_pose" in last
