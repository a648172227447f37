"""`import mtl_zoo` turns TensorFlow's oneDNN CPU kernels on, unless told otherwise; and its benchmark."""

import os
import subprocess
import sys

from mtl_zoo import cpu_kernels
from mtl_zoo.benchmarks import cpu_kernels as cpu_kernels_benchmark

# TensorFlow's own answer to "are the oneDNN kernels on in this process?" (a private function,
# used only here to check that the setting reaches TensorFlow).
PROBE = ("import os, sys; {first}; from tensorflow.python.util import _pywrap_util_port as port; "
         "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), port.IsMklEnabled())")


def probe(first, **environment):
    env = {key: value for key, value in os.environ.items() if key != cpu_kernels.ONEDNN_ENV}
    completed = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], capture_output=True,
                               text=True, env={**env, **environment})
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout.split()


def test_importing_mtl_zoo_first_turns_onednn_on_and_a_users_choice_stands():
    assert probe("import mtl_zoo") == ["1", "True"]
    assert probe("import mtl_zoo", TF_ENABLE_ONEDNN_OPTS="0") == ["0", "False"]


def test_nothing_is_set_once_tensorflow_is_imported_since_it_would_be_ignored():
    environment = {}
    assert not cpu_kernels.prefer_onednn(environment, modules={"tensorflow": object()})
    assert environment == {}
    assert cpu_kernels.prefer_onednn(environment, modules={}) and environment == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert not cpu_kernels.prefer_onednn(environment, modules={})  # already set: left as it is


def test_benchmark_times_every_setting_in_turns(monkeypatch, tmp_path):
    calls = []

    def run_isolated(module, function, environment=None, jit_compile=None, **kwargs):
        calls.append((function, environment[cpu_kernels.ONEDNN_ENV], jit_compile))
        onednn = environment[cpu_kernels.ONEDNN_ENV] == "1"
        return {"step_ms": 100.0 if jit_compile else 40.0 if onednn else 80.0}

    monkeypatch.setattr("mtl_zoo.benchmarks.measure.run_isolated", run_isolated)
    setup = {**cpu_kernels_benchmark.settings(quick=False), "rounds": 2}
    steps = cpu_kernels_benchmark.measure(setup, str(tmp_path / "digits.npz"))
    settings = [("0", False), ("1", False), ("1", True)]
    one_round = ([("train_multi_lenet", *s) for s in settings] * len(setup["methods"])
                 + [("default_model_step_ms", *s) for s in settings])
    assert calls == one_round * 2
    assert steps["MultiLeNet, EW"] == {"Eigen": [80.0, 80.0], "oneDNN": [40.0, 40.0],
                                       "XLA": [100.0, 100.0]}


def test_default_model_step_is_timed_in_milliseconds():
    result = cpu_kernels_benchmark.default_model_step_ms(image_size=32, batch_size=2, steps=1)
    assert set(result) == {"step_ms"} and result["step_ms"] > 0


def test_benchmark_table_gives_each_setting_and_the_ratios_to_onednn(monkeypatch):
    steps = {"MultiLeNet, EW": {"Eigen": [80.0, 90.0, 60.0], "oneDNN": [40.0, 30.0, 30.0],
                                "XLA": [100.0, 60.0, 90.0]}}
    monkeypatch.setattr(cpu_kernels_benchmark, "measure", lambda setup, data: steps)
    monkeypatch.setattr("mtl_zoo.benchmarks.digits.write_digit_arrays", lambda path, *counts: path)
    table = cpu_kernels_benchmark.run(quick=True)
    assert table.columns[1:4] == ["Eigen ms/step", "oneDNN ms/step", "XLA ms/step"]
    # round ratios 2, 3, 2 (Eigen) and 2.5, 2, 3 (XLA): medians 2 and 2.5
    assert table.rows == [["MultiLeNet, EW", 80.0, 30.0, 90.0, 2.0, "2.00-3.00", 2.5, "2.00-3.00"]]
