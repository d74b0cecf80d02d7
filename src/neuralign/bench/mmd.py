"""Benchmark ``mmd``: calibration, power and speed of the MMD^2 permutation test, and the vocalisation pipeline.

1. Type-I error: x, y ~ N(0, I_8), n = 100 and 300 per group, 500 replicates (quick: 100), 200 permutations,
   alpha = 0.05; RBF (median heuristic) and multi-bandwidth RBF kernels.
2. Power at alpha = 0.05 (200 permutations; 100 replicates, 50 at n = 1000; quick: 20 / 10), d = 8, base N(0, I_8):
   - mean shift: y ~ N(delta e_1, I), delta in {0.2, 0.3, 0.4, 0.5} (units of the std, one of 8 dims);
   - variance change: y ~ N(0, s^2 I), s in {1.1, 1.15, 1.2, 1.3};
   - mixture weight change: x_1 = +-1.5 with probability 0.5 each, y_1 = +1.5 with probability 0.5 + w,
     w in {0.1, 0.15, 0.2} (other dims N(0, 1)).
   The "smallest shift" of the target is, per kind, the smallest of these with power >= 0.9 at n = 300 (a row).
3. Speed vs hyppo (extra): n = 1000 per group (quick: 200), 1000 permutations, one thread, same Gaussian kernel
   (gamma = 1 / (2 sigma^2), sigma = median distance); biased statistic on both sides (hyppo's MMD is an exact
   transform of HSIC only for the biased statistic) so the p-values estimate the same quantity.
4. VocalMat crops (bundled ``vocalmat_usv``): VocalVAE (32-D latent, 32 x 32 images) fitted on all 143 crops; up-FM
   vs down-FM calls; random halves of the up-FM calls (20 splits per seed); the MMD^2 matrix between call types
   with >= 6 crops.
5. Synthetic vocalisations end to end: per seed a 'same' pair (two independent draws of group a) and a
   'different' pair (a vs b), 120 syllables each: WAV -> segmentation -> images -> VocalVAE (40 epochs) -> MMD.
6. Golub BCI learning: activity before vs after learning, pooled and per target direction.
Figures go to ``reports/mmd/``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralign.bench import Plan, Row, Task
from neuralign.metrics.mmd import median_bandwidth, mmd_test, pairwise_mmd

DIMS = 8
ALPHA = 0.05
SHIFTS = {"mean shift (delta, std units, 1 of 8 dims)": (0.2, 0.3, 0.4, 0.5),
          "variance change (scale s, all dims)": (1.1, 1.15, 1.2, 1.3),
          "mixture weight change (w)": (0.1, 0.15, 0.2)}
REPORT = Path("reports/mmd")


def draw(kind: str, size: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two samples (n, 8) under one of the shifts of ``SHIFTS`` (size 0 or kind 'null': the null)."""
    x, y = rng.normal(size=(n, DIMS)), rng.normal(size=(n, DIMS))
    if kind.startswith("mean"):
        y[:, 0] += size
    elif kind.startswith("variance"):
        y *= size
    elif kind.startswith("mixture"):
        x[:, 0] += np.where(rng.random(n) < 0.5, 1.5, -1.5)
        y[:, 0] += np.where(rng.random(n) < 0.5 + size, 1.5, -1.5)
    return x, y


def _rejections(kind: str, size: float, n: int, replicates: int, kernel: str, seed: int) -> tuple[list[float], float]:
    rng = np.random.default_rng([seed, n, int(size * 1000)])
    started, out = time.perf_counter(), []
    for replicate in range(replicates):
        x, y = draw(kind, size, n, rng)
        out.append(float(mmd_test(x, y, kernel=kernel, n_permutations=200, seed=replicate).p_value <= ALPHA))
    return out, (time.perf_counter() - started) / replicates


def _power_count(n: int, quick: bool) -> int:
    return (10 if quick else 50) if n == 1000 else (20 if quick else 100)


def rejection_run(kind: str, size: float, n: int, replicates: int, kernel: str, seed: int,
                  progress: Callable[[str], None]) -> tuple[list[float], float]:
    """Rejections (1/0) of ``replicates`` tests under one shift (``kind`` "null": the null) and seconds per test."""
    values, seconds = _rejections(kind, size, n, replicates, kernel, seed=seed)
    progress(f"{'type-I' if kind == 'null' else 'power'} {kind} {size} {kernel} n={n}: {np.mean(values):.3f} "
             f"over {replicates}")
    return values, seconds


