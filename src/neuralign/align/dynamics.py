"""The default aligner: distribution matching proposes maps, the source's dynamics choose among them.

``DynamicsMatching`` keeps a fitted latent dynamics model (``LFADS``) frozen and fits only a target read-in:

1. Candidates (``align.candidates``): every signed permutation of the target's top three principal components
   mapped onto the source's (48), plus the source's own read-in when the target has as many units (no alignment:
   right when they are the same units). Each is trained on the debiased Sinkhorn divergence between the target's
   factor trajectories and the source's (by default the source's condition-mean trajectories when the source has
   condition labels: a denoised reference), each for ``epochs`` epochs, side by side, without screening
   (``align.base``).
2. Choice (``selection="likelihood"``, ``align.selection``): the candidate whose factors explain the target's own
   spikes best on held-out target trials, through a Poisson GLM read-out. The factors are trajectories of the
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

from neuralign._checks import describe
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
    Other keywords are AlignConfig settings; here ``restarts`` defaults to 64 (every candidate kept), ``replicas``
    to 1, and ``reference`` to ``"conditions"`` when the source has condition labels, else ``"trials"``.
    """

    name = "dynamics"

    def __init__(self, source_model: SequenceModel, *, source: TrialData, selection: str = "likelihood",
                 config: AlignConfig | None = None, **settings: Any) -> None:
        if not hasattr(source_model, "dynamics_from_inputs"):
            raise TypeError(f"source_model: DynamicsMatching needs a latent dynamics model with a generator (LFADS), "
                            f"got {describe(source_model)}; fit neuralign.models.LFADS on the source, or use "
                            "SinkhornMatching / ERDiff, which work on any sequence model's latents.")
        if config is None:
            if isinstance(source, TrialData) and source.labels is not None:
                settings.setdefault("reference", "conditions")
            # every candidate trained in full, once: screening by the OT cost after a few epochs dropped the right
            # maps on 2 of 5 tuning seeds of the reversed monkey pair, and with the likelihood choosing, copies on
            # other source resamples buy nothing; the cost is the same as 48 screened to 8 x 4 copies
            settings.setdefault("restarts", 64)
            settings.setdefault("replicas", 1)
        super().__init__(source_model, source=source, selection=selection, config=config, **settings)
