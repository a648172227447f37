"""Thin wrapper: `python scripts/make_preset.py --help` (also `mtl-zoo make_preset`)."""

from mtl_zoo.cli.make_preset import run

if __name__ == "__main__":
    run()
