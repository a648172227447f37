"""`write_saved_model`: a SavedModel of a model's serving functions, each traced once."""

import tensorflow as tf


def write_saved_model(model, functions, path, attributes=None):
    """Writes `functions` of `model` as a SavedModel at `path`, every function a signature.

    Each function is traced once, inside `tf.saved_model.save`. Keras's
    `ExportArchive` traces every endpoint twice: first outside the save, to
    list the variables the endpoint uses, then again inside, because
    TensorFlow's function cache keys traces on whether a save is running.
    Tracing the model dominates the export time of small models, so this
    nearly halves it. The layout is that of Keras's exports: lists of
    `tf.Variable`s `variables`, `trainable_variables` and
    `non_trainable_variables` on the root, plus one attribute per function,
    so `keras.layers.TFSMLayer` loads it.

    Args:
        model: a built Keras model. Its variables (`model.variables`) are
            what is saved: a function that captures another resource (a
            lookup table, say) fails with TensorFlow's untracked-resource error.
        functions: `{signature name: (function, input signature)}`; each
            function returns a flat dict of tensors.
        path: the folder to write (it may exist; its files are replaced).
        attributes: `{name: value}` of settings to record, saved as non-trainable
            `tf.Variable`s on the root: `tf.saved_model.load(path).name` reads them.

    Example:
    >>> import mtl_zoo as mz, tensorflow as tf
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> spec = [tf.TensorSpec([None, 32, 32, 1], tf.float32, name="images")]
    >>> write_saved_model(model, {"serving_raw": (lambda images: dict(model(images)), spec)},
    ...                   "/tmp/digit_raw", attributes={"resize": "stretch"})  # doctest: +SKIP
    >>> tf.saved_model.load("/tmp/digit_raw").resize.numpy()  # doctest: +SKIP
    b'stretch'
    """
    # The TFLite converter freezes only the tf.Variables tracked in the SavedModel, not Keras's
    # wrappers of them (the TensorFlow backend's `Variable.value`): it reads the wrappers as NaN.
    def tf_variables(variables):
        return [variable.value for variable in variables]

    # A tf.train.Checkpoint sets its keyword arguments as tracked attributes.
    root = tf.train.Checkpoint(variables=tf_variables(model.variables),
                               trainable_variables=tf_variables(model.trainable_variables),
                               non_trainable_variables=tf_variables(model.non_trainable_variables))
    for name, value in (attributes or {}).items():
        setattr(root, name, tf.Variable(value, trainable=False, name=name))
    signatures = {}
    for name, (function, input_signature) in functions.items():
        signatures[name] = tf.function(function, input_signature=input_signature, autograph=False)
        setattr(root, name, signatures[name])
    tf.saved_model.save(root, path, signatures=signatures)
