"""Every docstring example of the library runs and shows what it says."""

import doctest
import importlib
import pkgutil

import pytest

import mtl_zoo

# Modules whose examples cannot run in this process: the command lines other than train
# define their absl flags at import, and some of them name a flag alike (they run one per
# process, and train's flags are those the other tests import); the LibMTL runner runs
# inside LibMTL's own environment, with torch.
NOT_IMPORTED_HERE = tuple(f"mtl_zoo.cli.{name}" for name in (
    "benchmark", "download", "evaluate", "export", "local_workers", "make_preset")) + (
    "mtl_zoo.benchmarks.libmtl_runner",)
MODULES = [info.name for info in pkgutil.walk_packages(mtl_zoo.__path__, "mtl_zoo.")
           if info.name not in NOT_IMPORTED_HERE]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    results = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert results.failed == 0, f"{results.failed} docstring example(s) of {name} failed (printed above)"


def test_the_examples_are_found():
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for name in MODULES
                   for test in finder.find(importlib.import_module(name)))
    assert examples > 150, f"only {examples} docstring examples found in {len(MODULES)} modules"
