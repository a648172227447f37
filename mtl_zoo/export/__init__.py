"""Export for serving: a SavedModel with decoding in the graph (TF Serving layout) and TFLite.

`saved_model(model, base_path)` writes `base_path/<version>/` with three
signatures (`serving_default` on uint8 images of any size, `serving_bytes`
on encoded images, `serving_raw`); `describe_serving_outputs(model)` documents
their outputs; `tflite(model, path)` converts for mobile.

Example:
>>> import mtl_zoo as mz
>>> model = mz.build_model("tiny", [mz.tasks.Classification("digit", 10)], (32, 32, 1))
>>> path = mz.export.saved_model(model, "/tmp/digit")  # doctest: +SKIP
"""

from mtl_zoo.export.outputs import ServingOutput, describe_serving_outputs, serving_outputs
from mtl_zoo.export.saved_model import next_version, saved_model
from mtl_zoo.export.serving import IMAGE_SIZE_OUTPUT, SIGNATURES
from mtl_zoo.export.tflite import tflite

__all__ = ["IMAGE_SIZE_OUTPUT", "SIGNATURES", "ServingOutput", "describe_serving_outputs",
           "next_version", "saved_model", "serving_outputs", "tflite"]
