"""Writes the zoo's architecture-only presets (models/<name>/preset.json and card).

    python scripts/write_architecture_presets.py

Trained presets come from training runs instead (`scripts/make_preset.py`). The
test suite checks that every catalog preset builds with the parameter count and
serving outputs its card states.
"""

import os

from mtl_zoo.data.sources import source_tasks
from mtl_zoo.presets.card import write_architecture_preset

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
BUILT_IN = "raw 0-255 RGB in; the Keras application rescales inside (include_preprocessing=True)."
CAFFE = ("raw 0-255 RGB in; the model converts to BGR and subtracts the ImageNet means "
         "('caffe' mode) inside.")
UNTRAINED = "Untrained: the head layout is the project's default for these task kinds."


def task_specs(dataset, names=None):
    tasks = [task for task in source_tasks(dataset) if names is None or task.name in names]
    return [{"kind": task.kind, **task.get_config()} for task in tasks]


PRESETS = {
    "mtl_shapes_resnet50_cls_det_pose": dict(
        config={"backbone": "resnet50", "input_shape": [224, 224, 3], "sharing": "hard",
                "tasks": task_specs("mtl_shapes", ("action", "objects", "pose"))},
        description="ResNet-50 (He et al. 2016) trunk, hard sharing, mtl_shapes action classification "
                    "+ object detection + 14-keypoint pose at 224 px.",
        intended_training="    python scripts/train.py --backbone=resnet50 --image_size=224",
        preprocessing=CAFFE, limitations=[UNTRAINED, "Needs a GPU to train in reasonable time."]),
    "mtl_shapes_efficientnetv2b0_cls_pose": dict(
        config={"backbone": "efficientnet_v2_b0", "input_shape": [128, 128, 3], "sharing": "hard",
                "tasks": task_specs("mtl_shapes", ("action", "pose"))},
        description="EfficientNetV2-B0 (Tan & Le 2021) trunk, hard sharing, mtl_shapes action "
                    "classification + 14-keypoint pose.",
        intended_training="    python scripts/train.py --backbone=efficientnet_v2_b0 --tasks=action,pose",
        preprocessing=BUILT_IN, limitations=[UNTRAINED]),
    "celeb_a_mobilenetv3s_attributes_landmarks": dict(
        config={"backbone": "mobilenet_v3_small", "input_shape": [224, 192, 3], "sharing": "hard",
                "tasks": task_specs("celeb_a")},
        description="MobileNetV3-Small trunk, hard sharing, faces: the 40 CelebA attributes "
                    "(multi-label) + 5 landmarks, on 218x178 CelebA images resized to 224x192.",
        intended_training="Needs the TFDS `celeb_a` dataset (a manual download): train with "
                          "`mz.build_model(**preset['config'])` and `mtl_zoo.data.sources.load_examples("
                          "'celeb_a', 'train')`; scripts/train.py takes square sizes only.",
        preprocessing=BUILT_IN, limitations=[UNTRAINED]),
    "nyuv2_efficientnetv2b0_seg_depth": dict(
        config={"backbone": "efficientnet_v2_b0", "input_shape": [288, 384, 3], "sharing": "hard",
                "tasks": [{"kind": "segmentation", "name": "segmentation", "num_classes": 13},
                          {"kind": "depth", "name": "depth"}]},
        description="EfficientNetV2-B0 trunk, hard sharing, NYUv2-style 13-class semantic "
                    "segmentation + depth at 288x384.",
        intended_training="The project has no NYUv2 dataset source yet: build it with "
                          "`mz.from_preset(name, pretrained=False)` and train on your own "
                          "(image, {segmentation, depth}) examples through `mtl_zoo.data.build_pipeline`.",
        preprocessing=BUILT_IN, limitations=[UNTRAINED, "No NYUv2 source in the project yet."]),
}


def main():
    for name, spec in PRESETS.items():
        preset = write_architecture_preset(os.path.join(MODELS, name), **spec)
        print(f"{name}: {preset['params']:,} parameters")


if __name__ == "__main__":
    main()
