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


def test_benchmark_times_both_kernel_settings_in_turns(monkeypatch, tmp_path):
    calls = []

    def run_isolated(module, function, environment=None, **kwargs):
        calls.append((function, environment[cpu_kernels.ONEDNN_ENV]))
        return {"step_ms": 80.0 if environment[cpu_kernels.ONEDNN_ENV] == "0" else 40.0}

    monkeypatch.setattr("mtl_zoo.benchmarks.measure.run_isolated", run_isolated)
    setup = {**cpu_kernels_benchmark.settings(quick=False), "rounds": 2}
    steps = cpu_kernels_benchmark.measure(setup, str(tmp_path / "digits.npz"))
    one_round = ([("train_multi_lenet", "0"), ("train_multi_lenet", "1")] * len(setup["methods"])
                 + [("default_model_step_ms", "0"), ("default_model_step_ms", "1")])
    assert calls == one_round * 2
    assert steps["MultiLeNet, EW"] == {"0": [80.0, 80.0], "1": [40.0, 40.0]}


def test_default_model_step_is_timed_in_milliseconds():
    result = cpu_kernels_benchmark.default_model_step_ms(image_size=32, batch_size=2, steps=1)
    assert set(result) == {"step_ms"} and result["step_ms"] > 0
