"""Local preset folders (preset.json and a weights file) of the tests' own, written from a
model built on the spot: what `mz.from_preset(folder)` reads, as a user's preset is."""

import hashlib
import json

import mtl_zoo as mz


def write_preset(folder, name, config, change_weights=None):
    """Writes the preset `name` of `build_model(**config)` into `folder` (created), with the
    weights of that model after `change_weights(model)` when given; returns the folder as a str."""
    folder.mkdir()
    model = mz.build_model(**config)
    if change_weights is not None:
        change_weights(model)
    model.save_weights(folder / f"{name}.weights.h5")
    data = (folder / f"{name}.weights.h5").read_bytes()
    (folder / "preset.json").write_text(json.dumps({
        "name": name, "description": "", "preprocessing": "", "labels": {}, "metrics": {}, "config": config,
        "weights": {"url": f"{name}.weights.h5", "file": f"{name}.weights.h5", "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()}}))
    return str(folder)
