"""The preset catalog: reading and checking `preset.json` files, and `list_presets`.

A preset is a folder with `preset.json`: `name`, `description`, `config` (the
keyword arguments of `mtl_zoo.build_model`; tasks as dicts with a "kind"),
`preprocessing` (informative), `labels` (`{task: names}`), `weights` (`{"url",
"sha256", "size", "file"}`, or null for an architecture-only preset) and
`metrics` (`{task: {metric: value}}`, measured on the card's evaluation split).
The zoo's own presets live in `models/`, installed as `mtl_zoo.catalog`.
"""

import importlib.resources
import inspect
import json
import os
import re

from mtl_zoo.builders import build_model
from mtl_zoo.tasks import get_task

PRESET_FILE = "preset.json"
REQUIRED_FIELDS = ("name", "description", "config", "preprocessing", "labels", "weights", "metrics")
REQUIRED_CONFIG = ("backbone", "input_shape", "tasks")
CONFIG_KEYS = tuple(name for name in inspect.signature(build_model).parameters
                    if name != "backbone_weights")
WEIGHTS_FIELDS = ("url", "sha256", "size", "file")
WEIGHTS_SUFFIX = ".weights.h5"  # Keras weights-only files: arrays, never code
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_JSON_NAMES = {str: "a string", dict: "an object"}


def catalog_dir():
    """The folder of the zoo's presets (`models/`, installed as `mtl_zoo.catalog`)."""
    return str(importlib.resources.files("mtl_zoo.catalog"))


def catalog_names():
    """The names of the zoo's presets, sorted.

    Example:
    >>> "mtl_shapes_tiny_cls_det_pose" in catalog_names()
    True
    """
    root = catalog_dir()
    return sorted(name for name in os.listdir(root)
                  if os.path.isfile(os.path.join(root, name, PRESET_FILE)))


def read_preset(path):
    """The checked preset in the `preset.json` file at `path` (a dict).

    Raises:
        ValueError: the file is not JSON, or misses fields, or has a bad
            config, task, labels or weights entry; the message names the file.

    Example:
    >>> read_preset(os.path.join(catalog_dir(), "nyuv2_efficientnetv2b0_seg_depth", PRESET_FILE))["name"]
    'nyuv2_efficientnetv2b0_seg_depth'
    """
    try:
        with open(path, encoding="utf-8") as stream:
            preset = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON (UTF-8): {error}.") from None
    return check_preset(preset, path)


def check_preset(preset, where):
    """Returns `preset` (a parsed preset.json) if it is complete and valid, else a ValueError naming `where`."""
    if not isinstance(preset, dict):
        raise ValueError(f"{where} must hold a JSON object, got {type(preset).__name__}.")
    missing = [field for field in REQUIRED_FIELDS if field not in preset]
    if missing:
        raise ValueError(f"{where} misses the fields {missing}; a preset.json needs "
                         f"{list(REQUIRED_FIELDS)} (weights may be null).")
    kinds = {"name": str, "description": str, "preprocessing": str, "labels": dict, "metrics": dict}
    wrong = [f"{field!r} must be {_JSON_NAMES[kind]}, got {type(preset[field]).__name__}"
             for field, kind in kinds.items() if not isinstance(preset[field], kind)]
    if wrong:
        raise ValueError(f"{where}: {'; '.join(wrong)}.")
    config = preset["config"]
    if not isinstance(config, dict):
        raise ValueError(f"{where}: 'config' must be an object of build_model arguments.")
    missing = [key for key in REQUIRED_CONFIG if key not in config]
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if missing or unknown:
        raise ValueError(f"{where}: 'config' misses {missing} and has unknown keys {unknown}; "
                         f"it needs {list(REQUIRED_CONFIG)} and may have {list(CONFIG_KEYS)}.")
    if not isinstance(config["tasks"], list) or not config["tasks"]:
        raise ValueError(f"{where}: config 'tasks' must be a non-empty list of task objects, got "
                         f"{config['tasks']!r}.")
    if not preset["name"].strip():
        raise ValueError(f"{where}: 'name' is empty.")
    try:
        tasks = {task.name: task for task in map(get_task, config["tasks"])}
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    unknown = sorted(set(preset["labels"]) - set(tasks))
    if unknown:
        raise ValueError(f"{where}: 'labels' names tasks {unknown} that the config lacks ({list(tasks)}).")
    for name, labels in preset["labels"].items():
        _check_label_names(tasks[name], labels, where)
    for name, values in preset["metrics"].items():
        if not isinstance(values, dict) or not all(isinstance(value, (int, float)) and not isinstance(value, bool)
                                                   for value in values.values()):
            raise ValueError(f"{where}: 'metrics' of {name!r} must be an object of numbers "
                             f"({{metric: value}}), got {values!r}.")
    _check_weights(preset["weights"], where)
    return preset


