"""Thin wrapper: `python scripts/local_workers.py --workers=2 -- TRAIN_FLAGS` (also `mtl-zoo local_workers`)."""

from mtl_zoo.cli.local_workers import run

if __name__ == "__main__":
    run()
