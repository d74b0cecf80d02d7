"""Multi-region data with the same samples in every region, registered in the dataset registry.

``synthetic_regions``: a chain of K regions whose latents are linked by a known nonlinear map,

    z_1 ~ mixture of C Gaussian clusters in 2-D (cluster c: class c),
    z_{k+1} = S_k(z_k),   S_k(z) = c_k + R(alpha_k exp(-||z - c_k||^2 / 2 s^2)) (z - c_k)   (a swirl about c_k),
    x_k = tanh(W_k z_k + b_k) + noise * e   (Gaussian)   or   x_k ~ Poisson(exp(W_k z_k + b_k))   (counts),

with a different random read-out W_k per region, so that each region's own latent frame is arbitrary and only
the neighbourhoods tell which points correspond. Points near a swirl centre move most: the true displacement
||z_{k+1} - z_k|| differs between samples and between classes, and is returned for scoring.

``digits_mlp``: hidden-layer activations of a 4-layer, 64-unit ReLU network trained on scikit-learn's bundled
8x8 digits (1797 images, 10 classes), one region per layer, with the network's held-out test accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralign._checks import one_of, positive_float, positive_int
from neuralign.data.registry import register
from neuralign.data.trialdata import TrialData


def swirl(z: np.ndarray, centre: np.ndarray, angle: float, width: float) -> np.ndarray:
    """The known region-to-region map: rotate each point about ``centre`` by angle * exp(-r^2 / 2 width^2).

    z : (samples, 2) -> (samples, 2).
    """
    offset = z - centre
    theta = angle * np.exp(-(offset ** 2).sum(1) / (2.0 * width ** 2))
    cos, sin = np.cos(theta), np.sin(theta)
    return centre + np.stack([cos * offset[:, 0] - sin * offset[:, 1], sin * offset[:, 0] + cos * offset[:, 1]], 1)


@register(
    "synthetic_regions", kind="synthetic",
    description="A chain of regions with 2-D latents linked by a known nonlinear map (a swirl about a different "
                "centre at each step) and a different random nonlinear read-out per region; the true latents and "
                "true displacements are returned for scoring alignment.",
    returns="dict {'region1', ..., 'regionK'} of TrialData (n_samples, 1, n_units), signal 'continuous' "
            "(Gaussian) or 'counts' (Poisson), labels = cluster 0..n_classes-1, latents = true 2-D latents, "
            "meta['true_displacement'] (n_samples,) from the previous region.")
def synthetic_regions(n_samples: int = 1000, n_regions: int = 3, n_classes: int = 6, n_units: int = 40,
                      swirl_angle: float = 2.0, swirl_width: float = 0.8, noise: float = 0.1,
                      likelihood: str = "gaussian", seed: int = 0) -> dict[str, TrialData]:
    """Simulate ``n_regions`` regions observing a chain of swirled 2-D latents.

    Parameters
    ----------
    n_samples : samples (stimuli / time bins), the same in every region.
    n_regions : regions in the chain (>= 2).
    n_classes : clusters of the first region's latents (labels).
    n_units : observed units per region.
    swirl_angle, swirl_width : the maximal rotation (radians) and the radius of each swirl.
    noise : Gaussian observation noise (ignored for ``likelihood="poisson"``).
    likelihood : ``"gaussian"`` (real-valued activity) or ``"poisson"`` (spike counts).
    seed : random seed.

    Returns
    -------
    dict region name -> TrialData with counts (n_samples, 1, n_units), labels (n_samples,), latents
    (n_samples, 1, 2) = z_k, meta with ``true_displacement`` (list of n_samples floats, ||z_k - z_{k-1}||, zeros
    for the first region) and the swirl centre.
    """
    n_samples = positive_int("n_samples", n_samples, minimum=10)
    n_regions = positive_int("n_regions", n_regions, minimum=2)
    n_classes = positive_int("n_classes", n_classes)
    n_units = positive_int("n_units", n_units)
    swirl_angle = positive_float("swirl_angle", swirl_angle, allow_zero=True)
    swirl_width = positive_float("swirl_width", swirl_width)
    noise = positive_float("noise", noise, allow_zero=True)
    one_of("likelihood", likelihood, ("gaussian", "poisson"))
    seed = positive_int("seed", seed, minimum=0)
    rng = np.random.default_rng([seed, 7])
    labels = rng.integers(0, n_classes, size=n_samples)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    radius = np.where(np.arange(n_classes) % 2 == 0, 0.7, 1.7)
    centres = np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)
    z = centres[labels] + 0.3 * rng.standard_normal((n_samples, 2))
    out: dict[str, TrialData] = {}
    previous = z
    for region in range(n_regions):
        centre = np.zeros(2)
        if region > 0:
            centre = 1.0 * np.array([np.cos(2.4 * region), np.sin(2.4 * region)])
            z = swirl(previous, centre, swirl_angle, swirl_width)
        weights = rng.standard_normal((n_units, 2)) * 1.2
        bias = 0.5 * rng.standard_normal(n_units)
        drive = z @ weights.T + bias
        if likelihood == "gaussian":
            x, signal = np.tanh(drive) + noise * rng.standard_normal(drive.shape), "continuous"
        else:
            x, signal = rng.poisson(np.exp(np.clip(0.6 * drive, -10, 3))).astype(np.float64), "counts"
        displacement = np.linalg.norm(z - previous, axis=1)
        out[f"region{region + 1}"] = TrialData(
            counts=x[:, None, :], labels=labels, latents=z[:, None, :], signal=signal, bin_size=1.0,
            meta={"dataset": "synthetic_regions", "region": f"region{region + 1}",
                  "true_displacement": [float(v) for v in displacement], "swirl_centre": [float(c) for c in centre],
                  "note": "samples, not time series (time axis of length 1)"})
        previous = z
    return out


# ------------------------------------------------------------------------------------------------ digits MLP
def train_mlp(images: np.ndarray, labels: np.ndarray, *, n_layers: int, width: int, epochs: int, seed: int,
              batch_size: int = 64) -> Any:
    """A ReLU MLP (``n_layers`` hidden layers of ``width`` units) trained to classify ``images`` (n, pixels) into
    ``labels`` (n,) with Adam (lr 1e-3, weight decay 1e-4), seeded; returned in eval mode."""
    import torch

    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    size = images.shape[1]
    for _ in range(n_layers):
        layers += [torch.nn.Linear(size, width), torch.nn.ReLU()]
        size = width
    network = torch.nn.Sequential(*layers, torch.nn.Linear(width, int(labels.max()) + 1))
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(network(x[batch]), y[batch]).backward()
            optimiser.step()
    return network.eval()


def layer_activations(network: Any, images: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Post-ReLU activations (n, width) of each hidden layer of :func:`train_mlp`'s network, and its predicted
    classes (n,)."""
    import torch

    activations = []
    with torch.no_grad():
        hidden = torch.as_tensor(images, dtype=torch.float32)
        for module in network:
            hidden = module(hidden)
            if isinstance(module, torch.nn.ReLU):
                activations.append(hidden.numpy().copy())
    return activations, hidden.argmax(1).numpy()


