"""Presets written from training runs: preset.json, the weights and the model card, with
every number taken from the run's own `metrics.json` (nothing typed in by hand).

Example:
>>> write_preset("runs/multi_mnist", "models/multi_mnist_tiny_cls_det",
...              description="...", limitations=["..."])  # doctest: +SKIP
"""

import json
import os
import shlex

from mtl_zoo.files import staged_folder
from mtl_zoo.presets import build_preset_model
from mtl_zoo.presets.catalog import PRESET_FILE, WEIGHTS_SUFFIX, check_preset
from mtl_zoo.presets.download import file_sha256

DEFAULT_PREPROCESSING = "raw 0-255 RGB in; the backbone family's normalisation is inside the model."
SERVING_HEADER = ("## Serving outputs\n\nThe signatures of the SavedModel written by "
                  "`model.export(path)`, as `mz.export.describe_serving_outputs(model)` lists them:\n\n")


def serving_section(model):
    """The card's "Serving outputs" section: every signature's outputs, generated."""
    from mtl_zoo.export import describe_serving_outputs

    return SERVING_HEADER + describe_serving_outputs(model).strip() + "\n"


def training_command(flag_values, defaults, repeated=()):
    """`python scripts/train.py` with the flags whose values differ from `defaults`; the
    flags named in `repeated` are given once per value, the other lists comma-separated.

    Example:
    >>> training_command({"epochs": 10, "seed": 0, "tasks": ["a", "b"]}, {"epochs": 8, "seed": 0})
    'python scripts/train.py --epochs=10 --tasks=a,b'
    """
    parts = ["python scripts/train.py"]
    for name, value in sorted(flag_values.items()):
        if name in defaults and defaults[name] == value or value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (list, tuple)) and name in repeated:
            parts.extend(shlex.quote(f"--{name}={item}") for item in value)
        elif isinstance(value, (list, tuple)):
            parts.append(f"--{name}={','.join(str(item) for item in value)}")
        else:
            parts.append(f"--{name}={value}")
    return " ".join(parts)


def preset_config(run):
    """The preset's `build_model` arguments: run.json's architecture, plus
    `uncertainty_weighting` when run.json records that the run trained with it (the learned
    log-variances are variables of the model: its weights do not load without them).

    Example:
    >>> preset_config({"architecture": {"backbone": "tiny"}, "uncertainty_weighting": True})
    {'backbone': 'tiny', 'uncertainty_weighting': True}
    """
    config = {key: value for key, value in run["architecture"].items() if key != "uncertainty_weighting"}
    if run.get("uncertainty_weighting"):  # absent from the run.json of older runs
        config["uncertainty_weighting"] = True
    return config


def published_flags(flag_values, dataset):
    """The run's flags as a model card shows them: without the training machine's own
    folders (--model_dir, --data_dir, --config), and with a placeholder for --manual_dir.

    Example:
    >>> published_flags({"epochs": 10, "model_dir": "/runs/a", "manual_dir": "/data/mnist"}, "multi_mnist")
    {'epochs': 10, 'manual_dir': '<folder with the multi_mnist source files>'}
    """
    published = {key: value for key, value in flag_values.items()
                 if key not in ("model_dir", "data_dir", "config")}
    for key in ("dataset", "dataset_config"):  # text in runs from before they took several datasets
        if isinstance(published.get(key), str):
            published[key] = published[key].split(",")
    if published.get("manual_dir"):
        published["manual_dir"] = f"<folder with the {dataset} source files>"
    return published


def _labels(tasks):
    labels = {}
    for task in tasks:
        names = task.get("class_names") or task.get("keypoint_names") or task.get("label_names")
        if names:
            labels[task["name"]] = list(names)
    return labels


