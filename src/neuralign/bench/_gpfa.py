"""GPFA (``elephant.gpfa.GPFA``, optional ``extras`` dependency) on TrialData counts, for the benchmarks.

elephant takes spike times: each bin's count becomes that many spikes placed uniformly at random inside the bin,
so elephant's own binning (same bin width) gives the counts back.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np


def spiketrains(counts: np.ndarray, bin_size: float, rng: np.random.Generator) -> list:
    """Counts (trials, T, units) -> elephant input: per trial, one neo.SpikeTrain per unit (spikes uniform
    within their bin)."""
    import neo
    import quantities as pq

    duration = counts.shape[1] * bin_size
    trials = []
    for trial in counts.astype(int):
        units = []
        for unit in trial.T:
            times = np.repeat(np.arange(unit.size), unit) * bin_size + rng.uniform(0, bin_size, unit.sum())
            units.append(neo.SpikeTrain(np.sort(times) * pq.s, t_start=0 * pq.s, t_stop=duration * pq.s))
        trials.append(units)
    return trials


def gpfa_latents(train_counts: np.ndarray, test_counts: np.ndarray, *, bin_size: float, latent_dim: int,
                 seed: int, em_max_iters: int = 500, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Fit GPFA on ``train_counts`` (trials, T, units) and return the orthonormalised posterior mean latents of
    the training and the test trials, each (trials, T, latent_dim).

    elephant's progress prints and its warning about trials shorter than its 20-bin segments (it then fits on
    whole trials) are silenced; its NumPy BLAS gets ``threads`` threads. Raises ImportError naming the extra
    when elephant is missing.
    """
    try:
        import quantities as pq
        from elephant.gpfa import GPFA
        from threadpoolctl import threadpool_limits
    except ImportError as error:
        raise ImportError(f"GPFA needs elephant: pip install 'neuralign[extras]' ({error}).") from None
    rng = np.random.default_rng(seed)
    train_trains, test_trains = spiketrains(train_counts, bin_size, rng), spiketrains(test_counts, bin_size, rng)
    with threadpool_limits(limits=threads), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", UserWarning)
        gpfa = GPFA(bin_size=bin_size * 1000 * pq.ms, x_dim=latent_dim, em_max_iters=em_max_iters).fit(train_trains)

        def latents(trains: list) -> np.ndarray:
            return np.stack([np.asarray(x).T for x in gpfa.transform(trains)])

        return latents(train_trains), latents(test_trains)
