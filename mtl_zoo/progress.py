"""How long operations show their progress (Keras progress bars)."""

import sys


def progress_verbosity():
    """Keras `verbose` for long operations: 1 (a live progress bar) on a terminal,
    2 (one line when done) when the output goes to a file or a pipe.

    Example:
    >>> progress_verbosity() in (1, 2)
    True
    """
    return 1 if sys.stdout.isatty() else 2