# the attribute that counts what a task kind's label names name (classes, keypoints, ...)
_COUNT_ATTRIBUTES = ("num_classes", "num_keypoints", "num_landmarks", "num_labels")


def _check_label_names(task, labels, where):
    """A ValueError unless `labels` is a list of one name per class (keypoint, ...) of `task`."""
    count = next((getattr(task, attribute) for attribute in _COUNT_ATTRIBUTES if hasattr(task, attribute)), None)
    if not isinstance(labels, list) or (count is not None and len(labels) != count):
        how_many = "" if count is None else f"{count} "
        raise ValueError(f"{where}: 'labels' of task {task.name!r} must be a list of {how_many}names "
                         f"(one per class, keypoint or label), got {labels!r}.")


def _check_weights(weights, where):
    if weights is None:
        return
    missing = [field for field in WEIGHTS_FIELDS if field not in (weights or {})]
    if not isinstance(weights, dict) or missing:
        raise ValueError(f"{where}: 'weights' must be null or an object with {list(WEIGHTS_FIELDS)}; "
                         f"missing {missing}.")
    if not _SHA256.match(str(weights["sha256"])):
        raise ValueError(f"{where}: weights sha256 must be 64 lowercase hex digits, got {weights['sha256']!r}.")
    if not isinstance(weights["size"], int) or isinstance(weights["size"], bool) or weights["size"] <= 0:
        raise ValueError(f"{where}: weights size must be a positive number of bytes, got {weights['size']!r}.")
    url = weights["url"]
    if not isinstance(url, str) or ("://" in url and not url.startswith(("https://", "http://"))):
        raise ValueError(f"{where}: weights url must be an http(s) address or a file name beside "
                         f"preset.json, got {url!r}.")
    if not str(weights["file"]).endswith(WEIGHTS_SUFFIX) or os.path.basename(weights["file"]) != weights["file"]:
        raise ValueError(f"{where}: weights file must be a plain file name ending in {WEIGHTS_SUFFIX!r} "
                         f"(Keras weights only, which cannot run code), got {weights['file']!r}.")


def list_presets():
    """One row per zoo preset: name, tasks, backbone, sharing, params, pretrained, metrics.

    Returns:
        A list of dicts sorted by name; `tasks` lists "name (kind)"; `metrics`
        is flat (`{"action/accuracy": 0.942, ...}`) and empty for presets
        without a checkpoint.

    Example:
    >>> import mtl_zoo as mz
    >>> "mtl_shapes_mobilenetv3s_cls_det_pose" in [row["name"] for row in mz.list_presets()]
    True
    """
    rows = []
    for name in catalog_names():
        preset = read_preset(os.path.join(catalog_dir(), name, PRESET_FILE))
        config = preset["config"]
        rows.append({
            "name": name,
            "tasks": [f"{task['name']} ({task['kind']})" for task in config["tasks"]],
            "backbone": config["backbone"],
            "sharing": config.get("sharing", "hard"),
            "params": preset.get("params"),
            "pretrained": preset["weights"] is not None,
            "metrics": {f"{task}/{metric}": value for task, values in preset["metrics"].items()
                        for metric, value in values.items()},
        })
    return rows
