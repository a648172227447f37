"""`--model`: a trained model named by a .keras file, a training run's folder or a preset."""

import os


def load_trained_model(reference):
    """The `MultiTaskModel` that `reference` names.

    Args:
        reference: a `.keras` file, a `--model_dir` of `scripts/train.py`
            (its `model.keras`), or a preset (zoo name, folder with preset.json,
            or URL) loaded with its trained weights.

    Raises:
        ValueError: the file or folder does not exist or holds no model (a file other
            than `.keras` included), or an unknown preset name (with the closest names).

    Example:
    >>> load_trained_model("mtl_shapes_tiny_cls_det_pose").task_names  # doctest: +SKIP
    ['action', 'objects', 'pose']
    """
    import mtl_zoo as mz

    if reference.endswith(".keras"):
        if not os.path.isfile(reference):
            raise ValueError(f"Model file {reference} does not exist.")
        return mz.load_model(reference)
    if os.path.isdir(reference) and not os.path.exists(os.path.join(reference, "preset.json")):
        path = os.path.join(reference, "model.keras")
        if not os.path.isfile(path):
            raise ValueError(f"{reference} holds neither model.keras (a training run's folder) nor "
                             f"preset.json (a preset).")
        return mz.load_model(path)
    if os.path.isfile(reference):
        raise ValueError(f"{reference} is a file but not a .keras model: give a model saved with "
                         "model.save('name.keras'), a training run's folder or a preset.")
    if "://" not in reference and os.sep in reference and not os.path.exists(reference):
        raise ValueError(f"{reference} does not exist: give a .keras file, a training run's folder or a preset.")
    return mz.from_preset(reference, pretrained=True)
