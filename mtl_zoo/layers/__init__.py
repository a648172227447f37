"""Layers of the sharing schemes: soft sharing, cross-stitch, MTAN attention, expert gating."""

from mtl_zoo.layers.cross_stitch import CrossStitch
from mtl_zoo.layers.expert_gate import ExpertGate
from mtl_zoo.layers.soft_sharing import SoftSharingRegularizer
from mtl_zoo.layers.task_attention import TaskAttention

__all__ = ["CrossStitch", "ExpertGate", "SoftSharingRegularizer", "TaskAttention"]
