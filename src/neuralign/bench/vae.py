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

from neuralign.bench import Plan, Row, Task, describe_seeds, seed_values
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


def monkey_run(name: str, seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, float]:
    """One model on one seed's split of the monkey source: velocity R2 / RMSE, bits/spike, fit time, epochs (and
    the linear reference beside SeqVAE)."""
    source = load("erdiff_miller_co", session="source")
    train, test = source.split(0.25, seed=seed)
    started = time.perf_counter()
    model = MODELS[name][0](seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(train)
    result = {"seconds": time.perf_counter() - started}
    predicted = model.predict_behavior(test)
    result.update(r2=r2_percent(test.behavior, predicted), rmse=rmse(test.behavior, predicted),
                  bps=bits_per_spike(model.predict_rates(test), test.counts), epochs=model.history_.epochs_run)
    if name == "SeqVAE":
        result["linear"] = linear_reference(train, test)
    progress(f"{name} seed {seed}: R2 {result['r2']:.1f} %, {result['seconds']:.1f} s, {result['epochs']} epochs")
    return result


def synthetic_run(name: str, seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, float]:
    """One model on one seed's ``synthetic_reach``: held-out latent recovery R2 and fit time."""
    cls, dims = MODELS[name]
    data = load("synthetic_reach", seed=seed, n_trials=100 if quick else 200)
    train, test = data.split(0.25, seed=seed)
    started = time.perf_counter()
    model = cls(**{dims: 4}, seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(train)
    seconds = time.perf_counter() - started
    recovery = latent_recovery(model.transform(train), train.latents, model.transform(test), test.latents)
    progress(f"{name} synthetic seed {seed}: latent recovery R2 {recovery:.3f}, {seconds:.1f} s")
    return {"recovery": recovery, "seconds": seconds}


def plan(*, quick: bool, seeds: int | None, seed_set: str = "reporting") -> Plan:
    seed_list = seed_values(seed_set, seeds or (2 if quick else 5))
    tasks = [Task(f"{kind} {name} {seed}", function, {"name": name, "seed": seed, "quick": quick})
             for kind, function in (("monkey", monkey_run), ("synthetic", synthetic_run))
             for name in MODELS for seed in seed_list]

    def combine(results: dict[str, dict[str, float]]) -> list[Row]:
        setting = f"monkey source, held-out 25 %, {describe_seeds(seed_set, seed_list)}"
        rows = []
        for name in MODELS:
            runs = [results[f"monkey {name} {seed}"] for seed in seed_list]
            seconds = [run["seconds"] for run in runs]
            rows += [Row.from_values(name, setting, metric, [run[key] for run in runs], seconds)
                     for key, metric in (("r2", "velocity R2 %"), ("rmse", "velocity RMSE"),
                                         ("bps", "bits/spike (recon.)"), ("seconds", "fit seconds"))]
        linear = [results[f"monkey SeqVAE {seed}"]["linear"] for seed in seed_list]
        rows.append(Row.from_values("PCA(8)+ridge", setting, "velocity R2 %", linear, 0.0))
        for name in MODELS:
            runs = [results[f"synthetic {name} {seed}"] for seed in seed_list]
            rows.append(Row.from_values(name, f"synthetic_reach, held-out 25 %, {describe_seeds(seed_set, seed_list)}",
                                        "latent recovery R2", [run["recovery"] for run in runs],
                                        [run["seconds"] for run in runs]))
        return rows

    return Plan(tasks, combine, identity={"quick": quick, "seed_set": seed_set, "seeds": seed_list})
