"""`tflite`: a TFLite (LiteRT) flatbuffer with raw and, optionally, decoded signatures."""

import os
import tempfile

import tensorflow as tf

from mtl_zoo.export.archive import write_saved_model
from mtl_zoo.export.serving import decoded_outputs, model_outputs
from mtl_zoo.files import check_output_path, write_whole


def tflite_functions(model, decoded):
    """The functions of the TFLite file, by signature name, with their input specs.

    TFLite takes images at the model's input size (resize on the device):
    `serving_raw` float32 0-255 images -> raw head outputs; `serving_default`
    (with `decoded`) uint8 images -> the decoded outputs, in model-input pixels.
    """
    height, width, channels = model.image_shape
    run_model = model_outputs(model)  # one trace of the model for both signatures
    functions = {"serving_raw": (
        run_model,
        [tf.TensorSpec([None, height, width, channels], tf.float32, name="images")])}
    if decoded:
        def serve_decoded(images):
            batch = tf.shape(images)[0]
            sizes = tf.tile([[height, width]], [batch, 1])
            windows = tf.tile([[0.0, 0.0, 1.0, 1.0]], [batch, 1])  # each image fills the input
            return decoded_outputs(model, run_model, tf.cast(images, tf.float32), sizes, windows,
                                   lambda maps: maps)

        functions["serving_default"] = (
            serve_decoded, [tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")])
    return functions


def check_tflite_path(path):
    """Returns `path` as a string, or raises a ValueError before any work is done: it must
    end in `.tflite` and its folder must exist (any `tf.io.gfile` filesystem).

    Example:
    >>> check_tflite_path("/tmp/digit.tflite")
    '/tmp/digit.tflite'
    """
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(f"The TFLite path must end in '.tflite', got {path!r}.")
    check_output_path(path, "the TFLite path")
    return path


def tflite(model, path, decoded=True, builtin_ops_only=True):
    """Converts `model` to a `.tflite` file with TFLite's builtin ops.

    Goes through a temporary SavedModel (Keras's own LiteRT path) so that the
    weights are frozen into the file, which is written beside `path` and
    renamed, so it appears whole or not at all. Signatures, run them with
    `interpreter.get_signature_runner(name)`:

      * `serving_raw(images)`: float32 (B, H, W, C) 0-255 images at the
        model's input size -> the raw head outputs;
      * `serving_default(images)` (with `decoded`): uint8 images at the
        model's input size -> the decoded outputs of `serving_default` of the
        SavedModel (boxes etc. in model-input pixels) and `image_size`.

    Args:
        model: a `MultiTaskModel`.
        path: the output file, ending in ".tflite".
        decoded: also convert the decoding signature.
        builtin_ops_only: refuse TensorFlow ops that TFLite lacks; with False,
            they are kept as Select TF ops (the runtime then needs the Flex delegate).

    Returns:
        `path`.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> mz.export.tflite(model, "/tmp/digit.tflite")  # doctest: +SKIP
    '/tmp/digit.tflite'
    """
    path = check_tflite_path(path)
    functions = tflite_functions(model, decoded)
    with tempfile.TemporaryDirectory() as saved_model_dir:
        write_saved_model(model, functions, saved_model_dir)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                             signature_keys=list(functions))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if not builtin_ops_only:
            converter.target_spec.supported_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        flatbuffer = converter.convert()
    write_whole(path, flatbuffer)
    return path
