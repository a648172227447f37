"""Command lines (absl-py), installed as console entry points; scripts/ holds thin wrappers."""

import re
import sys

from absl import app, flags, logging

from mtl_zoo.checks import failed_check


def _exit_with_error(message):
    print(f"error: {' '.join(_without_traced_code(str(message)).split())}", file=sys.stderr)
    sys.exit(2)


def _without_traced_code(message):
    """The message of an error raised in code TensorFlow traced (a tf.data map, a train
    step), without the "in user code:" lines that say where.

    Example:
    >>> _without_traced_code('in user code:\\n  File "x.py", line 3\\n  ValueError: Task: bad.\\n')
    'Task: bad.'
    """
    if "in user code:" not in message:
        return message
    last = [line.strip() for line in message.strip().splitlines() if line.strip()][-1]
    return last.split(": ", 1)[1] if last.split(": ", 1)[0].endswith("Error") else message


def parse_flags_or_exit(argv):
    """absl's flag parsing for `app.run`, except that a bad flag (an unknown name, a value of
    the wrong type or out of range) is one `error: ...` line and exit 2, like other bad input.

    Example (parses the process's absl flags):
    >>> parse_flags_or_exit(["train.py", "--epochs=2"])  # doctest: +SKIP
    ['train.py']
    """
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _exit_with_error(f"{_flag_error_sentence(str(error))} `--help` lists the flags.")


def _flag_error_sentence(message):
    """absl's message of a flag error as a sentence, its suggestions written as flags.

    Example:
    >>> _flag_error_sentence("Unknown command line flag 'epoch'. Did you mean: epochs ?")
    "Unknown command line flag 'epoch'. Did you mean --epochs?"
    >>> _flag_error_sentence("Unknown command line flag 'sed'. Did you mean: seed, sharing ?")
    "Unknown command line flag 'sed'. Did you mean --seed or --sharing?"
    """
    message = re.sub(r"Did you mean: (.+) \?$", lambda match: "Did you mean {}?".format(
        " or ".join(f"--{name.strip()}" for name in match.group(1).split(","))), message.strip())
    return message if message.endswith((".", "?")) else f"{message}."


def run_command(main):
    """`app.run(main)` with `parse_flags_or_exit`: the entry point of every command line."""
    _show_flags_in_help()
    app.run(main, flags_parser=parse_flags_or_exit)


def _show_flags_in_help():
    """Makes `--help` list the command's flags. absl's `--help` lists those of the program's
    main module (`sys.argv[0]`: a script in scripts/, or a console entry point), which defines
    none here: they live in mtl_zoo.cli's modules (the command's, and the dataset flags)."""
    for module, module_flags in flags.FLAGS.flags_by_module_dict().items():
        if module.startswith("mtl_zoo."):
            for flag in module_flags:
                flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def refuse_positional_arguments(argv):
    """Exits with one `error: ...` line when `argv` holds more than the program name.

    Example:
    >>> refuse_positional_arguments(["prog"])
    """
    if len(argv) > 1:
        _exit_with_error(f"Unexpected arguments: {argv[1:]}; every option is a --flag (`--help` "
                         "lists them).")


def exit_on_bad_input(function, errors=(ValueError, OSError)):
    """Runs `function()`; an exception of `errors` (by default ValueError and OSError: bad
    flags or input, missing files, a failed download), or a failed check of the data in a
    train or test step (`failed_check`), becomes one line on stderr and exit 2.

    Example:
    >>> exit_on_bad_input(lambda: 3)
    3
    """
    try:
        return function()
    except errors as error:
        _exit_with_error(error)
    except Exception as error:
        check = failed_check(error)
        if check is None:
            raise
        _exit_with_error(f"The data failed a check while training or evaluating: {check}")


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
        refuse_positional_arguments(argv)
        exit_on_bad_input(job)  # app.run exits with main's return value: return nothing

    return main
