"""A label-free confidence for unsupervised alignment: how clearly the chosen map beat its symmetric copies.

Distribution matching cannot always tell a right map from a symmetric copy of it (a mirror image or a rotation of
a near-symmetric ring of conditions). After ``fit``, every unsupervised read-in aligner holds ``report_``, an
:class:`AlignmentReport`: the label-free scores of all kept candidates, which of them converged to the winner's
map, and the margin between the winner and the best candidate that is a *different* map (its relation to the
winner: ``"mirror"``, ``"rotation"`` or ``"other"``, from an orthogonal Procrustes fit of its aligned latents onto
the winner's). When the selection score is a sum over target trials, the margin is a paired z statistic over
trials (mean per-trial difference / its standard error); otherwise it is the relative difference of the scores.
A margin below ``threshold`` means the data barely separate the two maps: the report says so in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

RELATIONS = ("same", "mirror", "rotation", "other")
SAME_MAP_R2 = 0.8  # a candidate whose aligned latents explain the winner's this well (R2, no refit) is its map


def map_relation(reference: np.ndarray, other: np.ndarray) -> str:
    """How the latents ``other`` relate to ``reference`` (both (samples, d), the same target bins).

    ``"same"``: ``other`` explains ``reference`` with R2 >= SAME_MAP_R2 as it is; otherwise the orthogonal map Q
    closest to sending ``other`` onto ``reference`` (centred) decides: ``"mirror"`` (det Q < 0) or ``"rotation"``
    (det Q > 0) when it explains at least half of the variance, else ``"other"``."""
    from scipy.linalg import orthogonal_procrustes

    reference = np.asarray(reference, np.float64)
    other = np.asarray(other, np.float64)
    total = ((reference - reference.mean(0)) ** 2).sum()
    if total <= 0:
        return "other"
    if 1 - ((reference - other) ** 2).sum() / total >= SAME_MAP_R2:
        return "same"
    centred_reference, centred_other = reference - reference.mean(0), other - other.mean(0)
    rotation, _ = orthogonal_procrustes(centred_other, centred_reference)
    scale = max(np.sqrt((centred_reference ** 2).sum() / max((centred_other ** 2).sum(), 1e-12)), 1e-12)
    explained = 1 - ((centred_other @ rotation * scale - centred_reference) ** 2).sum() / total
    if explained < 0.5:
        return "other"
    return "mirror" if np.linalg.det(rotation) < 0 else "rotation"


def paired_margin(winner: np.ndarray, other: np.ndarray) -> float:
    """z statistic of per-trial score differences (other - winner; lower scores are better): the mean difference
    over its standard error. Positive when the winner is better."""
    difference = np.asarray(other, np.float64) - np.asarray(winner, np.float64)
    spread = difference.std(ddof=1) / np.sqrt(difference.size) if difference.size > 1 else 0.0
    if spread <= 0:
        return float("inf") if difference.mean() > 0 else 0.0
    return float(difference.mean() / spread)


@dataclass
class AlignmentReport:
    """What the choice among candidate maps rested on (see the module docstring).

    scores : per kept candidate, every label-free score computed (lower is better), by name.
    selection : the name of the score that chose (or ``"k labelled trials"`` for the few-shot choice).
    chosen : index of the kept candidate.
    relations : per kept candidate, its relation to the chosen map (``RELATIONS``; the chosen one is "same").
    runner_up : the best-scoring candidate whose map differs from the winner's (None if all converged to it).
    margin : the winner's lead over ``runner_up`` (z over trials, or a relative difference; see ``margin_kind``).
    margin_kind : ``"z"`` or ``"relative"``.
    threshold : margins below it are reported as unclear.
    labelled : labelled target trials used to choose (0: none).
    """

    scores: list[dict[str, float]]
    selection: str
    chosen: int
    relations: list[str]
    runner_up: int | None
    margin: float
    margin_kind: str
    threshold: float
    labelled: int = 0
    unsupervised_choice: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def confident(self) -> bool:
        """Whether the winner beat every different map by at least the threshold."""
        return self.runner_up is None or self.margin >= self.threshold

    @property
    def warning(self) -> str | None:
        """A sentence for the user when the choice is unclear, else None."""
        if self.confident:
            return None
        relation = self.relations[self.runner_up]
        kind = {"mirror": "a mirror image of it", "rotation": "a rotation of it"}.get(relation, "a different map")
        unit = "standard errors over target trials" if self.margin_kind == "z" else "relative"
        return (f"low confidence: the chosen map beat {kind} (candidate {self.runner_up}) by only "
                f"{self.margin:.2f} ({unit}; threshold {self.threshold:g}). The target spikes barely tell them "
                "apart, so decoded behaviour may be mirrored or rotated: check with a few labelled trials "
                "(fit(target, labelled=k)) before trusting it.")

    def summary(self) -> str:
        """A few lines for a report or a terminal."""
        lines = [f"candidate chosen by {self.selection}: {self.chosen} of {len(self.scores)}"]
        if self.runner_up is None:
            lines.append("every kept candidate converged to the chosen map")
        else:
            lines.append(f"best different map: candidate {self.runner_up} ({self.relations[self.runner_up]}), margin "
                         f"{self.margin:.2f} ({self.margin_kind}; threshold {self.threshold:g})")
        if self.labelled:
            lines.append(f"chosen with {self.labelled} labelled target trials (label-free choice: candidate "
                         f"{self.unsupervised_choice})")
        lines.append(self.warning or "no warning: the chosen map leads every different map by more than the "
                                     "threshold (evidence, not proof: wrong maps have led by as much)")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {"scores": self.scores, "selection": self.selection, "chosen": self.chosen,
                "relations": self.relations, "runner_up": self.runner_up, "margin": self.margin,
                "margin_kind": self.margin_kind, "threshold": self.threshold, "confident": self.confident,
                "labelled": self.labelled, "unsupervised_choice": self.unsupervised_choice, "warning": self.warning}
