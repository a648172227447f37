"""`saved_model`: a SavedModel with decoding in the graph, laid out for TF Serving."""

import os

from mtl_zoo.export.archive import write_saved_model
from mtl_zoo.export.serving import (SIGNATURES, check_resize, input_signature, resize_text,
                                    serving_functions)
from mtl_zoo.files import check_local_path, staged_folder


def next_version(base_path):
    """1 + the largest integer folder name under `base_path` (1 when there is none)."""
    if not os.path.isdir(base_path):
        return 1
    versions = [int(name) for name in os.listdir(base_path) if name.isdigit()]
    return max(versions, default=0) + 1


def check_version(version, base_path):
    """Raises a ValueError unless `version` is a positive integer not yet in `base_path`."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's version folders), "
                         f"got {version!r}.")
    path = os.path.join(base_path, str(version))
    if os.path.exists(path):
        raise ValueError(f"{path} already exists; pass another version, or version=None for "
                         f"the next free one ({next_version(base_path)}).")


def saved_model(model, base_path, version=None, verbose=False, resize="stretch", pad_value=0.0):
    """Exports `model` for serving as `base_path/<version>/` (TF Serving's layout).

    Signatures (every output name is flat; `describe_serving_outputs(model)`
    lists them with dtype, shape and meaning):

      * `serving_default(images)`: uint8 (B, H, W, C) images of any size and
        batch. Resizes them to the model input as the input pipeline does
        (`resize`: stretched, or letterboxed between bands of `pad_value`;
        bilinear, antialiased when shrinking), runs the model and decodes
        every task: `{task}_{key}` such as
        `count_probabilities`, `shapes_boxes` / `shapes_classes` /
        `shapes_scores` / `shapes_num_detections` (fixed-size, padded), with
        boxes, keypoints and landmarks in the given images' pixels and dense
        maps (segmentation, depth) at their size; plus `image_size` (B, 2).
        Letterboxed, coordinates are mapped back through the letterbox (band
        offset removed, then scaled; clipped to the image) and dense maps are
        cut to the image's part of the model input before being resized.
      * `serving_bytes(image_bytes)`: a (B,) string tensor of encoded JPEG,
        PNG, GIF or BMP images, possibly of different sizes. Same outputs;
        dense maps are zero-padded at the bottom and right to the largest
        image of the batch (`image_size` says where each image ends).
      * `serving_raw(images)`: as `serving_default`, but returns the raw head
        outputs (`model.output_names`) at the model's resolution.

    The version is written into a hidden staging folder under `base_path`
    and renamed into place when complete, so TF Serving (which loads new
    numeric folders as they appear) never sees a half-written version, and a
    failed export leaves nothing behind (a staging folder left by an export
    that was killed is removed by the next export into `base_path` once it
    is an hour old). An existing version is never replaced: when another
    process exports the same next version meanwhile, this export takes the
    one after it. The version folder gets the mode of the process's umask,
    so a server running as another user can read it. The resize mode and pad
    value are recorded in the SavedModel: `tf.saved_model.load(path).resize`
    and `.pad_value` (`tf.Variable`s).

    Bad input (wrong rank or channel count, an empty batch, undecodable bytes)
    fails with a `tf.errors.InvalidArgumentError` naming the problem; a wrong
    dtype is refused by the signature.

    Args:
        model: a `MultiTaskModel`.
        base_path: the model's folder (TF Serving's `--model_base_path`): a local path
            (copy the version folder to `gs://...` afterwards, e.g. with `gsutil -m cp -r`).
        version: a positive integer; default one more than the largest
            version already in `base_path` (1 for a new folder).
        verbose: print the written path and the signatures with their inputs.
        resize: "stretch" (aspect ratio not kept) or "letterbox" (aspect ratio
            kept): the `resize` the model was trained with (`build_pipeline`).
        pad_value: the image value of letterbox bands (`build_pipeline`'s `pad_value`).

    Returns:
        The path of the written version folder.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Detection("objects", 2)], (64, 64, 3))
    >>> path = mz.export.saved_model(model, "/tmp/objects")  # doctest: +SKIP
    >>> import tensorflow as tf
    >>> tf.saved_model.load(path).signatures["serving_default"](
    ...     images=tf.zeros((1, 480, 640, 3), tf.uint8))["objects_boxes"].shape  # doctest: +SKIP
    TensorShape([1, 100, 4])
    >>> path = mz.export.saved_model(model, "/tmp/objects", resize="letterbox")  # doctest: +SKIP
    >>> tf.saved_model.load(path).resize.numpy()  # doctest: +SKIP
    b'letterbox'
    """
    if not hasattr(model, "tasks"):
        raise ValueError(f"saved_model exports a mtl_zoo MultiTaskModel (it decodes each task), "
                         f"got {type(model).__name__}; use model.export(format='tf_saved_model') "
                         "for a plain Keras model.")
    resize, pad_value = check_resize(resize, pad_value)
    check_local_path(base_path, "The export folder")
    base_path = os.fspath(base_path)
    if os.path.exists(base_path) and not os.path.isdir(base_path):
        raise ValueError(f"The export folder {base_path} is a file: pass a folder (TF Serving's "
                         "model base path), new or holding earlier versions.")
    if version is not None:
        check_version(version, base_path)
    functions = {name: (function, input_signature(name))
                 for name, function in serving_functions(model, resize, pad_value).items()}
    while True:
        path = os.path.join(base_path, str(version or next_version(base_path)))
        try:
            with staged_folder(path, replace=False) as staging:  # never replaces a version
                write_saved_model(model, functions, staging,
                                  attributes={"resize": resize, "pad_value": pad_value})
            break
        except FileExistsError:
            if version is not None:
                raise ValueError(f"{path} was written by another process during this export; "
                                 "pass another version, or version=None for the next free "
                                 "one.") from None
            # another export took that number meanwhile: write the next free one
    if verbose:
        listed = ", ".join(f"{name}({SIGNATURES[name][0]})" for name in functions)
        print(f"Exported {path}: signatures {listed}; {resize_text(resize, pad_value)}; "
              "mtl_zoo.export.describe_serving_outputs(model) lists their outputs.")
    return path


__all__ = ["SIGNATURES", "next_version", "saved_model"]
