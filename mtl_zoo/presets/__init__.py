"""Presets: prebuilt models from the zoo catalog, a local folder or an https:// URL.

>>> import mtl_zoo as mz
>>> mz.list_presets()                                                  # doctest: +SKIP
>>> model = mz.from_preset("mtl_shapes_tiny_cls_det_pose")             # trained weights
>>> model = mz.from_preset("mtl_shapes_resnet50_cls_det_pose", pretrained=False)  # architecture only

Weights come as Keras `.weights.h5` files (arrays only: loading one never runs
code), checked against their sha256 before loading; remote ones are downloaded
once into the Keras cache (see `mtl_zoo.presets.download`).
"""

import contextlib
import hashlib
import os
import urllib.parse
import warnings

from mtl_zoo.builders import build_model
from mtl_zoo.naming import unknown_name_error
from mtl_zoo.presets.catalog import (PRESET_FILE, catalog_dir, catalog_names, check_preset,
                                     list_presets, read_preset)
from mtl_zoo.presets.download import (OFFLINE_ENV, DownloadError, default_cache_dir, fetch,
                                      is_offline, mirrored_url, verify_file)
from mtl_zoo.presets.transfer import config_with_tasks, transfer_weights, trunk_layers


def is_url(reference):
    """True for an http(s) address (a remote preset or weights file)."""
    return str(reference).startswith(("https://", "http://"))


def load_preset(reference, cache_dir=None):
    """The checked preset dict and its location (a folder path or a base URL).

    Args:
        reference: a zoo preset name (`catalog_names()`), a local folder
            holding preset.json, or an http(s) URL of such a folder.
        cache_dir: where a remote preset.json is cached; default `default_cache_dir()`.

    Example:
    >>> load_preset("mtl_shapes_tiny_cls_det_pose")[0]["config"]["backbone"]
    'tiny'
    """
    reference = str(reference)
    if is_url(reference):
        base = reference[:-len(PRESET_FILE)] if reference.endswith(PRESET_FILE) else reference
        base = base.rstrip("/")
        key = hashlib.sha256(base.encode()).hexdigest()[:16]
        path = os.path.join(cache_dir or default_cache_dir(), "presets", key, PRESET_FILE)
        return _read_remote_preset(f"{base}/{PRESET_FILE}", path), base
    if os.path.isdir(reference):
        if not os.path.isfile(os.path.join(reference, PRESET_FILE)):
            raise ValueError(f"The folder {reference} holds no {PRESET_FILE}, so it is not a preset. A "
                             "training run's model loads with mz.load_model(<run>/model.keras), and "
                             "scripts/make_preset.py makes a preset of the run.")
        return read_preset(os.path.join(reference, PRESET_FILE)), reference
    names = catalog_names()
    if reference not in names:
        error = unknown_name_error("preset", reference, names)
        raise ValueError(f"{error} A local folder with preset.json or an https:// URL of one also works.")
    folder = os.path.join(catalog_dir(), reference)
    return read_preset(os.path.join(folder, PRESET_FILE)), folder


def _read_remote_preset(url, path):
    """The checked preset at `url`, cached at `path`. A bad answer (e.g. an HTML page) is not
    kept, and a cached copy that went bad is fetched again, except offline, where the cache
    is all there is and stays as it is."""
    while True:  # at most twice: a bad cached copy, then a fresh download
        path, downloaded = fetch(url, path)
        try:
            return read_preset(path)
        except ValueError as error:
            if not downloaded and is_offline():
                raise ValueError(f"{error} {OFFLINE_ENV} is set, so it is left in the cache; "
                                 f"unset {OFFLINE_ENV} to download it again.") from None
            with contextlib.suppress(FileNotFoundError):  # another process may have removed it
                os.remove(path)
            if downloaded:
                raise
            print(f"mtl_zoo: removed a corrupt cached file ({error}); downloading it again.")


def weights_file(preset, location, cache_dir=None):
    """The local, sha256-verified weights file of `preset` found at `location`; downloads if needed.

    Returns:
        (path, downloaded): `downloaded` is False when no network was used.

    Raises:
        ValueError: the preset has no weights (architecture only), its local weights
            file is missing, or the size it gives them is wrong (`fetch`).
        DownloadError: see `mtl_zoo.presets.download.fetch`.
    """
    weights = preset["weights"]
    if weights is None:
        raise ValueError(f"Preset {preset['name']!r} has no checkpoint yet (architecture only); "
                         "use from_preset(..., pretrained=False).")
    url, file = weights["url"], weights["file"]
    if not is_url(url) and not is_url(location):  # shipped next to preset.json
        path = os.path.join(location, url)
        if not os.path.isfile(path):
            raise ValueError(f"Preset {preset['name']!r}: its weights file {path} is missing. Copy "
                             "it beside preset.json, or use from_preset(..., pretrained=False).")
        verify_file(path, weights["sha256"], weights["size"])
        return path, False
    url = url if is_url(url) else urllib.parse.urljoin(f"{location}/", url)
    path = os.path.join(cache_dir or default_cache_dir(), "weights", weights["sha256"][:16], file)
    return fetch(mirrored_url(url, file), path, weights["sha256"], weights["size"])


