"""The demo pipeline end to end (quick mode: few epochs, so only the pipeline is checked, not alignment quality)."""

from __future__ import annotations

import json

import numpy as np

from neuralign.demo import run_demo


def test_quick_demo_writes_a_complete_report(tmp_path):
    messages = []
    metrics = run_demo(tmp_path / "report", quick=True, progress=messages.append)
    report = tmp_path / "report"
    for name in ("summary.md", "metrics.json", "latents.png", "velocity.png", "prior_samples.png",
                 "seqvae_source.pt"):
        assert (report / name).is_file(), name
    assert (report / "latents.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((report / "metrics.json").read_text())
    assert saved == metrics
    # even 40 epochs decode held-out source reaches far better than the unaligned target
    assert metrics["source_heldout_velocity_r2_percent"] > 50
    assert metrics["source_heldout_velocity_r2_percent"] > metrics["target_unaligned_velocity_r2_percent"] + 30
    assert np.isfinite(metrics["target_erdiff_velocity_r2_percent"]) and metrics["align_seconds"] > 0
    assert metrics["erdiff_selection_margin_percent"] >= 0  # the runner-up's cost is never below the winner's
    summary = (report / "summary.md").read_text()
    assert f"{metrics['source_heldout_velocity_r2_percent']:.1f}" in summary
    assert f"{metrics['erdiff_selection_margin_percent']:.1f} % below the runner-up" in summary
    assert not [p for p in report.iterdir() if p.name.startswith(".")]  # no temporary files left
