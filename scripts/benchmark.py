"""Runs the benchmarks and writes BENCHMARKS.md; see `python scripts/benchmark.py --help`."""

from mtl_zoo.cli.benchmark import run

if __name__ == "__main__":
    run()
