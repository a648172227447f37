import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# `pytest -n 2` runs two TensorFlow processes (and their subprocesses, which inherit this)
# on two cores: one intra-op thread each keeps them from spinning against each other
# (the suite took 13 min 33 s with it, 14 min 53 s the same day without it and with three
# more subprocess tests, both with `-n 3`).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

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
