import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# `pytest -n 2` runs two TensorFlow processes (and their subprocesses, which inherit this)
# on two cores: one intra-op thread each keeps them from spinning against each other
# (the suite took 13 min 33 s with it, 14 min 53 s the same day without it and with three
# more subprocess tests, both with `-n 3`).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
# TensorFlow's Eigen kernels in the tests' processes and the scripts they start, which
# `import mtl_zoo` would otherwise switch to oneDNN: oneDNN runs long training 1.8-3x faster
# (BENCHMARKS.md, cpu_kernels) but made the tests' short runs slower to start (the four tests of
# test_train_script.py took 177 s with it, 158 s without, one after the other on 2026-12-04).
# test_cpu_kernels.py checks the switch, and the end-to-end script test runs on oneDNN as users do.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


class _InterruptAtEpoch(keras.callbacks.Callback):
    """Stops `fit` the way a crash would, when epoch `epoch` (0-based) begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


@pytest.fixture
def interrupt_at_epoch():
    """`interrupt_at_epoch(k)`: a callback that raises RuntimeError("interrupted") as epoch k begins."""
    return _InterruptAtEpoch


def pytest_collection_modifyitems(items):
    """Puts the tests marked slow first. With `--maxschedchunk=1` (setup.cfg) `pytest -n 2`
    hands tests out one at a time, so the slow ones start side by side on every worker and
    the short ones fill in after them, instead of a run of slow ones being left to one
    worker at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def train_exit(capsys, monkeypatch):
    """`train_exit(*argv)`: runs train.py's entry point in this process (no TensorFlow start-up,
    unlike a script run) and returns its exit code (None: success) and the last line of its
    stderr; `train_exit.stdout` is then what it printed."""
    from mtl_zoo.cli import train as train_cli

    def run(*argv):
        monkeypatch.setattr(sys, "argv", ["train.py", *argv])
        try:
            with pytest.raises(SystemExit) as exited:
                train_cli.run()
        finally:
            train_cli.FLAGS.unparse_flags()
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, captured.err[-3000:]
        run.stdout = captured.out
        return exited.value.code, (captured.err.strip().splitlines() or [""])[-1]

    return run
