"""Name checks and "did you mean" suggestions shared by every registry."""

import difflib
import re

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def closest_names(name, choices, limit=3, cutoff=0.5):
    """Returns up to `limit` entries of `choices` that look like `name` (difflib's similarity
    ratio at least `cutoff`).

    Example:
    >>> closest_names("resnet5", ["resnet50", "resnet101", "tiny"])
    ['resnet50', 'resnet101']
    """
    return difflib.get_close_matches(str(name), list(choices), n=limit, cutoff=cutoff)


def repeated(names, key=None):
    """The entries of `names` given more than once, each once, sorted (by `key` if given).

    Example:
    >>> repeated(["P3", "P5", "P3"])
    ['P3']
    """
    names = list(names)
    return sorted({name for name in names if names.count(name) > 1}, key=key)


def did_you_mean(name, choices):
    """" Did you mean 'a' or 'b'?" for the entries of `choices` that look like `name`, or "".

    Example:
    >>> did_you_mean("resnet5", ["resnet50", "tiny"])
    " Did you mean 'resnet50'?"
    """
    suggestions = closest_names(name, choices)
    return f" Did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""


def unknown_name_error(what, name, choices):
    """A ValueError for an unknown `what` called `name`, listing the valid choices."""
    return ValueError(
        f"Unknown {what} {name!r}.{did_you_mean(name, choices)} Valid choices: {', '.join(sorted(choices))}."
    )


def check_identifier(name, what="name"):
    """Raises ValueError unless `name` is usable as an output / metric name prefix."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(
            f"Invalid {what} {name!r}: use letters, digits and underscores, "
            "starting with a letter (for example 'objects' or 'pose_2d')."
        )
    return name
