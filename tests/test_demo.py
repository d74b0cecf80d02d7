"""The demo pipeline end to end (quick mode: few epochs, so only the pipeline is checked, not alignment quality)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralign.cli import app
from neuralign.demo import run_demo


def test_quick_demo_writes_a_complete_report(tmp_path):
    import warnings

    messages = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = run_demo(tmp_path / "report", quick=True, seed=3, progress=messages.append)
    # the bundled counts' known quirk is said once, not once per fit
    assert not [w for w in caught if "not integers" in str(w.message)]
    assert sum("time-normalised" in message for message in messages) == 1
    report = tmp_path / "report"
    for name in ("summary.md", "metrics.json", "latents.png", "velocity.png", "candidates.png", "lfads_source.pt"):
        assert (report / name).is_file(), name
    assert (report / "candidates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((report / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert metrics["seed"] == 3
    # even 40 epochs decode held-out source reaches far better than the unaligned target
    assert metrics["source_heldout_velocity_r2_percent"] > 50
    assert metrics["source_heldout_velocity_r2_percent"] > metrics["target_unaligned_velocity_r2_percent"] + 30
    for name in ("aligned", "few_shot"):
        assert np.isfinite(metrics[f"target_{name}_velocity_r2_percent"])
    assert metrics["align_seconds"] > 0 and metrics["selection"] == "likelihood"
    summary = (report / "summary.md").read_text()
    assert f"{metrics['target_aligned_velocity_r2_percent']:.1f}" in summary
    assert "candidate chosen by likelihood" in summary and "margin" in summary
    assert any("candidate chosen by likelihood" in message for message in messages)
    assert not [p for p in report.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize("args, match", [(["--seed", "-1"], "seed"), (["--out", "FILE"], "out: expected a folder")])
def test_demo_command_bad_input(tmp_path, args, match):
    file = tmp_path / "file.txt"
    file.write_text("not a folder")
    args = [str(file) if a == "FILE" else a for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "report")]
    result = CliRunner().invoke(app, ["demo", *args])
    assert result.exit_code == 2 and match in result.output
    assert file.read_text() == "not a folder"