@register(
    "digits_mlp", kind="synthetic",
    description="Hidden-layer activations of a 4-layer, 64-unit ReLU MLP trained (in torch, seeded) on "
                "scikit-learn's bundled 8x8 digits (1797 images); one region per layer, the NEAT paper's "
                "artificial-network experiment. The network is trained on 75 % of the images (stratified).",
    returns="dict {'layer1', ..., 'layer4'} of TrialData (1797, 1, 64), signal 'continuous', labels = digit; "
            "meta['test_accuracy'] on the held-out 25 %, meta['test_index'] the held-out images.")
def digits_mlp(n_layers: int = 4, width: int = 64, epochs: int = 60, seed: int = 0) -> dict[str, TrialData]:
    """Train the MLP on the digits and return its activations per hidden layer for all 1797 images.

    Parameters
    ----------
    n_layers : hidden layers.
    width : units per hidden layer.
    epochs : training epochs (Adam, lr 1e-3, batch 64).
    seed : seeds the split, the initialisation and the shuffling.

    Returns
    -------
    dict ``layer{k}`` -> TrialData counts (1797, 1, width) post-ReLU activations, labels (1797,) digits 0..9,
    meta ``test_accuracy``, ``train_accuracy`` and ``test_index``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    n_layers = positive_int("n_layers", n_layers)
    width = positive_int("width", width)
    epochs = positive_int("epochs", epochs)
    seed = positive_int("seed", seed, minimum=0)
    digits = load_digits()
    images, labels = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    train_index, test_index = train_test_split(np.arange(len(labels)), test_size=0.25, stratify=labels,
                                               random_state=seed)
    network = train_mlp(images[train_index], labels[train_index], n_layers=n_layers, width=width, epochs=epochs,
                        seed=seed)
    activations, predicted = layer_activations(network, images)
    accuracy = {"test_accuracy": float((predicted[test_index] == labels[test_index]).mean()),
                "train_accuracy": float((predicted[train_index] == labels[train_index]).mean())}
    return {f"layer{k + 1}": TrialData(
        counts=layer[:, None, :], labels=labels, signal="continuous", bin_size=1.0,
        meta={"dataset": "digits_mlp", "region": f"layer{k + 1}", **accuracy,
              "test_index": [int(i) for i in np.sort(test_index)],
              "note": "activations of a network trained on sklearn's load_digits; samples, not time series"})
        for k, layer in enumerate(activations)}
