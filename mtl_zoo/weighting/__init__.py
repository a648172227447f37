"""Task balancing: loss-weighting callbacks, learned weights and gradient aggregators."""

from mtl_zoo.weighting.aggregator import GradientAggregator
from mtl_zoo.weighting.aligned_mtl import AlignedMTL
from mtl_zoo.weighting.cagrad import CAGrad
from mtl_zoo.weighting.graddrop import GradDrop
from mtl_zoo.weighting.gradvac import GradVac
from mtl_zoo.weighting.imtl import IMTLG
from mtl_zoo.weighting.mgda import MGDA
from mtl_zoo.weighting.nash_mtl import NashMTL
from mtl_zoo.weighting.pcgrad import PCGrad
from mtl_zoo.weighting.upgrad import UPGrad

AGGREGATORS = {cls.__name__: cls for cls in
               (PCGrad, MGDA, CAGrad, IMTLG, NashMTL, AlignedMTL, UPGrad, GradVac, GradDrop)}

__all__ = ["AGGREGATORS", "AlignedMTL", "CAGrad", "GradDrop", "GradVac", "GradientAggregator",
           "IMTLG", "MGDA", "NashMTL", "PCGrad", "UPGrad"]
