"""Synthetic neural + behavioural data with known shared and private GP latents (the MM-GPVAE simulation).

Every latent is drawn independently per trial from an RBF GP over the T bins (variance 1, length scale
``length_scale`` bins): shared z_S (n_shared), neural-private z_N (n_neural_private), behaviour-private z_B
(n_behavior_private).

    spikes     y_n(t) ~ Poisson(exp(C_n [z_S(t); z_N(t)] + b_n)),   C_n ~ N(0, loading^2 / k), b_n ~ log(rate)
    behaviour  "images":  an 8x8 scikit-learn digit rotated by 45 deg * z_S(t) and zoomed by exp(0.25 z_B(t)),
                          rendered on a ``image_size`` x ``image_size`` canvas (flattened), plus N(0, 0.05^2)
                          pixel noise clipped to [0, 1]   (needs n_shared = n_behavior_private = 1)
               "low_dim": x(t) = A z(t) + 0.5 tanh(A' z(t)) + N(0, 0.1^2), z = [z_S; z_B], A, A' random
                          (behavior_dims x k), a smooth nonlinear and (for small noise) invertible readout.

Gondur, Sikandar, Schaffer, Aoi, Keeley (2023) simulate 300 trials of 60 bins, RBF length scale 10 and 100
Poisson neurons; those are the defaults here.
"""

from __future__ import annotations

import numpy as np

from neuralign._checks import one_of, positive_float, positive_int
from neuralign.data.registry import register
from neuralign.data.trialdata import TrialData


def gp_latents(n_trials: int, n_time: int, n_latents: int, length_scale: float,
               rng: np.random.Generator) -> np.ndarray:
    """Independent unit-variance RBF GP draws, (n_trials, n_time, n_latents)."""
    t = np.arange(n_time)
    kernel = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / length_scale ** 2) + 1e-6 * np.eye(n_time)
    cholesky = np.linalg.cholesky(kernel)
    return np.einsum("ts,nsk->ntk", cholesky, rng.standard_normal((n_trials, n_time, n_latents)))


def digit_frames(angles: np.ndarray, zooms: np.ndarray, *, digit: int = 3, image_size: int = 16) -> np.ndarray:
    """An 8x8 scikit-learn digit rotated by ``angles`` (radians) and zoomed by ``zooms``.

    angles, zooms : (...,) one frame per entry. Returns (..., image_size * image_size) values in [0, 1].
    """
    from scipy.ndimage import affine_transform, zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    image = digits.images[np.flatnonzero(digits.target == digit)[0]] / 16.0
    scaled = np.clip(zoom(image, image_size / 16.0, order=1), 0.0, 1.0)  # half the canvas at zoom 1
    canvas = np.zeros((image_size, image_size))
    start = (image_size - scaled.shape[0]) // 2
    canvas[start:start + scaled.shape[0], start:start + scaled.shape[1]] = scaled
    centre = (np.array(canvas.shape) - 1) / 2.0
    frames = np.empty(angles.shape + (image_size * image_size,))
    for index in np.ndindex(angles.shape):
        cos, sin = np.cos(angles[index]), np.sin(angles[index])
        inverse = np.array([[cos, sin], [-sin, cos]]) / zooms[index]  # output -> input coordinates
        offset = centre - inverse @ centre
        frames[index] = affine_transform(canvas, inverse, offset=offset, order=1, mode="constant").ravel()
    return np.clip(frames, 0.0, 1.0)


@register(
    "synthetic_mmgpvae", kind="synthetic",
    description="Poisson spikes and behaviour driven by shared and modality-private RBF-GP latents (the MM-GPVAE "
                "simulation): behaviour is a rotating / zooming digit image or a low-dimensional readout.",
    returns="TrialData counts (n_trials, n_time, n_units), behavior (n_trials, n_time, image_size^2 or "
            "behavior_dims), latents [z_S | z_N | z_B] (n_trials, n_time, n_shared + n_neural_private + "
            "n_behavior_private); meta['blocks'] = {'shared', 'neural', 'behavior'} -> latent column indices.")
