"""`--config` files: flag values from JSON or YAML; flags given on the command line win."""

import json
import os

from absl import flags


def read_config_file(path):
    """The `{flag_name: value}` mapping in a .json, .yaml or .yml file.

    Example:
    >>> import json, tempfile
    >>> path = tempfile.mktemp(suffix=".json"); json.dump({"epochs": 2}, open(path, "w"))
    >>> read_config_file(path)
    {'epochs': 2}
    """
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".json", ".yaml", ".yml"):
        raise ValueError(f"Config file {path} must end in .json, .yaml or .yml.")
    try:
        with open(path) as f:
            if extension == ".json":
                values = json.load(f)
            else:
                import yaml

                values = yaml.safe_load(f)
    except FileNotFoundError:
        raise ValueError(f"Config file {path} does not exist.") from None
    except (json.JSONDecodeError, ValueError) as error:
        raise ValueError(f"Config file {path} is not valid {extension[1:].upper()}: {error}") from None
    except Exception as error:  # yaml.YAMLError: the yaml module is imported lazily
        raise ValueError(f"Config file {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"Config file {path} must hold a mapping of flag names to values, "
                         f"got {type(values).__name__}.")
    return values


def _as_flag_text(value, repeated=False):
    """`value` as command-line text; a list for a repeated flag stays a list of texts, and a
    mapping is its `name=value` pairs (`task_weights: {pose: 0.5}`, `sharing_option: {beta: 1}`).

    Example:
    >>> _as_flag_text({"action": 1, "pose": 0.5})
    'action=1,pose=0.5'
    """
    if isinstance(value, dict):
        value = [f"{name}={item}" for name, item in value.items()]
    if repeated and isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):  # a null item (e.g. a dataset's default config) is empty
        return ",".join("" if item is None else str(item) for item in value)
    return str(value)


def apply_config_file(flag_values, path, allowed):
    """Sets the flags named in the config file at `path`, except those given on the
    command line (they override the file). Values are parsed and checked like
    command-line values.

    Args:
        flag_values: the parsed `absl.flags.FLAGS`.
        path: a .json / .yaml / .yml file.
        allowed: the names of the flags a config file may set.

    Returns:
        The names of the flags the file set.

    Raises:
        ValueError: unknown flag names, or a value the flag rejects.
    """
    values = read_config_file(path)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"Config file {path} sets unknown flags {unknown}; known: {sorted(allowed)}.")
    applied = []
    for name, value in values.items():
        flag = flag_values[name]
        if flag.present:
            continue
        try:
            flag.parse(None if value is None else _as_flag_text(value, isinstance(flag, flags.MultiFlag)))
        except Exception as error:  # absl raises its own IllegalFlagValueError
            raise ValueError(f"Config file {path}: bad value {value!r} for {name}: {error}") from None
        applied.append(name)
    try:
        flag_values.validate_all_flags()
    except flags.Error as error:  # a validator's verdict on a value from the file
        raise ValueError(f"Config file {path}: {error}") from None
    return applied
