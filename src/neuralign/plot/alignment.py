"""The choice among candidate maps: each candidate's label-free score, the chosen one and its closest rival."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuralign._checks import as_array
from neuralign.plot._style import new_axes

RELATION_COLOURS = {"same": "tab:green", "mirror": "tab:red", "rotation": "tab:orange", "other": "0.6"}


def candidate_scores(scores: Any, relations: Sequence[str], chosen: int, *, runner_up: int | None = None,
                     outcome: Any = None, ax: Any = None, title: str = "", score_name: str = "score") -> Any:
    """Bar per candidate map: its label-free score (lower is better), coloured by its relation to the chosen map
    (same / mirror / rotation / other); the chosen candidate and the runner-up are marked.

    Parameters
    ----------
    scores : (candidates,) selection scores.
    relations : per candidate, "same", "mirror", "rotation" or "other" (``align.report.map_relation``).
    chosen, runner_up : indices of the chosen candidate and of the best different map.
    outcome : optional (candidates,) values to print above the bars (e.g. velocity R2 % measured with labels,
        for a figure that explains a benchmark; never used to choose).
    ax : axes to draw on; a new figure when None.
    """
    scores = as_array("scores", scores, ndim=1, dtype=np.float64)
    if len(relations) != scores.size:
        raise ValueError(f"relations: expected one per candidate ({scores.size}), got {len(relations)}.")
    unknown = sorted(set(relations) - set(RELATION_COLOURS))
    if unknown:
        raise ValueError(f"relations: expected values in {sorted(RELATION_COLOURS)}, got {unknown}.")
    if not 0 <= chosen < scores.size:
        raise ValueError(f"chosen: expected an index in [0, {scores.size}), got {chosen}.")
    ax = new_axes(ax)
    shown = scores - scores.min()
    ax.bar(np.arange(scores.size), shown, color=[RELATION_COLOURS[r] for r in relations])
    ax.bar([chosen], [shown[chosen]], fill=False, edgecolor="k", linewidth=2, label="chosen")
    if runner_up is not None:
        ax.bar([runner_up], [shown[runner_up]], fill=False, edgecolor="k", linestyle="--", linewidth=1.5,
               label="best different map")
    if outcome is not None:
        outcome = as_array("outcome", outcome, ndim=1, dtype=np.float64)
        top = shown.max() if shown.max() > 0 else 1.0
        for index, value in enumerate(outcome):
            ax.text(index, shown[index] + 0.02 * top, f"{value:.0f}", ha="center", va="bottom", fontsize=7)
    for relation, colour in RELATION_COLOURS.items():
        ax.bar([0], [0], color=colour, label=f"{relation} map")
    ax.set_xlabel("candidate")
    ax.set_ylabel(f"{score_name} minus the lowest")
    ax.legend(fontsize=7, loc="upper left")
    if title:
        ax.set_title(title)
    return ax
