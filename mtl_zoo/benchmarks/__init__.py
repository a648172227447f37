"""Benchmarks behind BENCHMARKS.md, run by `scripts/benchmark.py`.

Each benchmark is a module of this package with a `run(quick)` function that
returns a `Table`. Speed and memory are reported as ratios measured in one run,
since absolute numbers on a shared machine are noisy.

Example:
>>> from mtl_zoo.benchmarks import list_benchmarks
>>> "sharing" in list_benchmarks()  # doctest: +SKIP
True
"""

import importlib

from mtl_zoo.benchmarks.table import Table
from mtl_zoo.naming import unknown_name_error

# name -> module under mtl_zoo.benchmarks; the order is the order of BENCHMARKS.md.
BENCHMARK_MODULES = {"tasks": "tasks", "batch_norm": "batch_norm", "aggregators": "aggregators",
                     "sharing": "sharing", "pipeline": "pipeline", "export": "export",
                     "multi_mnist": "multi_mnist", "libmtl": "libmtl", "cpu_kernels": "cpu_kernels",
                     "workers": "workers"}


def list_benchmarks():
    """The names of the benchmarks, in the order BENCHMARKS.md shows them."""
    return list(BENCHMARK_MODULES)


def check_benchmark_names(names):
    """Raises a ValueError that suggests the closest names for the first of `names` that is
    not a benchmark."""
    for name in names:
        if name not in BENCHMARK_MODULES:
            raise unknown_name_error("benchmark", name, BENCHMARK_MODULES)


def run_benchmark(name, quick=False):
    """Runs benchmark `name` and returns its `Table` (`quick`: fewer steps, for tests)."""
    check_benchmark_names([name])
    module = importlib.import_module(f"mtl_zoo.benchmarks.{BENCHMARK_MODULES[name]}")
    return module.run(quick=quick)


__all__ = ["BENCHMARK_MODULES", "Table", "check_benchmark_names", "list_benchmarks", "run_benchmark"]