def calibration_tasks(quick: bool) -> list[Task]:
    """One task per (kernel, n) of the null and per (shift, size, n) of the power study."""
    replicates = 100 if quick else 500
    tasks = [Task(f"type-I {kernel} {n}", rejection_run, {"kind": "null", "size": 0.0, "n": n,
                                                          "replicates": replicates, "kernel": kernel, "seed": 1})
             for kernel in ("rbf", "multi_rbf") for n in (100, 300)]
    tasks += [Task(f"power {kind} {size} {n}", rejection_run,
                   {"kind": kind, "size": size, "n": n, "replicates": _power_count(n, quick), "kernel": "rbf",
                    "seed": 2})
              for kind, sizes in SHIFTS.items() for size in sizes for n in (100, 300, 1000)]
    return tasks


def calibration_rows(results: dict[str, tuple[list[float], float]]) -> list[Row]:
    """The type-I error and power rows, and per shift the smallest size with power >= 0.9 at n = 300."""
    rows = []
    for kernel in ("rbf", "multi_rbf"):
        for n in (100, 300):
            values, seconds = results[f"type-I {kernel} {n}"]
            rows.append(Row.from_values(f"MMD {kernel}", f"null N(0,I_8), n={n}/group", "type-I error (a=0.05)",
                                        values, seconds))
    for kind, sizes in SHIFTS.items():
        smallest = None
        for size in sizes:
            for n in (100, 300, 1000):
                values, seconds = results[f"power {kind} {size} {n}"]
                rows.append(Row.from_values("MMD rbf", f"{kind.split(' (')[0]} {size}, n={n}/group", "power (a=0.05)",
                                            values, seconds))
                if n == 300 and smallest is None and np.mean(values) >= 0.9:
                    smallest = (size, values)
        if smallest is not None:
            rows.append(Row.from_values("MMD rbf", f"smallest {kind} with power>=0.9 at n=300: {smallest[0]}",
                                        "power (a=0.05)", smallest[1], 0.0))
    return rows


def speed_versus_hyppo(quick: bool, progress: Callable[[str], None]) -> list[Row]:
    n = 200 if quick else 1000
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(n, DIMS)), rng.normal(size=(n, DIMS))
    y[:, 0] += 2.5 / np.sqrt(n)  # a small shift: p-values inside (0, 1), where the Monte-Carlo error shows
    ours, ours_p = [], []
    for repeat in range(3):
        started = time.perf_counter()
        ours_p.append(mmd_test(x, y, unbiased=False, n_permutations=1000, seed=repeat).p_value)
        ours.append(time.perf_counter() - started)
    rows = [Row.from_values("neuralign mmd_test", f"n={n}/group, 1000 perms, biased", "seconds per test", ours, ours),
            Row.from_values("neuralign mmd_test", f"n={n}/group, 1000 perms, biased", "p-value", ours_p, ours)]
    progress(f"neuralign: {np.mean(ours):.2f} s per test, p = {ours_p}")
    try:
        from hyppo.ksample import MMD
    except ImportError:
        progress("hyppo not installed (pip install 'neuralign[extras]'): no speed comparison")
        return rows
    sigma = median_bandwidth(x, y)
    started = time.perf_counter()
    _, hyppo_p = MMD(compute_kernel="gaussian", bias=True, gamma=1.0 / (2 * sigma ** 2)).test(
        x, y, reps=1000, workers=1, auto=False, random_state=0)
    hyppo_seconds = time.perf_counter() - started
    progress(f"hyppo: {hyppo_seconds:.1f} s, p = {hyppo_p:.4f}")
    error = np.sqrt(2 * hyppo_p * (1 - hyppo_p) / 1000)
    rows += [Row.from_values("hyppo MMD", f"n={n}/group, 1000 perms, biased", "seconds per test", [hyppo_seconds],
                             hyppo_seconds),
             Row.from_values("hyppo MMD", f"n={n}/group, 1000 perms, biased", "p-value", [hyppo_p], hyppo_seconds),
             Row.from_values("neuralign / hyppo", f"n={n}/group", "speed-up (x)", [hyppo_seconds / np.mean(ours)], 0.0),
             Row.from_values("neuralign - hyppo", f"n={n}/group; MC s.e. of a difference {error:.3f}",
                             "p-value difference", [float(np.mean(ours_p) - hyppo_p)], 0.0)]
    return rows


def _vae_latents(images: np.ndarray, seed: int, max_epochs: int) -> np.ndarray:
    from neuralign.models.vocalvae import VocalVAE

    model = VocalVAE(latent_dim=32, image_size=images.shape[1], max_epochs=max_epochs, seed=seed, verbose=False)
    return model.fit(images).transform(images)


