"""Thin wrapper: `python scripts/evaluate.py --help` (installed as `mtl-zoo-evaluate`, `mtl-zoo evaluate`)."""

from mtl_zoo.cli.evaluate import run

if __name__ == "__main__":
    run()
