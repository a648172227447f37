"""`mtl-zoo COMMAND [--flags]`: one entry point for all the command lines.

    mtl-zoo train --epochs=2
    mtl-zoo evaluate --model=runs/mtl_shapes_tiny
    mtl-zoo export --model=runs/mtl_shapes_tiny --export_dir=exports/shapes
    mtl-zoo download --all
    mtl-zoo benchmark --only=sharing
"""

import importlib
import sys

COMMANDS = {
    "train": ("mtl_zoo.cli.train", "train a model (the main job)"),
    "local_workers": ("mtl_zoo.cli.local_workers", "train with N local MultiWorkerMirroredStrategy workers"),
    "evaluate": ("mtl_zoo.cli.evaluate", "evaluate a trained model, optionally delta_m"),
    "export": ("mtl_zoo.cli.export", "export a SavedModel for serving (and TFLite)"),
    "download": ("mtl_zoo.cli.download", "fetch and verify preset checkpoints"),
    "make_preset": ("mtl_zoo.cli.make_preset", "write a zoo preset from a finished training run"),
    "benchmark": ("mtl_zoo.cli.benchmark", "run the benchmarks into BENCHMARKS.md"),
}


def usage():
    """What `mtl-zoo --help` prints: the commands, their summaries in one column.

    Example:
    >>> print(usage())  # doctest: +ELLIPSIS
    usage: mtl-zoo COMMAND [--flags]   (mtl-zoo COMMAND --help lists the flags)
    <BLANKLINE>
      train          train a model (the main job)
      local_workers  train with N local MultiWorkerMirroredStrategy workers
    ...
    """
    width = max(map(len, COMMANDS))
    lines = ["usage: mtl-zoo COMMAND [--flags]   (mtl-zoo COMMAND --help lists the flags)", ""]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def run(argv=None):
    """Console entry point: runs `COMMAND`'s command line with the remaining arguments.

    Example:
    >>> run(["mtl-zoo", "--help"])  # doctest: +SKIP
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    if argv[1] not in COMMANDS:
        from mtl_zoo.naming import unknown_name_error

        print(f"error: {unknown_name_error('command', argv[1], COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(COMMANDS[argv[1]][0])
    sys.argv = [f"mtl-zoo {argv[1]}", *argv[2:]]
    module.run()