def vocalmat(n_seeds: int, quick: bool, progress: Callable[[str], None]) -> tuple[list[Row], dict]:
    from neuralign.analysis.vocal import spectrogram_images
    from neuralign.data.datasets import load

    data = load("vocalmat_usv")
    names = data.meta["label_names"]
    images = spectrogram_images(data, size=32)
    classes = {name: data.labels == names.index(name) for name in names}
    results: dict[str, list[float]] = {"up_down_rbf": [], "up_down_multi": [], "halves": [], "halves_reject": [],
                                       "seconds": []}
    figures: dict = {}
    for seed in range(n_seeds):
        started = time.perf_counter()
        latents = _vae_latents(images, seed, 60)
        results["seconds"].append(time.perf_counter() - started)
        up, down = latents[classes["up_fm"]], latents[classes["down_fm"]]
        test = mmd_test(up, down, n_permutations=1000, seed=seed)
        results["up_down_rbf"].append(test.p_value)
        results["up_down_multi"].append(mmd_test(up, down, kernel="multi_rbf", n_permutations=1000, seed=seed).p_value)
        rng = np.random.default_rng(seed)
        for split in range(5 if quick else 20):
            order = rng.permutation(len(up))
            p = mmd_test(up[order[:len(up) // 2]], up[order[len(up) // 2:]], n_permutations=1000, seed=split).p_value
            results["halves"].append(p)
            results["halves_reject"].append(float(p <= ALPHA))
        progress(f"vocalmat seed {seed}: up vs down p = {test.p_value:.4f}, halves median p = "
                 f"{np.median(results['halves']):.3f}")
        if seed == 0:
            common = {k: latents[v] for k, v in classes.items() if v.sum() >= 6}
            figures = {"test": test, "latents": latents, "labels": np.array(names)[data.labels],
                       "pairwise": pairwise_mmd(common, n_permutations=1000, seed=0)}
    setting = "VocalMat 22 up_fm vs 18 down_fm"
    rows = [Row.from_values("VocalVAE + MMD rbf", setting, "p-value", results["up_down_rbf"], results["seconds"]),
            Row.from_values("VocalVAE + MMD multi_rbf", setting, "p-value", results["up_down_multi"],
                            results["seconds"]),
            Row.from_values("VocalVAE + MMD rbf", "VocalMat up_fm random halves 11 vs 11", "p-value",
                            results["halves"], 0.0),
            Row.from_values("VocalVAE + MMD rbf", "VocalMat up_fm random halves 11 vs 11", "rejection rate (a=0.05)",
                            results["halves_reject"], 0.0)]
    pairwise = figures["pairwise"]
    upper = np.triu_indices(len(pairwise.names), 1)
    rows.append(Row.from_values("VocalVAE + MMD rbf", f"VocalMat call-type pairs ({', '.join(pairwise.names)})",
                                "pairs with p<0.01", [float((pairwise.p_value[upper] < 0.01).sum())], 0.0))
    return rows, figures


def synthetic_vocalisations(n_seeds: int, progress: Callable[[str], None]) -> tuple[list[Row], dict]:
    from neuralign.analysis.vocal import compare_groups, segment_recording
    from neuralign.data.vocalisations import vocalisation_pair

    p_values: dict[tuple[str, str], list[float]] = {}
    seconds: list[float] = []
    figures: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(n_seeds):
            for pair, differ in (("same", False), ("different", True)):
                started = time.perf_counter()
                recordings = vocalisation_pair(differ, seed=seed, n_syllables=120)
                groups = {}
                for name, recording in zip("ab", recordings, strict=True):
                    path = Path(folder) / f"{pair}_{seed}_{name}.wav"
                    recording.write_wav(path)
                    groups[name] = segment_recording(path).images
                result = compare_groups(groups, max_epochs=40, n_permutations=1000, kernel="multi_rbf", seed=seed)
                seconds.append(time.perf_counter() - started)
                rbf = mmd_test(result.latents["a"], result.latents["b"], n_permutations=1000, seed=seed)
                p_values.setdefault((pair, "multi_rbf"), []).append(result.tests["a vs b"].p_value)
                p_values.setdefault((pair, "rbf"), []).append(rbf.p_value)
                progress(f"synthetic vocalisations seed {seed} {pair}: p = {result.tests['a vs b'].p_value:.4f} "
                         f"(rbf {rbf.p_value:.4f}), {len(groups['a'])} + {len(groups['b'])} syllables, "
                         f"{seconds[-1]:.1f} s")
                if seed == 0 and differ:
                    figures = {"test": result.tests["a vs b"], "latents": result.latents}
    rows = []
    for (pair, kernel), values in p_values.items():
        success = [float(p > 0.05) for p in values] if pair == "same" else [float(p < 0.01) for p in values]
        target = "p>0.05" if pair == "same" else "p<0.01"
        rows.append(Row.from_values(f"VocalVAE + MMD {kernel}", f"synthetic '{pair}' pair, 120 syllables each",
                                    "p-value", values, float(np.mean(seconds))))
        rows.append(Row.from_values(f"VocalVAE + MMD {kernel}", f"synthetic '{pair}' pair, 120 syllables each",
                                    f"fraction {target}", success, float(np.mean(seconds))))
    return rows, figures


def golub(progress: Callable[[str], None]) -> list[Row]:
    from neuralign.data.datasets import load

    phases = load("golub_bci_learning")
    before, after = phases["before"].counts, phases["after"].counts
    started = time.perf_counter()
    pooled = mmd_test(before.reshape(-1, before.shape[2]), after.reshape(-1, after.shape[2]), n_permutations=1000)
    per_direction = [mmd_test(before[i], after[i], n_permutations=1000, seed=i).p_value for i in range(len(before))]
    seconds = time.perf_counter() - started
    progress(f"golub before vs after: pooled p = {pooled.p_value:.4f}; per direction {np.round(per_direction, 3)}")
    return [Row.from_values("MMD rbf", "golub_bci_learning before vs after, all 552 steps", "p-value",
                            [pooled.p_value], seconds),
            Row.from_values("MMD rbf", "golub_bci_learning before vs after, per direction (69 steps)", "p-value",
                            per_direction, seconds / 9)]


def save_figures(vocal: dict, synthetic: dict, out: Path) -> None:
    from neuralign.analysis.vocal import embed_2d
    from neuralign.plot import embedding, mmd_matrix, null_distribution
    from neuralign.plot._style import pyplot

    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    if vocal:
        test = vocal["test"]
        null_distribution(test.null, test.statistic, p_value=test.p_value, ax=axes[0],
                          title="VocalMat up_fm vs down_fm")
    if synthetic:
        test = synthetic["test"]
        null_distribution(test.null, test.statistic, p_value=test.p_value, ax=axes[1],
                          title="synthetic 'different' pair (seed 0)")
    figure.tight_layout()
    figure.savefig(out / "null_distribution.png", dpi=120)
    plt.close(figure)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    if vocal:
        keep = np.isin(vocal["labels"], ["up_fm", "down_fm", "flat", "short", "noise_dist"])
        points, method = embed_2d(vocal["latents"][keep])
        embedding(points, vocal["labels"][keep], ax=axes[0], method=method.upper(), title="VocalMat latent means")
    if synthetic:
        latents = synthetic["latents"]
        points, method = embed_2d(np.concatenate(list(latents.values())))
        groups = np.concatenate([[f"group {k}"] * len(v) for k, v in latents.items()])
        embedding(points, groups, ax=axes[1], method=method.upper(), title="synthetic 'different' pair")
    figure.tight_layout()
    figure.savefig(out / "embedding.png", dpi=120)
    plt.close(figure)
    if vocal:
        pairwise = vocal["pairwise"]
        axes = mmd_matrix(pairwise.statistic, pairwise.names, p_value=pairwise.p_value,
                          title="VocalMat call types: MMD$^2$ of VAE latents (* p<0.01)")
        axes.figure.savefig(out / "mmd_matrix.png", dpi=120, bbox_inches="tight")
        plt.close(axes.figure)
        (out / "vocalmat_pairwise.json").write_text(json.dumps(
            {"names": pairwise.names, "mmd2": pairwise.statistic.tolist(),
             "p_value": np.nan_to_num(pairwise.p_value, nan=1.0).tolist()}, indent=1))


def plan(*, quick: bool, seeds: int | None) -> Plan:
    """Tasks (one torch thread each): the calibration and power cells, the speed comparison, the VocalMat and
    synthetic vocalisation studies and the Golub tests; the combiner draws the figures."""
    tasks = calibration_tasks(quick) + [
        Task("speed", speed_versus_hyppo, {"quick": quick}),
        Task("vocalmat", vocalmat, {"n_seeds": 1 if quick else min(seeds or 3, 10), "quick": quick}),
        Task("synthetic vocalisations", synthetic_vocalisations, {"n_seeds": seeds or (2 if quick else 10)}),
        Task("golub", golub)]
    tasks = [Task(task.key, task.function, task.arguments, threads=1) for task in tasks]

    def combine(results: dict[str, Any]) -> list[Row]:
        (vocal_rows, vocal_figures), (synthetic_rows, synthetic_figures) = (results["vocalmat"],
                                                                            results["synthetic vocalisations"])
        rows = calibration_rows(results) + results["speed"] + vocal_rows + synthetic_rows + results["golub"]
        save_figures(vocal_figures, synthetic_figures, REPORT)
        return rows

    return Plan(tasks, combine)
