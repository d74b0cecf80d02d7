"""Benchmark ``mmgpvae``: Fourier-domain GP-VAE / MM-GPVAE against the time-domain GP-VAE and GPFA.

1. Synthetic (``synthetic_mmgpvae``, the paper's simulation: 300 trials x 60 bins, RBF length scale 10, 100
   Poisson neurons; behaviour = a rotating / zooming digit image, 16 x 16, and the low-dimensional option).
   Per seed a random 80 / 20 split of trials; the model is fitted on the 80 %. On the held-out 20 %: latent
   recovery R2 per block (an affine map from that block's inferred latents to the true block, fitted on the
   training trials: ``metrics.latent_recovery``; also with a k-NN map, which forgives a smooth warp),
   reconstruction (bits/spike of the expected counts, behaviour R2 %), behaviour predicted from spikes alone
   (R2 %), and fit time. The same for the time-domain prior. Images are fitted with ``IMAGE_SETTINGS`` (a
   Bernoulli pixel likelihood, best of 4 restarts run in parallel processes) and, with the Fourier prior, on
   ``IMAGE_SEEDS`` (8) seeds.
2. Prior step time: forward + backward of one batch's KL (16 trials x 4 latents) for the Fourier and the
   time-domain prior at T = 100, 400, 1600 (median of repeats, after a warm-up).
3. GPFA (``elephant.gpfa.GPFA``, optional ``extras`` dependency, default EM settings) against GPVAE on the same
   neural-only data (the synthetic spikes, true latents [z_S, z_N]): fit time and held-out latent recovery, for
   GPVAE's defaults and for batches of 32 over 50 or 40 epochs (``GPVAE_PRESETS``); both methods get 2 threads here
   (``COMPARISON_THREADS``), everything else in this benchmark runs torch on one.
4. M1 (``spykesml_m1``, 40-bin windows of 50 ms, random 75 / 25 split of windows): hand velocity predicted from
   spikes alone by MM-GPVAE (neural + velocity modalities), beside a ridge decoder on Gaussian-smoothed spikes
   (smoothing width chosen on a validation part of the training windows).

Seeds: 2 by default (1 with ``--quick``, which also uses 100 trials for the GPFA comparison). Outside ``--quick``
the Fourier image case runs on at least ``IMAGE_SEEDS`` (8) and the GPFA comparison on at least
``COMPARISON_SEEDS`` (5), which also reports the paired recovery difference per seed. Fit times are reported as
wall and CPU seconds (one torch thread per process outside the GPFA comparison; CPU time, summed over the
restart worker processes for images, is robust to other load on the machine).
Figures (``reports/mmgpvae/``): inferred (affine-mapped) vs true latents for three held-out trials per block.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from neuralign.bench import Plan, Row, Task, device_sync, torch_threads
from neuralign.bench._gpfa import spiketrains
from neuralign.data.datasets import load
from neuralign.data.trialdata import TrialData
from neuralign.metrics import RidgeDecoder, bits_per_spike, latent_recovery, r2_percent
from neuralign.models.gpvae import GPVAE, MMGPVAE
from neuralign.nn.fourier import FourierGPPrior, TimeDomainGPPrior
from neuralign.train import resolve_device

REPORT_DIR = Path("reports/mmgpvae")
BLOCKS = ("shared", "neural", "behavior")


def recovery_by_block(model: MMGPVAE, train: TrialData, test: TrialData, *, mapping: str = "affine",
                      inferred: tuple[dict, dict] | None = None) -> dict[str, float]:
    """Held-out latent recovery R2 of each block, from that block's inferred latents only (``mapping``: "affine",
    the issue's score, or "knn", recovery up to a smooth invertible map; see ``metrics.recovery``).
    ``inferred``: ``(model.transform(train), model.transform(test))`` when already computed."""
    inferred_train, inferred_test = inferred or (model.transform(train), model.transform(test))
    blocks = train.meta["blocks"]
    return {block: latent_recovery(inferred_train[block], train.latents[..., blocks[block]],
                                   inferred_test[block], test.latents[..., blocks[block]], mapping=mapping)
            for block in BLOCKS if blocks[block]}


# The digit images (pixel intensities in [0, 1]) get a Bernoulli likelihood and the best of 4 restarts (lowest
# validation loss), two at a time in worker processes. A single fit loses or folds the behaviour-private block on
# about a third of initialisations: its latent codes the zoom with a sign that flips with the rotation's, i.e. with
# z_S (seed 7, 128-unit decoder: R2 -0.00, but 0.88 by k-NN on [z_S, z_B]). Such fits end with a higher validation
# loss, so restarts pick them out. Held-out behaviour-private R2 of restarts 0-3 on seeds 0-7 (64-unit decoder):
# 0.944 0.951 0.929 0.947 | 0.103 0.953 0.947 0.931 | 0.943 0.949 0.942 0.950 | 0.966 0.953 0.957 0.823 |
# 0.926 0.846 0.819 0.949 | 0.917 0.801 0.789 0.738 | 0.894 0.933 0.945 0.930 | 0.936 0.797 0.927 0.911; the
# lowest validation loss picked 0.944, 0.931, 0.942, 0.966, 0.949, 0.917, 0.930, 0.911 (none lost). A single fit
# with a 128-unit decoder lost the block on seeds 6 and 7 as well (0.59, -0.00) and takes 1.4x as long. A per-pixel
# Gaussian likelihood (the defaults) makes the latent linear in the digit's area, exp(0.5 z_B), which caps the
# affine score at 0.88 even when the block is kept. The Fourier image case runs on IMAGE_SEEDS seeds (seeds 0 and 1
# alone hid the lost blocks).
IMAGE_SETTINGS: dict[str, Any] = {"behavior_likelihood": "bernoulli", "n_restarts": 4, "n_jobs": -1}
IMAGE_SEEDS = 8


def _synthetic(prior: str, behavior: str, seed: int, figures: bool) -> dict[str, float]:
    data = load("synthetic_mmgpvae", behavior=behavior, seed=seed)
    train, test = data.split(0.2, seed=seed)
    settings = IMAGE_SETTINGS if behavior == "images" else {}
    started, cpu = time.perf_counter(), time.process_time()
    model = MMGPVAE(shared_dim=1, private_dim=1, prior=prior, seed=seed, verbose=False, **settings).fit(train)
    cpu = time.process_time() - cpu
    if model.uses_worker_processes():  # the restarts' CPU time is in the workers
        cpu += sum(history.cpu_seconds for history in model.restart_histories_)
    out = {"fit seconds": time.perf_counter() - started, "fit CPU seconds": cpu,
           "epochs": float(model.history_.epochs_run)}
    inferred = model.transform(train), model.transform(test)  # once, for both maps and the figure
    out.update({f"recovery R2 {block}": value
                for block, value in recovery_by_block(model, train, test, inferred=inferred).items()})
    out.update({f"recovery R2 {block} (k-NN map)": value
                for block, value in recovery_by_block(model, train, test, mapping="knn", inferred=inferred).items()})
    out["bits/spike (recon.)"] = bits_per_spike(model.predict(test, "neural"), test.counts)
    for name, using in (("recon.", None), ("from spikes", "neural")):
        predicted = model.predict(test, "behavior", using=using)
        out[f"behaviour R2 % ({name})"] = 100 * r2_score(test.behavior.reshape(-1, test.behavior.shape[2]),
                                                          predicted.reshape(-1, predicted.shape[2]),
                                                          multioutput="variance_weighted")
    if figures:
        plot_blocks(model, train, test, REPORT_DIR / f"latents_{behavior}_{prior}.png",
                    f"MM-GPVAE ({prior} prior), {behavior} behaviour, held-out trials", inferred=inferred)
    return out


def plot_blocks(model: MMGPVAE, train: TrialData, test: TrialData, path: Path, title: str, *,
                inferred: tuple[dict, dict] | None = None) -> None:
    """One panel per block: true latents and the affine-mapped inferred ones, three held-out trials
    (``inferred`` as in :func:`recovery_by_block`)."""
    from neuralign.plot import latent_fit
    from neuralign.plot._style import pyplot

    plt = pyplot()
    inferred_train, inferred_test = inferred or (model.transform(train), model.transform(test))
    blocks = train.meta["blocks"]
    shown = [block for block in BLOCKS if blocks[block]]
    figure, axes = plt.subplots(len(shown), 1, figsize=(9, 2.4 * len(shown)), squeeze=False)
    for ax, block in zip(axes[:, 0], shown, strict=True):
        x_train = inferred_train[block].reshape(-1, inferred_train[block].shape[2])
        y_train = train.latents[..., blocks[block]].reshape(-1, len(blocks[block]))
        regression = LinearRegression().fit(x_train, y_train)
        estimate = regression.predict(inferred_test[block].reshape(-1, x_train.shape[1]))
        true = test.latents[..., blocks[block]]
        latent_fit(true, estimate.reshape(true.shape), ax=ax, title=f"{block} block")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def prior_step_ms(prior: torch.nn.Module, n_time: int, *, n_trials: int = 16, repeats: int = 5,
                  device: str = "cpu") -> float:
    """Median wall time (ms) of the prior's frame + KL forward and backward for one batch, on ``device``."""
    where = resolve_device(device)
    sync = device_sync(where)
    prior = prior.to(where)
    generator = torch.Generator().manual_seed(0)
    n_coefficients = prior.frame(n_time).n_coefficients
    mean = torch.randn(n_trials, prior.latent_dim, n_coefficients, generator=generator).to(where).requires_grad_()
    log_variance = (torch.randn(n_trials, prior.latent_dim, n_coefficients, generator=generator) - 2.0).to(where)
    log_variance.requires_grad_()
    times = []
    for _ in range(repeats + 1):
        sync()
        started = time.perf_counter()
        frame = prior.frame(n_time)
        kl = prior.kl(mean, torch.exp(log_variance), frame).sum()
        kl.backward()
        sync()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times[1:])


