"""Layers of the sharing schemes (soft sharing, cross-stitch, MTAN attention, expert gating) and
the batch norm that every model of mtl_zoo uses (trained with TensorFlow's fused kernel)."""

from mtl_zoo.layers.batch_norm import BatchNormalization, set_fused_batch_norm, with_fused_batch_norm
from mtl_zoo.layers.cross_stitch import CrossStitch
from mtl_zoo.layers.expert_gate import ExpertGate
from mtl_zoo.layers.soft_sharing import SoftSharingRegularizer
from mtl_zoo.layers.task_attention import TaskAttention

__all__ = ["BatchNormalization", "CrossStitch", "ExpertGate", "SoftSharingRegularizer",
           "TaskAttention", "set_fused_batch_norm", "with_fused_batch_norm"]
