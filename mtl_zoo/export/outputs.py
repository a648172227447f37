"""What a model's serving signatures return: names, dtypes, shapes and meanings."""

import dataclasses

import tensorflow as tf

from mtl_zoo.export.serving import (IMAGE_SIZE_OUTPUT, SIGNATURES, check_resize, input_signature,
                                    resize_text, serving_functions)
from mtl_zoo.naming import unknown_name_error


@dataclasses.dataclass(frozen=True)
class ServingOutput:
    """One output of a serving signature.

    Attributes:
        name: the flat output name, e.g. "shapes_boxes".
        dtype: e.g. "float32".
        shape: e.g. "(B, 100, 4)"; B is the batch, H and W the input image's size.
        meaning: what the values are.
    """

    name: str
    dtype: str
    shape: str
    meaning: str


def _shape_text(shape):
    names = {0: "B", 1: "H", 2: "W"}
    return "(" + ", ".join(names.get(i, "?") if d is None else str(d)
                           for i, d in enumerate(shape.as_list())) + ")"


def _meanings(model, signature):
    if signature == "serving_raw":
        return {task.output_name(key): f"raw head output {key!r} of task {task.name!r} "
                f"({type(task).__name__}), at the model's input resolution"
                for task in model.tasks for key in task.output_keys}
    meanings = {IMAGE_SIZE_OUTPUT: "(height, width) of each input image"}
    for task in model.tasks:
        meanings.update({task.output_name(key): f"{task.name} ({task.kind}): {text}"
                         for key, text in task.describe_decoded().items()})
    return meanings


def serving_outputs(model, signature="serving_default"):
    """The outputs of one serving signature of `model`, sorted by name.

    Dtypes and shapes come from tracing the signature's function, so they are
    what the SavedModel returns.

    Args:
        model: a `MultiTaskModel`.
        signature: one of `mtl_zoo.export.SIGNATURES`.

    Returns:
        A list of `ServingOutput`.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> [o.name for o in serving_outputs(model)]
    ['digit_probabilities', 'digit_top_k_classes', 'digit_top_k_scores', 'image_size']
    """
    if signature not in SIGNATURES:
        raise unknown_name_error("serving signature", signature, SIGNATURES)
    function = tf.function(serving_functions(model)[signature], autograph=False)  # as exported
    traced = function.get_concrete_function(*input_signature(signature)).structured_outputs
    meanings = _meanings(model, signature)
    return [ServingOutput(name, value.dtype.name, _shape_text(value.shape), meanings.get(name, ""))
            for name, value in sorted(traced.items())]


def describe_serving_outputs(model, resize="stretch", pad_value=0.0):
    """Markdown documenting every serving signature of `model` (for its model card).

    Args:
        model: a `MultiTaskModel`.
        resize, pad_value: those of the export (`saved_model`); a letterboxing export
            says so in the input line of the signatures that take images.

    Example:
    >>> import mtl_zoo as mz
    >>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
    >>> print(describe_serving_outputs(model).splitlines()[0])
    #### `serving_default(images)`
    >>> describe_serving_outputs(model, resize="letterbox").splitlines()[2].split("; ")[-1]
    'images letterboxed to the model input (aspect ratio kept, bands of 0).'
    """
    resize, pad_value = check_resize(resize, pad_value)
    resized = f"; {resize_text(resize, pad_value)}" if resize == "letterbox" else ""
    sections = []
    for signature, (input_name, what) in SIGNATURES.items():
        rows = [f"| `{o.name}` | {o.dtype} | {o.shape} | {o.meaning} |"
                for o in serving_outputs(model, signature)]
        sections.append("\n".join([f"#### `{signature}({input_name})`", "", f"Input: {what}{resized}.",
                                   "", "| output | dtype | shape | meaning |",
                                   "| --- | --- | --- | --- |", *rows]))
    return "\n\n".join(sections)