# GPVAE settings compared with GPFA: the defaults (batches of 64, 100 epochs), and batches of 32 for 50 or 40
# epochs (twice the steps per epoch, so half the epochs or fewer). Held-out recovery on seeds 0-5, 1 thread:
# defaults 0.961-0.983 (mean 0.974), 50 epochs 0.953-0.983 (0.968), 40 epochs 0.952-0.982 (0.965), GPFA
# 0.898-0.983 (0.942). Shorter schedules are not reliable: 35 epochs at learning rate 1.5e-2 fell to 0.59 on seed 4,
# and the earlier 40 epochs at 2e-2 to 0.88 on seed 2.
GPVAE_PRESETS: dict[str, dict[str, Any]] = {
    "GPVAE": {},
    "GPVAE batch 32, 50 epochs": {"batch_size": 32, "max_epochs": 50, "kl_warmup_epochs": 15, "patience": 15},
    "GPVAE batch 32, 40 epochs": {"batch_size": 32, "max_epochs": 40, "kl_warmup_epochs": 12, "patience": 15},
}
# Both sides of the GPFA comparison get the same threads: elephant's GPFA through NumPy's BLAS (threadpoolctl),
# GPVAE through torch. Two: the cores of the machine the targets are set for.
COMPARISON_THREADS = 2
# Seeds of the GPFA comparison (at least; more if --seeds asks for more): GPFA's held-out recovery ranges from
# 0.90 to 0.98 across seeds 0-5, so two seeds cannot tell which method recovers the latents better.
COMPARISON_SEEDS = 5


