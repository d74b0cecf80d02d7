"""Cross-session and cross-subject aligners with one interface (see ``align.base``)."""

from neuralign.align.base import AlignConfig, Aligner, ReadInAligner
from neuralign.align.baselines import (AdversarialMatching, ConditionAverageAffine, ConditionAverageReadIn,
                                       MMDMatching, MomentMatching, NoAlignment, SinkhornMatching, TargetBehaviorReadIn)
from neuralign.align.dynamics import DynamicsMatching
from neuralign.align.erdiff import ERDiff
from neuralign.align.nomad import NoMAD

ALIGNERS = {cls.name: cls for cls in (NoAlignment, MomentMatching, MMDMatching, SinkhornMatching,
                                      AdversarialMatching, ERDiff, NoMAD, DynamicsMatching, ConditionAverageAffine, ConditionAverageReadIn,
                                      TargetBehaviorReadIn)}

__all__ = ["ALIGNERS", "AdversarialMatching", "AlignConfig", "Aligner", "ConditionAverageAffine",
           "ConditionAverageReadIn", "DynamicsMatching", "ERDiff", "MMDMatching", "MomentMatching", "NoAlignment", "NoMAD", "ReadInAligner",
           "SinkhornMatching", "TargetBehaviorReadIn"]
