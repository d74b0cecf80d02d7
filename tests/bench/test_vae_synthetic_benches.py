"""``bench vae`` and ``bench align-synthetic`` end to end: their rows, names and plausible figures. The vae run
swaps in tiny models (a few epochs) so that it takes seconds; the alignment one runs the real ``--quick`` case and
is marked slow (``neuralign bench align-synthetic --quick`` runs the same)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.bench import align_synthetic, benchmark_rows, vae
from neuralign.models import LFADS, SeqVAE

TINY = {"max_epochs": 3, "read_in_dim": 8, "kl_warmup_epochs": 1}


class TinySeqVAE(SeqVAE):
    def __init__(self, **settings):
        super().__init__(**{**settings, **TINY, "hidden_size": 8})


class TinyLFADS(LFADS):
    def __init__(self, **settings):
        super().__init__(**{**settings, **TINY, "encoder_dim": 8, "ic_dim": 4, "generator_dim": 8})


def test_vae_benchmark_rows_and_plausible_figures(monkeypatch):
    monkeypatch.setattr(vae, "MODELS", {"SeqVAE": (TinySeqVAE, "latent_dim"), "LFADS": (TinyLFADS, "factor_dim")})
    messages = []
    rows = benchmark_rows("vae", quick=True, seeds=1, progress=messages.append, seed_set="tuning")
    table = {(row.method, row.metric): row for row in rows}
    for name in ("SeqVAE", "LFADS"):
        for metric in ("velocity R2 %", "velocity RMSE", "bits/spike (recon.)", "fit seconds"):
            row = table[(name, metric)]
            assert row.n == 1 and "tuning seed 0" in row.setting and np.isfinite(row.mean), (name, metric)
        assert table[(name, "velocity R2 %")].mean <= 100 and table[(name, "velocity RMSE")].mean > 0
        assert -1 <= table[(name, "latent recovery R2")].mean <= 1
    linear = table[("PCA(8)+ridge", "velocity R2 %")].mean  # deterministic: README of the data, about 55 %
    assert 35 < linear < 75
    fits = [message for message in messages if not message.startswith("task ")]
    assert len(fits) == 4 and fits[0].startswith("SeqVAE seed 0: R2")
    assert sum(message.startswith("task ") for message in messages) == 4  # one line per finished task


@pytest.mark.slow
def test_align_synthetic_quick_rows_and_ranges():
    rows = benchmark_rows("align-synthetic", quick=True, seeds=1, progress=lambda message: None,
                          seed_set="tuning")
    table = {(row.method, row.metric): row for row in rows}
    ceiling = table[("source model on held-out source trials (no alignment needed)", "aligned latent recovery R2")]
    assert 0.5 < ceiling.mean <= 1
    for method in ("no alignment", "Sinkhorn OT", "ERDiff", "NoMAD (likelihood + state KL)", "dynamics (default)",
                   "dynamics (default) + moment calibration", "cond.-avg read-in (labels)"):
        assert table[(method, "aligned latent recovery R2")].mean <= ceiling.mean + 0.05, method
        assert table[(method, "velocity R2 %")].n == 1
    assert table[("cond.-avg read-in (labels)", "aligned latent recovery R2")].mean > 0.5  # labels align it