def gpfa_versus_gpvae(seed: int, n_trials: int) -> dict[str, float] | None:
    """Fit time and held-out recovery of [z_S, z_N] from spikes alone: elephant GPFA and GPVAE (Fourier)."""
    try:
        import quantities as pq
        from elephant.gpfa import GPFA
    except ImportError:
        return None
    data = load("synthetic_mmgpvae", n_trials=n_trials, behavior="low_dim", seed=seed)
    train, test = data.split(0.2, seed=seed)
    index = data.meta["blocks"]["shared"] + data.meta["blocks"]["neural"]
    rng = np.random.default_rng(seed)
    train_trains, test_trains = spiketrains(train.counts, train.bin_size, rng), \
        spiketrains(test.counts, test.bin_size, rng)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=COMPARISON_THREADS):
        started, cpu = time.perf_counter(), time.process_time()
        gpfa = GPFA(bin_size=train.bin_size * 1000 * pq.ms, x_dim=len(index)).fit(train_trains)
        gpfa_seconds, gpfa_cpu = time.perf_counter() - started, time.process_time() - cpu

    def gpfa_latents(trains: list) -> np.ndarray:
        return np.stack([np.asarray(x).T for x in gpfa.transform(trains)])

    out = {"GPFA fit seconds": gpfa_seconds, "GPFA fit CPU seconds": gpfa_cpu,
           "GPFA recovery R2": latent_recovery(gpfa_latents(train_trains), train.latents[..., index],
                                               gpfa_latents(test_trains), test.latents[..., index])}
    for name, settings in GPVAE_PRESETS.items():
        with torch_threads(COMPARISON_THREADS):
            started, cpu = time.perf_counter(), time.process_time()
            model = GPVAE(latent_dim=len(index), seed=seed, verbose=False, **settings).fit(train)
            out[f"{name} fit seconds"], out[f"{name} fit CPU seconds"] = (time.perf_counter() - started,
                                                                          time.process_time() - cpu)
        out[f"{name} recovery R2"] = latent_recovery(model.transform(train), train.latents[..., index],
                                                     model.transform(test), test.latents[..., index])
    return out


