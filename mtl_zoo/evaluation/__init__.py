"""Evaluation of multi-task vision models: COCO box and keypoint AP (pycocotools),
PCK, accuracy and top-k, multi-label mAP, mIoU, depth errors and delta_m.

Example:
>>> from mtl_zoo.evaluation import segmentation_scores
>>> segmentation_scores([[0, 1]], [[0, 1]], num_classes=2)["mIoU"]
1.0
"""

from mtl_zoo.evaluation.classification import (accuracy, average_precision,
                                               multilabel_average_precision, top_k_accuracy)
from mtl_zoo.evaluation.coco import (BOX_STATS, COCO_KEYPOINT_SIGMAS, KEYPOINT_STATS, box_ap,
                                     keypoint_ap, keypoint_sigmas)
from mtl_zoo.evaluation.dense import confusion_matrix, depth_errors, segmentation_scores
from mtl_zoo.evaluation.evaluate import (TASK_KIND_METRICS, KindMetrics, evaluate_model,
                                         headline_metrics, results_table)
from mtl_zoo.evaluation.multitask import (METRIC_DIRECTIONS, UndefinedDeltaM, delta_m,
                                          delta_m_record, flatten_results, format_delta_m,
                                          metric_direction)
from mtl_zoo.evaluation.pose import match_instances, mean_error, pck, reference_sizes

__all__ = ["BOX_STATS", "COCO_KEYPOINT_SIGMAS", "KEYPOINT_STATS", "KindMetrics", "METRIC_DIRECTIONS",
           "TASK_KIND_METRICS", "UndefinedDeltaM", "accuracy", "average_precision", "box_ap", "confusion_matrix",
           "delta_m", "delta_m_record", "depth_errors", "evaluate_model", "flatten_results",
           "format_delta_m", "headline_metrics",
           "keypoint_ap", "keypoint_sigmas", "match_instances", "mean_error",
           "metric_direction", "multilabel_average_precision", "pck", "reference_sizes",
           "results_table", "segmentation_scores", "top_k_accuracy"]
