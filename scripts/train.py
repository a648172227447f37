"""Trains the default multi-task model; see `python scripts/train.py --help`."""

from mtl_zoo.cli.train import run

if __name__ == "__main__":
    run()