def ridge_smoothed(train: TrialData, test: TrialData, seed: int) -> tuple[float, float]:
    """Ridge decoder on Gaussian-smoothed spikes, the width chosen on 20 % of the training windows."""
    fit_part, val_part = train.split(0.2, seed=seed)
    scores = {sigma: RidgeDecoder().fit(fit_part.smooth(sigma).counts, fit_part.behavior)
              .score(val_part.smooth(sigma).counts, val_part.behavior) for sigma in (1.0, 2.0, 3.0, 4.0)}
    sigma = max(scores, key=scores.get)
    decoder = RidgeDecoder().fit(train.smooth(sigma).counts, train.behavior)
    return decoder.score(test.smooth(sigma).counts, test.behavior), sigma


def m1_cross_modal(seed: int) -> dict[str, float]:
    data = load("spykesml_m1", window_bins=40)
    train, test = data.split(0.25, seed=seed)
    started, cpu = time.perf_counter(), time.process_time()
    model = MMGPVAE(shared_dim=4, private_dim={"neural": 4, "behavior": 1}, seed=seed, verbose=False).fit(train)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    ridge, sigma = ridge_smoothed(train, test, seed)
    return {"MM-GPVAE velocity R2 % from spikes": r2_percent(test.behavior, model.predict_behavior(test)),
            "MM-GPVAE velocity R2 % (spikes + velocity)": r2_percent(test.behavior, model.predict(test, "behavior")),
            "fit seconds": seconds, "fit CPU seconds": cpu, "ridge velocity R2 %": ridge, "ridge sigma (bins)": sigma}


def _rows(method: str, setting: str, runs: list[dict[str, float]], seconds_key: str | None = "fit seconds",
          keys: list[str] | None = None) -> list[Row]:
    keys = keys or list(runs[0])
    seconds = [run[seconds_key] for run in runs] if seconds_key else 0.0
    return [Row.from_values(method, setting, key, [run[key] for run in runs], seconds) for key in keys]


