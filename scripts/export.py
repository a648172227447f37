"""Thin wrapper: `python scripts/export.py --help` (installed as `mtl-zoo-export`, `mtl-zoo export`)."""

from mtl_zoo.cli.export import run

if __name__ == "__main__":
    run()
