"""Command lines (absl-py), installed as console entry points; scripts/ holds thin wrappers."""

import sys


def exit_on_bad_input(function):
    """Runs `function()`; a ValueError (bad flags or input) becomes one line on stderr and exit 2.

    Example:
    >>> exit_on_bad_input(lambda: 3)
    3
    """
    try:
        return function()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
