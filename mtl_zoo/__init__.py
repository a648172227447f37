"""mtl_zoo: multi-task vision models for Keras 3, trained with plain `model.fit`.

Example:
>>> import mtl_zoo as mz
>>> model = mz.build_model("tiny", [mz.tasks.Classification("action", 4)], (64, 64, 3))
"""

from mtl_zoo.cpu_kernels import prefer_onednn

prefer_onednn()  # before TensorFlow is imported, which the imports below do

from mtl_zoo import backbones, data, evaluation, export, freezing, layers, sharing, tasks, weighting
from mtl_zoo.backbones import Backbone, list_backbones
from mtl_zoo.backup import SharedBackupAndRestore
from mtl_zoo.builders import build_model
from mtl_zoo.freezing import unfreeze_at
from mtl_zoo.model import MultiTaskModel, load_model
from mtl_zoo.multi_lenet import build_multi_lenet
from mtl_zoo.presets import from_preset, list_presets

__version__ = "0.1.0"

__all__ = ["Backbone", "MultiTaskModel", "SharedBackupAndRestore", "backbones", "build_model",
           "build_multi_lenet", "data", "evaluation", "export", "freezing", "from_preset", "layers",
           "list_backbones", "list_presets", "load_model", "sharing", "tasks", "unfreeze_at", "weighting"]
