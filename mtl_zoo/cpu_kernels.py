"""Turns on TensorFlow's oneDNN CPU kernels unless the user chose otherwise.

TensorFlow's Linux x86 builds use oneDNN (Intel's deep-learning kernels, as
PyTorch does on the CPU) by default only on CPUs with AVX-512 neural-network
extensions. On others, AVX2 CPUs such as the AMD EPYC of some of BENCHMARKS.md's
runs, convolutions then run on TensorFlow's older Eigen kernels, and a training
step takes two to three times as long (section `cpu_kernels` of BENCHMARKS.md,
which sets the variable to 0 to measure Eigen). `import mtl_zoo` therefore sets
`TF_ENABLE_ONEDNN_OPTS=1` before it imports TensorFlow, when the variable is unset.

TensorFlow reads the variable once, as it is imported: setting it after
`import tensorflow` changes nothing. So it takes effect when `mtl_zoo` is
imported first (the command lines, the benchmarks); otherwise set it in the
shell. `TF_ENABLE_ONEDNN_OPTS=0` keeps TensorFlow's own kernels. The two
compute in different orders, so their floating-point round-off differs.

Example:
>>> env = {}
>>> prefer_onednn(env, modules={})
True
>>> env
{'TF_ENABLE_ONEDNN_OPTS': '1'}
>>> prefer_onednn({"TF_ENABLE_ONEDNN_OPTS": "0"}, modules={})
False
"""

import os
import sys

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn(environ=None, modules=None):
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` in `environ` if it is unset and TensorFlow is not imported yet.

    Args:
        environ: the environment to change (default `os.environ`).
        modules: the imported modules (default `sys.modules`); nothing is set
            once "tensorflow" is among them, since TensorFlow would ignore it.

    Returns:
        Whether the variable was set.
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if ONEDNN_ENV in environ or "tensorflow" in modules:
        return False
    environ[ONEDNN_ENV] = "1"
    return True


def onednn_setting():
    """How this process's TensorFlow was told to pick its CPU kernels, for benchmark headers."""
    value = os.environ.get(ONEDNN_ENV)
    return f"{ONEDNN_ENV}={value}" if value is not None else f"{ONEDNN_ENV} unset (TensorFlow's default)"