def synthetic_run(prior: str, behavior: str, seed: int, progress: Callable[[str], None]) -> dict[str, float]:
    """One seed of the synthetic study (``_synthetic``; seed 0 draws the figure)."""
    result = _synthetic(prior, behavior, seed, figures=seed == 0)
    progress(f"mmgpvae {prior} {behavior} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()))
    return result


def prior_timing_run(name: str, quick: bool, progress: Callable[[str], None]) -> dict[int, float]:
    """The KL step's median ms of one prior at T = 100, 400 and 1600 bins."""
    prior_class = {"Fourier prior": FourierGPPrior, "time-domain prior": TimeDomainGPPrior}[name]
    timings = {}
    for n_time in (100, 400, 1600):
        prior = prior_class(4, length_scale_init=10.0, min_length_scale=2.0, max_length_scale=40.0)
        timings[n_time] = prior_step_ms(prior, n_time, repeats=3 if quick else 7)
    progress(f"{name} KL step ms: {timings}")
    return timings


def comparison_run(seed: int, n_trials: int, progress: Callable[[str], None]) -> dict[str, float] | None:
    """One seed of GPFA vs GPVAE (None without elephant)."""
    result = gpfa_versus_gpvae(seed, n_trials=n_trials)
    if result is None:
        progress("elephant is not installed (pip install 'neuralign[extras]'): GPFA comparison skipped")
    else:
        progress(f"gpfa vs gpvae seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()))
    return result


def m1_run(seed: int, progress: Callable[[str], None]) -> dict[str, float]:
    result = m1_cross_modal(seed)
    progress(f"m1 seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()))
    return result


PRIORS = ("Fourier prior", "time-domain prior")


def plan(*, quick: bool, seeds: int | None) -> Plan:
    """Tasks (one torch thread each): per (prior, behaviour, seed) of the synthetic study, per prior of the step
    timing, per seed of the GPFA comparison and of the M1 study."""
    n_seeds = seeds or (1 if quick else 2)
    cases = [("fourier", "images"), ("time", "images"), ("fourier", "low_dim")]
    cases += [] if quick else [("time", "low_dim")]
    case_seeds = {case: max(n_seeds, IMAGE_SEEDS) if case == ("fourier", "images") and not quick else n_seeds
                  for case in cases}
    comparison_seeds = n_seeds if quick else max(n_seeds, COMPARISON_SEEDS)
    n_trials = 100 if quick else 300
    tasks = [Task(f"synthetic {prior} {behavior} {seed}", synthetic_run,
                  {"prior": prior, "behavior": behavior, "seed": seed})
             for prior, behavior in cases for seed in range(case_seeds[(prior, behavior)])]
    tasks += [Task(f"prior {name}", prior_timing_run, {"name": name, "quick": quick}) for name in PRIORS]
    tasks += [Task(f"gpfa {seed}", comparison_run, {"seed": seed, "n_trials": n_trials})
              for seed in range(comparison_seeds)]
    tasks += [Task(f"m1 {seed}", m1_run, {"seed": seed}) for seed in range(n_seeds)]
    tasks = [Task(task.key, task.function, task.arguments, threads=1) for task in tasks]

    def combine(results: dict[str, Any]) -> list[Row]:
        rows: list[Row] = []
        for prior, behavior in cases:  # 1. synthetic: Fourier vs time-domain prior
            runs = [results[f"synthetic {prior} {behavior} {seed}"] for seed in range(case_seeds[(prior, behavior)])]
            method = "MM-GPVAE (Fourier prior)" if prior == "fourier" else "MM-GPVAE (time-domain prior)"
            rows += _rows(method, f"synthetic {behavior}, held-out 20 %", runs)
        for name in PRIORS:  # 2. prior step time
            timings = results[f"prior {name}"]
            for n_time, value in timings.items():
                rows.append(Row(name, f"T={n_time}, 16 trials x 4 latents", "KL fwd+bwd ms", value, 0.0, 1,
                                value / 1000, [value]))
            ratio = timings[1600] / timings[100]
            rows.append(Row(name, "T=1600 vs T=100", "step time ratio", ratio, 0.0, 1, 0.0, [ratio]))
        runs = []  # 3. GPFA vs GPVAE on neural-only data (until the first seed without elephant)
        for seed in range(comparison_seeds):
            if results[f"gpfa {seed}"] is None:
                break
            runs.append(results[f"gpfa {seed}"])
        if runs:
            rows += _comparison_rows(runs, n_trials)
        runs = [results[f"m1 {seed}"] for seed in range(n_seeds)]  # 4. M1 cross-modal prediction
        setting = "spykesml_m1, 40-bin windows, held-out 25 %"
        rows += _rows("MM-GPVAE (Fourier prior)", setting, runs,
                      keys=["MM-GPVAE velocity R2 % from spikes", "MM-GPVAE velocity R2 % (spikes + velocity)",
                            "fit seconds", "fit CPU seconds"])
        rows += _rows("ridge on smoothed spikes", setting, runs, None, ["ridge velocity R2 %", "ridge sigma (bins)"])
        return rows

    return Plan(tasks, combine)


def _comparison_rows(runs: list[dict[str, float]], n_trials: int) -> list[Row]:
    setting = f"synthetic spikes only, {n_trials} trials, held-out 20 %"
    rows = _rows("GPFA (elephant)", setting, runs, "GPFA fit seconds",
                 ["GPFA recovery R2", "GPFA fit seconds", "GPFA fit CPU seconds"])
    for name in GPVAE_PRESETS:
        label = f"{name} (Fourier prior)"
        rows += _rows(label, setting, runs, f"{name} fit seconds",
                      [f"{name} recovery R2", f"{name} fit seconds", f"{name} fit CPU seconds"])
        differences = [run[f"{name} recovery R2"] - run["GPFA recovery R2"] for run in runs]
        rows.append(Row.from_values(label, setting, "recovery R2 minus GPFA's (same seed)", differences, 0.0))
        for clock in ("", " CPU"):
            speedups = [run[f"GPFA fit{clock} seconds"] / run[f"{name} fit{clock} seconds"] for run in runs]
            rows.append(Row.from_values(label, setting, f"speed-up vs GPFA{clock} (x)", speedups, 0.0))
    return rows
