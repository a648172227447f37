"""Checks of integer arguments, shared by the layers, sharing schemes and pipelines, so that
every bad count fails with the same kind of message."""

import numbers


def check_integer(value, name, minimum=1, owner=None, none_means=None):
    """`value` as an int when it is an integer >= `minimum` (not a bool, a float or a string),
    else a ValueError naming `name` (and `owner`, the layer or scheme it belongs to). With
    `none_means`, None is allowed too (and returned), the message saying what it means.

    Example:
    >>> check_integer(3, "num_experts", minimum=2)
    3
    >>> check_integer(2.0, "num_experts", minimum=2, owner="Sharing scheme 'mmoe'")
    Traceback (most recent call last):
    ...
    ValueError: Sharing scheme 'mmoe': num_experts must be an integer >= 2, got 2.0.
    >>> check_integer(None, "bottleneck", none_means="max(8, channels // 4)") is None
    True
    """
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        prefix = f"{owner}: " if owner else ""
        allowed = f"None ({none_means}) or " if none_means is not None else ""
        raise ValueError(f"{prefix}{name} must be {allowed}an integer >= {minimum}, got {value!r}.")
    return int(value)
