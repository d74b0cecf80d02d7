"""Benchmark ``vae``: the sequential VAE on the bundled monkey reaching pair and on synthetic reaching data.

Monkey (source session, 168 trials): per seed, a stratified 75/25 split of trials; SeqVAE fitted on the
75 %; on the held-out 25 %: velocity R2 (%) and RMSE from the behaviour head, and reconstruction bits/spike
(rates from the posterior mean given the same trials' spikes); fit time. A linear reference beside it:
Gaussian smoothing (1 bin) -> PCA (8) -> ridge, fitted on the same split.
Synthetic (``synthetic_reach``): latent recovery R2 of an affine map from inferred to true latents, fitted on
training trials and scored on held-out ones.
"""

from __future__ import annotations

import time
from typing import Callable

from sklearn.decomposition import PCA

from neuralign.bench import Row
from neuralign.data.datasets import load
from neuralign.metrics import RidgeDecoder, bits_per_spike, latent_recovery, r2_percent, rmse
from neuralign.models.seqvae import SeqVAE


def linear_reference(train, test) -> float:
    """Smoothing -> PCA(8) -> ridge velocity decoder; held-out R2 (%)."""
    smooth_train, smooth_test = train.smooth(1.0).counts, test.smooth(1.0).counts
    pca = PCA(8).fit(smooth_train.reshape(-1, train.n_units))

    def project(x):
        return pca.transform(x.reshape(-1, x.shape[2])).reshape(x.shape[0], x.shape[1], -1)

    decoder = RidgeDecoder().fit(project(smooth_train), train.behavior)
    return decoder.score(project(smooth_test), test.behavior)


def run(*, quick: bool, seeds: int | None, progress: Callable[[str], None]) -> list[Row]:
    n_seeds = seeds or (2 if quick else 5)
    source = load("erdiff_miller_co", session="source")
    results: dict[str, list[float]] = {k: [] for k in ("r2", "rmse", "bps", "seconds", "linear", "epochs")}
    for seed in range(n_seeds):
        train, test = source.split(0.25, seed=seed)
        started = time.perf_counter()
        model = SeqVAE(seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(train)
        results["seconds"].append(time.perf_counter() - started)
        predicted = model.predict_behavior(test)
        results["r2"].append(r2_percent(test.behavior, predicted))
        results["rmse"].append(rmse(test.behavior, predicted))
        results["bps"].append(bits_per_spike(model.predict_rates(test), test.counts))
        results["epochs"].append(model.history_.epochs_run)
        results["linear"].append(linear_reference(train, test))
        progress(f"vae seed {seed}: R2 {results['r2'][-1]:.1f} %, {results['seconds'][-1]:.1f} s, "
                 f"{results['epochs'][-1]} epochs")
    setting = "monkey source, held-out 25 %"
    rows = [Row.from_values("SeqVAE", setting, "velocity R2 %", results["r2"], results["seconds"]),
            Row.from_values("SeqVAE", setting, "velocity RMSE", results["rmse"], results["seconds"]),
            Row.from_values("SeqVAE", setting, "bits/spike (recon.)", results["bps"], results["seconds"]),
            Row.from_values("SeqVAE", setting, "fit seconds", results["seconds"], results["seconds"]),
            Row.from_values("PCA(8)+ridge", setting, "velocity R2 %", results["linear"], 0.0)]
    recovery, seconds = [], []
    for seed in range(n_seeds):
        data = load("synthetic_reach", seed=seed, n_trials=100 if quick else 200)
        train, test = data.split(0.25, seed=seed)
        started = time.perf_counter()
        model = SeqVAE(latent_dim=4, seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(train)
        seconds.append(time.perf_counter() - started)
        recovery.append(latent_recovery(model.transform(train), train.latents, model.transform(test), test.latents))
        progress(f"synthetic seed {seed}: latent recovery R2 {recovery[-1]:.3f}, {seconds[-1]:.1f} s")
    rows.append(Row.from_values("SeqVAE", "synthetic_reach, held-out 25 %", "latent recovery R2", recovery, seconds))
    return rows