def _number(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metrics_table(evaluation, baselines=None):
    """Markdown rows: task | metric | multi-task | single-task baseline (when measured)."""
    header = "| task | metric | multi-task (this model) |" + (" single-task baseline |" if baselines else "")
    rows = [header, "|---|---|---|" + ("---|" if baselines else "")]
    for task, metrics in evaluation.items():
        for metric, value in metrics.items():
            row = f"| {task} | {metric} | {_number(value)} |"
            if baselines:
                row += f" {_number(baselines.get(task, {}).get(metric, '-'))} |"
            rows.append(row)
    return "\n".join(rows)


def _header(name, description, config, model):
    return [f"# {name}", "", description, "",
            f"Backbone `{config['backbone']}`, sharing `{config.get('sharing', 'hard')}`, "
            f"{model.count_params():,} parameters, input {config['input_shape'][0]}x"
            f"{config['input_shape'][1]} RGB (raw 0-255 values).", "",
            "| task | kind |", "|---|---|", *[f"| {t['name']} | {t['kind']} |" for t in config["tasks"]],
            ""]


def _write(folder, preset, card_lines, shown_as):
    check_preset(preset, os.path.join(shown_as, PRESET_FILE))
    with open(os.path.join(folder, PRESET_FILE), "w") as f:
        json.dump(preset, f, indent=2)
        f.write("\n")
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write("\n".join(card_lines))
    return preset


def check_replaceable(folder):
    """Raises a ValueError unless `folder` is new, empty, or an earlier version of a preset
    (`preset.json`, `README.md` and weights files only), the one kind of folder that writing
    a preset there may replace: anything else in it would be deleted.

    Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, "notes.txt"), "w").close()
    >>> try:
    ...     check_replaceable(folder)
    ... except ValueError as error:
    ...     print(str(error)[len(folder):].split("),")[0])
     is not a preset folder (it holds ['notes.txt'], no preset.json
    """
    if not os.path.exists(folder):
        return
    if not os.path.isdir(folder):
        raise ValueError(f"{folder} is a file, not a folder: choose a new folder for the preset, e.g. models/<name>.")
    entries = sorted(os.listdir(folder))
    preset_files = [entry for entry in entries if entry in (PRESET_FILE, "README.md") or
                    (entry.endswith(WEIGHTS_SUFFIX) and os.path.isfile(os.path.join(folder, entry)))]
    if entries and (PRESET_FILE not in entries or preset_files != entries):
        others = [entry for entry in entries if entry not in preset_files]
        raise ValueError(
            f"{folder} is not a preset folder (it holds {others}{'' if PRESET_FILE in entries else ', no ' + PRESET_FILE}"
            f"), and writing a preset there would delete what it holds. Choose a new or empty folder, "
            f"e.g. models/<name>; only an earlier version of a preset is replaced.")


def read_run(model_dir):
    """`(run.json, metrics.json)` of a finished `scripts/train.py` run, or a ValueError that
    names the file and what it lacks."""
    needs = {"run.json": ["architecture", "dataset"], "metrics.json": ["evaluation", "flags"],
             "model.keras": []}
    contents = []
    for file_name, fields in needs.items():
        path = os.path.join(model_dir, file_name)
        if not os.path.isfile(path):
            raise ValueError(f"{path} does not exist: pass the folder of a finished "
                             "scripts/train.py run as --run_dir.")
        if not fields:
            continue
        try:
            with open(path) as f:
                content = json.load(f)
        except ValueError as error:
            raise ValueError(f"{path} is not valid JSON ({error}).") from None
        missing = [field for field in fields if not isinstance(content, dict) or field not in content]
        if missing:
            raise ValueError(f"{path} lacks {missing}: it is not the {file_name} of a finished "
                             "scripts/train.py run (an evaluate --output file is not).")
        contents.append(content)
    return tuple(contents)


def write_architecture_preset(folder, config, description, limitations, intended_training,
                              preprocessing=DEFAULT_PREPROCESSING):
    """Writes an architecture-only preset (no weights, no metrics) and its card.

    Args:
        folder: the preset folder; its base name is the preset name.
        config: `build_model` keyword arguments (tasks as dicts with a "kind").
        description: one paragraph.
        limitations: a list of sentences.
        intended_training: how to train it (a command or a sentence).
        preprocessing: what the model does to raw images (informative).

    Returns:
        The written preset (a dict).

    Raises:
        ValueError: `folder` holds something other than an earlier version of a preset
            (`check_replaceable`); nothing is written then.
    """
    import mtl_zoo as mz

    check_replaceable(folder)
    name = os.path.basename(os.path.normpath(folder))
    model = mz.build_model(**config)
    preset = {"name": name, "description": description, "config": config,
              "preprocessing": preprocessing,
              "labels": _labels(config["tasks"]), "params": model.count_params(), "weights": None,
              "metrics": {}}
    lines = [*_header(name, description, config, model),
             "**Architecture only: no checkpoint.** `mz.from_preset(name, pretrained=False)` builds it "
             "with fresh weights; `pretrained=True` raises a clear error.", "",
             "## Training", "", intended_training, "",
             "## Measured metrics", "", "None: not trained here.", "",
             "## Limitations", "", *[f"- {item}" for item in limitations], "", serving_section(model)]
    with staged_folder(folder) as staging:
        return _write(staging, preset, lines, shown_as=folder)


def write_preset(model_dir, folder, description, limitations, training_data, url=None,
                 machine=None, preprocessing=DEFAULT_PREPROCESSING):
    """Writes a zoo preset (`preset.json`, `<name>.weights.h5`, `README.md`) from a
    finished `scripts/train.py` run.

    Args:
        model_dir: the run's folder (model.keras, run.json, metrics.json).
        folder: the preset folder to write; its base name is the preset name.
        description: one paragraph for preset.json and the card.
        limitations: a list of sentences for the card.
        training_data: a sentence naming the dataset, config and split sizes.
        url: where the weights will be served; None ships them in the folder.
        machine: the machine the run was measured on (for the card).
        preprocessing: what the model does to raw images (informative).

    The folder is written whole or not at all: in a hidden staging folder beside it,
    renamed into place (replacing an older version of the preset) once complete and once
    the model its config builds has loaded its weights file.

    Returns:
        The written preset (a dict).

    Raises:
        ValueError: `folder` holds something other than an earlier version of a preset
            (`check_replaceable`); `model_dir` is not the folder of a finished run (a file
            missing, or one that lacks the fields a run writes), or the preset would not
            load (its config does not build the run's model); nothing is written then.
    """
    import mtl_zoo as mz

    check_replaceable(folder)
    run, outcome = read_run(model_dir)
    # uncompiled: the weights file then holds the model's variables, not the optimizer's too
    model = mz.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    name = os.path.basename(os.path.normpath(folder))
    with staged_folder(folder) as staging:
        return _write_trained_preset(staging, folder, name, model, run, outcome, description,
                                     limitations, training_data, url, machine, preprocessing)


def _write_trained_preset(staging, folder, name, model, run, outcome, description, limitations,
                          training_data, url, machine, preprocessing):
    from mtl_zoo.cli import dataset_flags, train as train_job

    weights_name = name + WEIGHTS_SUFFIX
    weights_path = os.path.join(staging, weights_name)
    model.save_weights(weights_path)
    config = preset_config(run)
    preset = {
        "name": name, "description": description, "config": config,
        "preprocessing": preprocessing,
        "labels": _labels(config["tasks"]), "params": model.count_params(),
        "weights": {"url": url or weights_name, "sha256": file_sha256(weights_path),
                    "size": os.path.getsize(weights_path), "file": weights_name},
        "metrics": outcome["evaluation"],
    }
    command = training_command(published_flags(outcome["flags"], run["dataset"]),
                               train_job.job_flag_defaults(), train_job.repeated_flag_names())
    from mtl_zoo.data.sources import evaluation_split

    where = outcome.get("evaluated_on") or {  # runs before this field was recorded
        "dataset": run["dataset"], "split": evaluation_split(run["dataset"]),
        "examples": outcome["flags"].get("max_val_examples") or "all"}
    seconds = outcome.get("seconds", {}).get("model")
    lines = [*_header(name, description, config, model),
             "```python", "import mtl_zoo as mz", f'model = mz.from_preset("{name}")',
             "outputs = model.predict_decoded(images)  # {task: decoded outputs}", "```", "",
             "## Training data", "", training_data, "",
             "## Training command", "", f"    {command}", "",
             f"Measured on {machine or 'the machine named in BENCHMARKS.md'}" +
             (f"; the multi-task model trained and was evaluated in {seconds:.0f} s" if seconds else "") +
             ". The weights are `model.save_weights(...)` of that run's `model.keras` "
             "(`mtl_zoo.presets.card.write_preset`).", "",
             f"## Measured metrics ({dataset_flags.described_record(where)})", "",
             metrics_table(outcome["evaluation"], outcome.get("baselines")), ""]
    if "baselines" in outcome:
        delta = outcome.get("delta_m")
        lines += ["Single-task baselines: one model per task, same recipe (`--single_task_baselines`). "
                  "delta_m (Maninis et al. 2019) over each task's headline metric: " +
                  (f"{delta:+.2%}." if delta is not None else f"undefined ({outcome['delta_m_undefined']})."),
                  ""]
    else:
        lines += ["Single-task baselines and delta_m: not measured for this preset.", ""]
    lines += ["## Limitations", "", *[f"- {item}" for item in limitations], "", serving_section(model)]
    _write(staging, preset, lines, shown_as=folder)
    build_preset_model(preset, weights_path)  # the preset loads, or nothing is committed
    return preset
