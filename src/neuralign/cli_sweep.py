"""``neuralign sweep CONFIG.yaml --out DIR``: a search over a model's settings on Ray Tune (``neuralign.sweep``).

Registered on the main app in ``neuralign.cli``; Ray is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from neuralign._cli_common import reported
from neuralign._outputs import check_output

FORCE_HELP = "overwrite an existing output that another command (or another run) wrote"


def sweep(config: Path = typer.Argument(..., help="the sweep's YAML: model, data, search, scheduler, trials, "
                                        "concurrent, resources (see neuralign.sweep)"),
          out: Path = typer.Option(..., "--out", "-o", help="folder of the results table, best model, figures and "
                                   "Tune's experiment; an interrupted sweep resumes from it"),
          address: Optional[str] = typer.Option(None, help="a Ray cluster (HOST:PORT, ray://HOST:PORT or auto); "
                                                "default: a local one with concurrent x cpu CPUs"),
          force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Search a model's settings (grid, random or population-based training) on Ray Tune."""
    with reported(lambda: f"the sweep stopped; rerun the same command to resume it from {out}/experiment."):
        from neuralign._ray import check_address, require_ray
        from neuralign.sweep import load_spec, run_sweep

        require_ray("neuralign sweep")
        spec = load_spec(config)
        check_address(address)
        out = check_output("sweep", out, inputs=[config], force=force)
        run_sweep(spec, out, address=address, progress=typer.echo)