def synthetic_mmgpvae(n_trials: int = 300, n_time: int = 60, n_units: int = 100, n_shared: int = 1,
                      n_neural_private: int = 1, n_behavior_private: int = 1, length_scale: float = 10.0,
                      behavior: str = "images", behavior_dims: int = 6, image_size: int = 16, digit: int = 3,
                      mean_rate: float = 0.5, loading: float = 1.0, seed: int = 0) -> TrialData:
    """Simulate the MM-GPVAE experiment (equations in the module docstring).

    Parameters
    ----------
    n_trials, n_time, n_units : trials, bins per trial, neurons.
    n_shared, n_neural_private, n_behavior_private : latent dims per block (private blocks may be 0).
    length_scale : RBF length scale of every latent, in bins.
    behavior : "images" (rotating / zooming digit, needs one shared and one behaviour-private latent) or
        "low_dim" (``behavior_dims`` channels).
    image_size : canvas side in pixels (images); digit : which scikit-learn digit 0..9 (images).
    mean_rate : median expected count per bin at zero latent; loading : total log-rate modulation std.
    seed : the data are a function of the arguments and ``seed``.

    Returns
    -------
    TrialData with counts, behavior, latents = [z_S | z_N | z_B] and meta (``blocks``, parameters).
    """
    n_trials, n_time, n_units = (positive_int("n_trials", n_trials), positive_int("n_time", n_time, minimum=2),
                                 positive_int("n_units", n_units))
    n_shared = positive_int("n_shared", n_shared, minimum=0)
    n_neural_private = positive_int("n_neural_private", n_neural_private, minimum=0)
    n_behavior_private = positive_int("n_behavior_private", n_behavior_private, minimum=0)
    if n_shared + n_neural_private < 1:
        raise ValueError("n_shared, n_neural_private: the spikes need at least one latent; got 0 and 0.")
    length_scale = positive_float("length_scale", length_scale)
    one_of("behavior", behavior, ("images", "low_dim"))
    behavior_dims = positive_int("behavior_dims", behavior_dims)
    image_size = positive_int("image_size", image_size, minimum=8)
    if not (isinstance(digit, (int, np.integer)) and 0 <= digit <= 9):
        raise ValueError(f"digit: expected an integer 0..9, got {digit!r}.")
    mean_rate, loading = positive_float("mean_rate", mean_rate), positive_float("loading", loading)
    seed = positive_int("seed", seed, minimum=0)
    if behavior == "images" and (n_shared, n_behavior_private) != (1, 1):
        raise ValueError(f"behavior: 'images' rotates with one shared latent and zooms with one behaviour-private "
                         f"latent; got n_shared={n_shared}, n_behavior_private={n_behavior_private} "
                         "(use behavior='low_dim' for other sizes).")
    rng = np.random.default_rng([seed, 11])
    n_latents = n_shared + n_neural_private + n_behavior_private
    latents = gp_latents(n_trials, n_time, n_latents, length_scale, rng)
    shared = latents[..., :n_shared]
    neural_private = latents[..., n_shared:n_shared + n_neural_private]
    behavior_private = latents[..., n_shared + n_neural_private:]
    neural_latents = np.concatenate([shared, neural_private], axis=-1)
    k = neural_latents.shape[-1]
    weights = rng.standard_normal((n_units, k)) * loading / np.sqrt(k)
    bias = np.log(mean_rate) + 0.3 * rng.standard_normal(n_units)
    counts = rng.poisson(np.exp(np.clip(neural_latents @ weights.T + bias, None, 8.0)))
    behavior_latents = np.concatenate([shared, behavior_private], axis=-1)
    if behavior == "images":
        frames = digit_frames(np.deg2rad(45.0) * shared[..., 0], np.exp(0.25 * behavior_private[..., 0]),
                              digit=int(digit), image_size=image_size)
        observed = np.clip(frames + 0.05 * rng.standard_normal(frames.shape), 0.0, 1.0)
    else:
        kb = behavior_latents.shape[-1]
        if kb == 0:
            raise ValueError("n_shared, n_behavior_private: the behaviour needs at least one latent; got 0 and 0.")
        linear = rng.standard_normal((behavior_dims, kb)) / np.sqrt(kb)
        bend = rng.standard_normal((behavior_dims, kb)) / np.sqrt(kb)
        observed = behavior_latents @ linear.T + 0.5 * np.tanh(behavior_latents @ bend.T)
        observed = observed + 0.1 * rng.standard_normal(observed.shape)
    blocks = {"shared": list(range(n_shared)),
              "neural": list(range(n_shared, n_shared + n_neural_private)),
              "behavior": list(range(n_shared + n_neural_private, n_latents))}
    meta = {"dataset": "synthetic_mmgpvae", "subject": "synthetic", "blocks": blocks,
            "behavior": "rotating/zooming digit images" if behavior == "images" else "low-dimensional readout",
            "n_trials": n_trials, "n_time": n_time, "n_units": n_units, "length_scale": length_scale,
            "behavior_kind": behavior, "seed": seed}
    return TrialData(counts=counts, behavior=observed, latents=latents, bin_size=0.02, meta=meta)
