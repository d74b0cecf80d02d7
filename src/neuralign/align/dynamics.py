"""The default aligner: distribution matching proposes maps, the source's dynamics choose among them.

``DynamicsMatching`` keeps a fitted latent dynamics model (``LFADS``) frozen and fits only a target read-in:

1. Candidates (``align.candidates``): every signed permutation of the target's top three principal components
   mapped onto the source's (48), plus the source's own read-in when the target has as many units (no alignment:
   right when they are the same units). Each is trained on the debiased Sinkhorn divergence between the target's
   factor trajectories and the source's (by default the source's condition-mean trajectories when the source has
   condition labels: a denoised reference). As in every read-in aligner (``align.base``), the 48 are screened to 8
   by the exact OT cost after a few epochs, and each of the 8 is trained as 4 copies on their own source
   resamples; each candidate is represented by its copy with the lowest OT cost.
2. Choice (``selection="likelihood"``, ``align.selection``): of the 8, the candidate whose factors explain the
   target's own spikes best on held-out target trials, through a Poisson GLM read-out. The factors are trajectories of the
   frozen generator, so a map that would need the dynamics to run differently from the source's (a mirrored
   rotation) explains the spikes worse whatever the read-out; distribution matching alone cannot see that, and
   the exact OT cost chose mirrored maps where this did not (README, ``bench align``).
3. Confidence: ``report_`` (``align.report``) gives the margin between the chosen map and the best different one
   (a paired z over target trials) and warns when it is small. Maps that are symmetries of the dynamics
   themselves (a half-turn of a rotation plane) explain the spikes equally well: then only an asymmetry of the
   conditions, or ``fit(target, labelled=k)``, can tell them apart, and the margin says so.

No target labels or behaviour are used unless ``labelled=`` is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neuralign._checks import describe, one_of
from neuralign.align.base import AlignConfig
from neuralign.align.baselines import SinkhornMatching
from neuralign.data.trialdata import TrialData
from neuralign.models.sequential import SequenceModel


class DynamicsMatching(SinkhornMatching):
    """Sinkhorn-trained candidate maps of a latent dynamics model's factors, chosen by the target's held-out
    likelihood under the frozen dynamics (see the module docstring).

    Parameters
    ----------
    source_model : a fitted latent dynamics model (``LFADS``); frozen throughout.
    source : the source trials the target's factors are matched to.
    selection : ``"likelihood"`` (default) or ``"transport"`` (the exact OT cost, as ``SinkhornMatching``).
    Other keywords are AlignConfig settings; ``reference`` defaults to ``"conditions"`` when the source has
    condition labels, else ``"trials"``.

    On the tuning seeds (0-4) of four settings of ``bench align`` (the pair both ways, the demo's split, a sparse
    proxy), choosing the 8 OT-screened candidates by likelihood was right in 15 of 20 runs; by the OT cost, 11;
    all 48 candidates trained in full and chosen by likelihood, 11 (README).
    """

    name = "dynamics"

    def __init__(self, source_model: SequenceModel, *, source: TrialData, selection: str = "likelihood",
                 config: AlignConfig | None = None, **settings: Any) -> None:
        if not hasattr(source_model, "dynamics_from_inputs"):
            raise TypeError(f"source_model: DynamicsMatching needs a latent dynamics model with a generator (LFADS), "
                            f"got {describe(source_model)}; fit neuralign.models.LFADS on the source, or use "
                            "SinkhornMatching / ERDiff, which work on any sequence model's latents.")
        if config is None and isinstance(source, TrialData) and source.labels is not None:
            settings.setdefault("reference", "conditions")
        super().__init__(source_model, source=source, selection="transport", config=config, **settings)
        self.selection = one_of("selection", selection, ("likelihood", "transport"))

    @property
    def selection_name(self) -> str:
        return self.selection

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        """Screening and the choice of each candidate's copy: the exact OT cost (``transport_scores``)."""
        return self.transport_scores(target_latents)

    def _candidate_scores(self, scores: np.ndarray, kept: list[int]) -> list[float]:
        """The choice: the held-out likelihood loss of each candidate's copy with the lowest OT cost (or, with
        ``selection="transport"``, the median OT cost over its copies)."""
        if self.selection == "transport":
            return super()._candidate_scores(scores, kept)
        self._choice_per_trial = self._likelihood_per_trial
        return [self.candidate_scores_[index]["likelihood"] for index in kept]