def from_preset(preset, pretrained=True, cache_dir=None, tasks=None, input_shape=None,
                uncertainty_weighting=None, freeze_trunk=False):
    """Builds the `MultiTaskModel` of a preset, with its trained weights when `pretrained`.

    Args:
        preset: a zoo preset name (`mz.list_presets()`), a local folder with
            preset.json, or an http(s) URL of such a folder.
        pretrained: load the preset's checkpoint (sha256-verified, cached);
            False builds the architecture with fresh weights.
        cache_dir: the download cache; default `$KERAS_HOME/mtl_zoo`.
        tasks: None for the preset's tasks, or other tasks on the preset's trunk
            (`mtl_zoo.presets.transfer`): a name keeps that task of the preset with its
            trained head, a `Task` or task dict is a new task with a fresh head (one named
            like a preset task replaces it); the preset's other tasks are left out. The
            trunk's trained weights go over.
        input_shape: None for the preset's, or another (height, width, channels) to
            build it for (multiples of 32; with `pretrained`, the same number of channels);
            the trained weights go over as with `tasks`.
        uncertainty_weighting: None for the preset's, or `build_model`'s argument (False,
            True or a per-task dict) to train with or without learned task weights; the
            trained weights go over as with `tasks`, and the learned log-variances of
            the tasks that have them in both.
        freeze_trunk: with `pretrained`, set `trainable` to False on the layers that were
            the preset's trunk (`Transfer.trunk`: no head of one task), so that training
            moves only the heads (a frozen batch norm normalises with its moving
            statistics). To fine-tune everything later in the same `fit`, compile, then
            pass `mz.unfreeze_at(model, epoch)` to `fit` (`mtl_zoo.freezing`).

    Returns:
        A `MultiTaskModel` taking raw 0-255 images of the preset's input shape (or
        `input_shape`).

    Raises:
        ValueError: an unknown name (with the closest names), a bad preset.json,
            `pretrained` on an architecture-only preset, a missing local weights
            file or a wrong size given for the weights, weights that do not fit
            the architecture, or `freeze_trunk` without `pretrained` or on a
            single-task preset (whose trunk cannot be told from its head).
        DownloadError: the weights or preset.json could not be fetched or verified.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.from_preset("mtl_shapes_tiny_cls_det_pose")
    >>> model.task_names
    ['action', 'objects', 'pose']
    >>> scenes = mz.tasks.Classification("scene", 3)
    >>> mz.from_preset("mtl_shapes_tiny_cls_det_pose", tasks=["objects", scenes]).task_names
    ['objects', 'scene']
    >>> mz.from_preset("mtl_shapes_tiny_cls_det_pose", input_shape=(256, 192, 3)).input_shape
    (None, 256, 192, 3)
    >>> heads_only = mz.from_preset("mtl_shapes_tiny_cls_det_pose", freeze_trunk=True)
    >>> heads_only.get_layer("tiny_backbone").trainable, heads_only.get_layer("action_logits").trainable
    (False, True)
    """
    if not isinstance(pretrained, bool):
        raise ValueError(f"pretrained must be True or False, got {pretrained!r}.")
    if freeze_trunk and not pretrained:
        raise ValueError("freeze_trunk keeps the preset's trained trunk as it is: it needs "
                         "pretrained=True (a fresh trunk would stay random).")
    spec, location = load_preset(preset, cache_dir)
    weights = weights_file(spec, location, cache_dir)[0] if pretrained else None
    config, new_tasks = config_with_tasks(spec, tasks) if tasks is not None else (dict(spec["config"]), [])
    if input_shape is not None:
        if pretrained and len(tuple(input_shape)) == 3 and tuple(input_shape)[-1] != config["input_shape"][-1]:
            raise ValueError(f"Preset {spec['name']!r} takes {config['input_shape'][-1]}-channel images; input_shape "
                             f"{tuple(input_shape)} may change the height and width only (its trained first "
                             "layer reads that many channels). Convert the images instead, e.g. "
                             "tf.image.grayscale_to_rgb, or build it with pretrained=False.")
        config["input_shape"] = input_shape
    if uncertainty_weighting is not None and (uncertainty_weighting or config.get("uncertainty_weighting")):
        config["uncertainty_weighting"] = uncertainty_weighting
    if config == spec["config"]:
        model = build_preset_model(spec, weights)
        trunk = trunk_layers(model)
    else:
        model = build_model(**{"name": spec["name"], **config})
        trunk = transfer_weights(build_preset_model(spec, weights), model, new_tasks).trunk if weights else []
    if freeze_trunk:
        if not trunk:
            raise ValueError(f"Preset {spec['name']!r} has one task: its trunk cannot be told from "
                             "its head, so freeze_trunk has nothing to freeze. Freeze layers by name "
                             "(model.get_layer(name).trainable = False) instead.")
        for name in trunk:
            model.get_layer(name).trainable = False
    return model


def build_preset_model(spec, weights_path=None):
    """The model that the checked preset `spec` describes, with the weights file at
    `weights_path` loaded when given (a ValueError when they do not fit its architecture)."""
    model = build_model(**{"name": spec["name"], **spec["config"]})
    if weights_path is not None:
        _load_weights(model, weights_path, spec["name"])
    return model


def _load_weights(model, path, name):
    try:
        with warnings.catch_warnings():  # Keras only warns when it leaves layers unloaded
            warnings.simplefilter("error", UserWarning)
            model.load_weights(path)  # a .weights.h5 file holds arrays only: no code runs
    except (ValueError, KeyError, UserWarning) as error:
        raise ValueError(
            f"The weights of preset {name!r} ({path}) do not fit its architecture (the model its "
            f"config builds: {model.count_params()} parameters, tasks {model.task_names}); they "
            f"were saved from a different model. Keras said: {error}") from None


__all__ = ["DownloadError", "build_preset_model", "catalog_names", "check_preset", "from_preset",
           "list_presets", "load_preset", "weights_file"]
