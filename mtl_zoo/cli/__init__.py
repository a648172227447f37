"""Command lines (absl-py), installed as console entry points; scripts/ holds thin wrappers."""

import sys

from absl import app, flags, logging


def exit_on_bad_input(function):
    """Runs `function()`; a ValueError or OSError (bad flags or input, missing files, a failed
    download) becomes one line on stderr and exit 2.

    Example:
    >>> exit_on_bad_input(lambda: 3)
    3
    """
    try:
        return function()
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def absl_main(job):
    """An absl `main(argv)` for `app.run`: refuses positional arguments, runs `job()` under
    `exit_on_bad_input`, and keeps TensorFlow's INFO logs out of the output (unless
    --verbosity is given).

    Example:
    >>> main = absl_main(lambda: None)
    >>> main(["train.py"])
    """
    def main(argv):
        if not flags.FLAGS["verbosity"].present:  # TensorFlow's INFO lines only on request
            logging.set_verbosity(logging.WARNING)
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
        exit_on_bad_input(job)  # app.run exits with main's return value: return nothing

    return main
