"""Benchmark ``vae``: the sequential VAE and the LFADS latent dynamics model on the bundled monkey reaching pair and
on synthetic reaching data.

Monkey (source session, 168 trials): per seed, a stratified 75/25 split of trials; each model fitted on the
75 % (126 trials); on the held-out 25 %: velocity R2 (%) and RMSE from the behaviour head, and reconstruction bits/spike
(rates from the posterior mean given the same trials' spikes); fit time. A linear reference beside it:
Gaussian smoothing (1 bin) -> PCA (8) -> ridge, fitted on the same split.
Synthetic (``synthetic_reach``): latent recovery R2 of an affine map from inferred to true latents, fitted on
training trials and scored on held-out ones.
"""

from __future__ import annotations

import time
from typing import Callable

from sklearn.decomposition import PCA

from neuralign.bench import Row, describe_seeds, seed_values
from neuralign.data.datasets import load
from neuralign.metrics import RidgeDecoder, bits_per_spike, latent_recovery, r2_percent, rmse
from neuralign.models.lfads import LFADS
from neuralign.models.seqvae import SeqVAE


def linear_reference(train, test) -> float:
    """Smoothing -> PCA(8) -> ridge velocity decoder; held-out R2 (%)."""
    smooth_train, smooth_test = train.smooth(1.0).counts, test.smooth(1.0).counts
    pca = PCA(8).fit(smooth_train.reshape(-1, train.n_units))

    def project(x):
        return pca.transform(x.reshape(-1, x.shape[2])).reshape(x.shape[0], x.shape[1], -1)

    decoder = RidgeDecoder().fit(project(smooth_train), train.behavior)
    return decoder.score(project(smooth_test), test.behavior)


MODELS = {"SeqVAE": (SeqVAE, "latent_dim"), "LFADS": (LFADS, "factor_dim")}


def run(*, quick: bool, seeds: int | None, progress: Callable[[str], None],
        seed_set: str = "reporting") -> list[Row]:
    seed_list = seed_values(seed_set, seeds or (2 if quick else 5))
    source = load("erdiff_miller_co", session="source")
    setting = f"monkey source, held-out 25 %, {describe_seeds(seed_set, seed_list)}"
    rows, linear = [], []
    for name, (cls, _) in MODELS.items():
        results: dict[str, list[float]] = {k: [] for k in ("r2", "rmse", "bps", "seconds", "epochs")}
        for seed in seed_list:
            train, test = source.split(0.25, seed=seed)
            started = time.perf_counter()
            model = cls(seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(train)
            results["seconds"].append(time.perf_counter() - started)
            predicted = model.predict_behavior(test)
            results["r2"].append(r2_percent(test.behavior, predicted))
            results["rmse"].append(rmse(test.behavior, predicted))
            results["bps"].append(bits_per_spike(model.predict_rates(test), test.counts))
            results["epochs"].append(model.history_.epochs_run)
            if name == "SeqVAE":
                linear.append(linear_reference(train, test))
            progress(f"{name} seed {seed}: R2 {results['r2'][-1]:.1f} %, {results['seconds'][-1]:.1f} s, "
                     f"{results['epochs'][-1]} epochs")
        rows += [Row.from_values(name, setting, "velocity R2 %", results["r2"], results["seconds"]),
                 Row.from_values(name, setting, "velocity RMSE", results["rmse"], results["seconds"]),
                 Row.from_values(name, setting, "bits/spike (recon.)", results["bps"], results["seconds"]),
                 Row.from_values(name, setting, "fit seconds", results["seconds"], results["seconds"])]
    rows.append(Row.from_values("PCA(8)+ridge", setting, "velocity R2 %", linear, 0.0))
    for name, (cls, dims) in MODELS.items():
        recovery, seconds = [], []
        for seed in seed_list:
            data = load("synthetic_reach", seed=seed, n_trials=100 if quick else 200)
            train, test = data.split(0.25, seed=seed)
            started = time.perf_counter()
            model = cls(**{dims: 4}, seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(train)
            seconds.append(time.perf_counter() - started)
            recovery.append(latent_recovery(model.transform(train), train.latents, model.transform(test),
                                            test.latents))
            progress(f"{name} synthetic seed {seed}: latent recovery R2 {recovery[-1]:.3f}, {seconds[-1]:.1f} s")
        rows.append(Row.from_values(name, f"synthetic_reach, held-out 25 %, {describe_seeds(seed_set, seed_list)}",
                                    "latent recovery R2", recovery, seconds))
    return rows
