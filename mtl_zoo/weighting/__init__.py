"""Task balancing: loss-weighting callbacks, learned weights and gradient aggregators.

Callbacks set the model's per-task alphas during `fit`; uncertainty weighting
is a `build_model(uncertainty_weighting=...)` option; aggregators are given to
`model.compile(aggregator=...)`.
"""

from mtl_zoo.weighting.aggregator import Activations, GradientAggregator
from mtl_zoo.weighting.aligned_mtl import AlignedMTL
from mtl_zoo.weighting.cagrad import CAGrad
from mtl_zoo.weighting.callback import TaskWeightCallback
from mtl_zoo.weighting.dwa import DynamicWeightAverage
from mtl_zoo.weighting.graddrop import GradDrop
from mtl_zoo.weighting.gradnorm import GradNorm
from mtl_zoo.weighting.gradvac import GradVac
from mtl_zoo.weighting.history import TaskWeightHistory
from mtl_zoo.weighting.imtl import IMTLG
from mtl_zoo.weighting.loss_scale import GeometricLossStrategy
from mtl_zoo.weighting.mgda import MGDA
from mtl_zoo.weighting.monitor import GradientConflictMonitor
from mtl_zoo.weighting.nash_mtl import NashMTL
from mtl_zoo.weighting.pcgrad import PCGrad
from mtl_zoo.weighting.rlw import RandomLossWeighting
from mtl_zoo.weighting.static import ScheduledWeights, StaticWeights, linear_ramp
from mtl_zoo.weighting.upgrad import UPGrad

AGGREGATORS = {cls.__name__: cls for cls in
               (PCGrad, MGDA, CAGrad, IMTLG, NashMTL, AlignedMTL, UPGrad, GradVac, GradDrop)}

__all__ = ["AGGREGATORS", "Activations", "AlignedMTL", "CAGrad", "DynamicWeightAverage", "GeometricLossStrategy",
           "GradDrop", "GradNorm", "GradVac", "GradientAggregator", "GradientConflictMonitor",
           "IMTLG", "MGDA", "NashMTL", "PCGrad", "RandomLossWeighting", "ScheduledWeights",
           "StaticWeights", "TaskWeightCallback", "TaskWeightHistory", "UPGrad", "linear_ramp"]
