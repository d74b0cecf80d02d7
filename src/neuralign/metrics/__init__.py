"""Metrics on arrays: decoding (R2 %, RMSE, ridge decoder), spikes (bits/spike), co-smoothing (NLB co-bps,
psth R2, Poisson GLM read-out), latent recovery,
transport (exact W1 / W2 between clouds, sampling floor, particle-path R2 and the OT-chain path baseline).

Every function takes NumPy arrays or torch tensors with the trial axis first, (trials, time, dims), or already
flattened samples, (samples, dims), and knows nothing of the models that produced them.
"""

from neuralign.metrics.cosmoothing import PoissonReadout, co_bps, cosmoothing_scores, psth_r2, split_neurons
from neuralign.metrics.decoding import RidgeDecoder, flatten_trials, r2_percent, rmse
from neuralign.metrics.recovery import latent_recovery, latent_recovery_split
from neuralign.metrics.spikes import bits_per_spike, heldout_entries_bits_per_spike, poisson_log_likelihood
from neuralign.metrics.mmd import MMDResult, MMDTest, PairwiseMMD, median_bandwidth, mmd2, mmd_test, pairwise_mmd
from neuralign.metrics.transport import (curl_2d, gaussian_w2, match_paths, optimal_plan, ot_chain_paths, path_r2,
                                         rbf_mmd, relative_l2, relative_moment_errors, sampling_floor, w1, w2,
                                         wasserstein)
from neuralign.metrics.similarity import (cca_project, linear_cka, linear_probe_accuracy, procrustes_align,
                                          relative_representation, relative_similarity, similarity_matrix)

__all__ = [
    "PoissonReadout",
    "RidgeDecoder",
    "bits_per_spike",
    "heldout_entries_bits_per_spike",
    "co_bps",
    "cosmoothing_scores",
    "psth_r2",
    "split_neurons",
    "cca_project",
    "linear_cka",
    "linear_probe_accuracy",
    "procrustes_align",
    "relative_representation",
    "relative_similarity",
    "similarity_matrix",
    "flatten_trials",
    "latent_recovery",
    "latent_recovery_split",
    "poisson_log_likelihood",
    "r2_percent",
    "rmse",
    "MMDResult",
    "MMDTest",
    "PairwiseMMD",
    "median_bandwidth",
    "mmd2",
    "mmd_test",
    "pairwise_mmd",
    "curl_2d",
    "gaussian_w2",
    "match_paths",
    "optimal_plan",
    "ot_chain_paths",
    "path_r2",
    "rbf_mmd",
    "relative_l2",
    "relative_moment_errors",
    "sampling_floor",
    "w1",
    "w2",
    "wasserstein",
]
