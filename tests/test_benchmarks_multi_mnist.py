"""The MultiMNIST benchmarks: digit arrays, every method's MultiLeNet run, tables, the LibMTL harness."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from mtl_zoo.benchmarks import digits, libmtl, multi_lenet_training, multi_mnist

MNIST_DIR = pathlib.Path(os.environ.get(digits.MNIST_DIR_ENV,
                                        pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))


def fake_digits(path, rng, train=96, test=32):
    """An npz in the digits format whose labels can be read off the image halves."""
    arrays = {}
    for split, size in (("train", train), ("test", test)):
        left, right = rng.integers(0, 10, size), rng.integers(0, 10, size)
        images = np.zeros((size, 36, 36), np.uint8)
        images[:, :18] = (left * 25)[:, None, None]
        images[:, 18:] = (right * 25)[:, None, None]
        arrays.update({f"x_{split}": images, f"left_{split}": left, f"right_{split}": right})
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"the real MNIST test set is not in {MNIST_DIR} "
                                                   f"(set {digits.MNIST_DIR_ENV})")
def test_digit_arrays_come_from_the_real_multi_mnist_pairs(tmp_path, monkeypatch):
    monkeypatch.setenv(digits.MNIST_DIR_ENV, str(MNIST_DIR))
    path = digits.write_digit_arrays(str(tmp_path / "d.npz"), max_train=64, max_test=32,
                                     data_dir=str(tmp_path / "tfds"))
    arrays = digits.load_digit_arrays(path)
    assert arrays["x_train"].shape == (64, 36, 36) and arrays["x_test"].shape == (32, 36, 36)
    assert arrays["x_train"].max() > 200 and 0.05 < (arrays["x_train"] > 0).mean() < 0.5  # ink on black
    assert len(set(arrays["left_train"])) > 5 and len(set(arrays["right_train"])) > 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "tfds"]  # no partial file left


def test_bad_digit_files_are_refused_with_what_is_wrong(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="write_digit_arrays"):
        digits.load_digit_arrays(str(tmp_path / "missing.npz"))
    path = fake_digits(tmp_path / "d.npz", rng)
    arrays = dict(np.load(path))
    np.savez(tmp_path / "no_right.npz", **{k: v for k, v in arrays.items() if k != "right_test"})
    with pytest.raises(ValueError, match="lacks arrays \\['right_test'\\]"):
        digits.load_digit_arrays(str(tmp_path / "no_right.npz"))
    np.savez(tmp_path / "small.npz", **{**arrays, "x_test": arrays["x_test"][:, :28, :28]})
    with pytest.raises(ValueError, match="x_test must be \\(N > 0, 36, 36\\)"):
        digits.load_digit_arrays(str(tmp_path / "small.npz"))
    np.savez(tmp_path / "labels.npz", **{**arrays, "left_train": arrays["left_train"] + 10})
    with pytest.raises(ValueError, match="left_train must be 96 digits 0-9"):
        digits.load_digit_arrays(str(tmp_path / "labels.npz"))


def test_every_method_trains_multi_lenet_and_reports_step_time_and_accuracy(tmp_path, rng):
    path = fake_digits(tmp_path / "d.npz", rng)
    assert set(multi_lenet_training.METHODS) == set(libmtl.METHODS)  # the two sides line up
    for method in multi_lenet_training.METHODS:
        result = multi_lenet_training.train_multi_lenet(path, method, seed=0, epochs=2, batch_size=32)
        assert result["steps_per_epoch"] == 3 and result["step_ms"] > 0, method
        assert 0 <= result["left_accuracy"] <= 1 and 0 <= result["right_accuracy"] <= 1, method
    single = multi_lenet_training.train_multi_lenet(path, "single-task", seed=0, epochs=2, tasks=["left"])
    assert "right_accuracy" not in single and "left_accuracy" in single
    with pytest.raises(ValueError, match="Unknown method 'PCgrad'.*PCGrad"):
        multi_lenet_training.train_multi_lenet(path, "PCgrad", seed=0, epochs=2)
    with pytest.raises(ValueError, match="epochs must be >= 2"):
        multi_lenet_training.train_multi_lenet(path, "EW", seed=0, epochs=1)


def test_quality_table_has_mean_spread_and_delta_m_against_single_task_means():
    runs = {"EW": [{"left_accuracy": 0.90, "right_accuracy": 0.80},
                   {"left_accuracy": 0.92, "right_accuracy": 0.84}]}
    baselines = {"left": [{"left_accuracy": 0.90}, {"left_accuracy": 0.90}],
                 "right": [{"right_accuracy": 0.80}, {"right_accuracy": 0.84}]}
    rows, plotted, means = multi_mnist.summarize(runs, baselines)
    assert means == {"left": 0.9, "right": pytest.approx(0.82)}
    # seed 0: (0 + (0.80 - 0.82) / 0.82) / 2, seed 1: ((0.02 / 0.9) + (0.02 / 0.82)) / 2
    gains = [100 * (-0.02 / 0.82) / 2, 100 * (0.02 / 0.9 + 0.02 / 0.82) / 2]
    assert rows[0] == ["EW", "0.910 ± 0.014", "0.820 ± 0.028",
                       f"{np.mean(gains):.2f} ± {np.std(gains, ddof=1):.2f}"]
    assert rows[1][0].startswith("single-task") and rows[1][1] == "0.900 ± 0.000"
    assert plotted["EW"]["left"] == (pytest.approx(0.91), pytest.approx(0.01414, abs=1e-4))


def test_comparison_rows_show_ratios_and_libmtl_failures():
    zoo = {"EW": [{"step_ms": 20.0, "left_accuracy": 0.9, "right_accuracy": 0.8}],
           "CAGrad": [{"step_ms": 30.0, "left_accuracy": 0.9, "right_accuracy": 0.8}]}
    theirs = [{"method": "EW", "step_ms": 40.0, "left_accuracy": 0.91, "right_accuracy": 0.81},
              {"method": "CAGrad", "error": "ValueError: cannot reshape array of size 2 into shape (1,3)"}]
    rows = libmtl.compare_rows(theirs, zoo)
    assert rows[0] == ["EW", 40.0, 20.0, 0.5, "0.910 ± 0.000", "0.900 ± 0.000", "0.810 ± 0.000",
                       "0.800 ± 0.000"]
    assert rows[1][1] == "-" and rows[1][3] == "-" and rows[1][4].startswith("fails: ValueError: cannot reshape")


def test_libmtl_environment_is_built_aside_and_renamed_only_when_complete(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="Installing torch failed \\(exit 3\\).*no torch here"):
        libmtl._run([sys.executable, "-c", "import sys; print('no torch here'); sys.exit(3)"],
                    "Installing torch")
    calls = []

    def fake_install(fail_at):
        def run(command, what):
            calls.append(what)
            if what == fail_at:
                raise RuntimeError(f"{what} failed")
            if what == "Making the virtual environment":
                (tmp_path / "venv.partial" / "bin").mkdir(parents=True)
                (tmp_path / "venv.partial" / "bin" / "python").touch()
        return run

    monkeypatch.setattr(libmtl, "_run", fake_install("Installing LibMTL"))
    with pytest.raises(RuntimeError, match="Installing LibMTL failed"):
        libmtl.ensure_libmtl_venv(tmp_path / "venv")
    assert calls == ["Making the virtual environment", "Installing torch", "Installing LibMTL"]
    assert not (tmp_path / "venv").exists()  # never a half-made environment under the real name
    monkeypatch.setattr(libmtl, "_run", fake_install(None))
    assert libmtl.ensure_libmtl_venv(tmp_path / "venv") == tmp_path / "venv" / "bin" / "python"
    assert not (tmp_path / "venv.partial").exists()
    calls.clear()
    assert libmtl.ensure_libmtl_venv(tmp_path / "venv") == tmp_path / "venv" / "bin" / "python"
    assert calls == []  # made once, then reused


@pytest.mark.skipif(not (libmtl.venv_folder() / "bin" / "python").exists(),
                    reason=f"no LibMTL environment at {libmtl.venv_folder()} "
                           "(python scripts/benchmark.py --only=libmtl makes it)")
def test_libmtl_runner_trains_with_libmtl_and_reports_like_mtl_zoo(tmp_path, rng):
    path = fake_digits(tmp_path / "d.npz", rng, train=64, test=32)
    result = libmtl.run_libmtl(libmtl.venv_folder() / "bin" / "python", path, ["EW", "MGDA-UB", "CAGrad"],
                               seeds=[0], epochs=2, output=tmp_path / "r.json")
    assert result["library"] == "LibMTL" and result["versions"]["LibMTL"] == "1.1.5"
    runs = {run["method"]: run for run in result["runs"]}
    assert runs["EW"]["step_ms"] > 0 and 0 <= runs["MGDA-UB"]["left_accuracy"] <= 1
    assert "reshape" in runs["CAGrad"]["error"]  # LibMTL 1.1.5's CAGrad assumes 3 tasks
    completed = subprocess.run([str(libmtl.venv_folder() / "bin" / "python"), str(libmtl.RUNNER),
                                f"--data={path}", "--methods=PCgrad", f"--output={tmp_path / 'x.json'}"],
                               capture_output=True, text=True)
    assert completed.returncode == 2 and "unknown methods ['PCgrad']" in completed.stderr
    assert json.loads((tmp_path / "r.json").read_text())["runs"][0]["method"] == "EW"
