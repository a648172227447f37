"""Fetches and verifies preset checkpoints; see `python scripts/download.py --help`."""

from mtl_zoo.cli.download import run

if __name__ == "__main__":
    run()
