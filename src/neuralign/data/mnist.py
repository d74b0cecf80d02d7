"""MNIST, read from a file the user gives (not bundled: 11 MB, CC BY-SA 3.0), and the datasets built on it.

The file is an ``np.savez`` archive with the Keras layout: ``x_train`` (60000, 28, 28) uint8, ``y_train`` (60000,),
``x_test`` (10000, 28, 28), ``y_test`` (10000,). Every loader here takes ``path``; None means the shared copy the
benchmarks use, ``../shared/data/mnist/mnist.npz`` beside the repository (:data:`DEFAULT_MNIST`), whose
``SOURCE.md`` and ``LICENSE.txt`` give its provenance and licence. Cite LeCun, Bottou, Bengio & Haffner (1998).

``mnist_gaussian`` (the POISE-VAE talk's "MNIST-Gaussian" mode-starvation experiment): each MNIST image of class
c in 1..8 is paired with a point of the ring modality, ``radius (cos theta_c, sin theta_c) + std * noise``,
theta_c = 2 pi (c - 1) / 8, the same ring as ``ring_digits`` (8x8 digits).
``mnist_mlp`` (the NEAT paper's network): hidden-layer activations of a 4-layer, 64-unit ReLU MLP trained on the
MNIST training images, evaluated on test images.
"""

from __future__ import annotations

from pathlib import Path
import numpy as np

from neuralign._checks import describe, one_of, positive_float, positive_int
from neuralign.data.paired import _limit, _static, ring_points
from neuralign.data.registry import register
from neuralign.data.trialdata import TrialData

DEFAULT_MNIST = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist" / "mnist.npz"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_CITATION = ("LeCun, Y., Bottou, L., Bengio, Y., Haffner, P. (1998). Gradient-based learning applied to "
                  "document recognition. Proc. IEEE 86(11):2278-2324.")
SPLITS = ("train", "test")


def mnist_path(path: str | Path | None = None, *, argument: str = "path") -> Path:
    """The MNIST file to read: ``path``, or :data:`DEFAULT_MNIST` when None; a clear error when it is missing."""
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"{argument}: expected a path to mnist.npz (str or Path), got {describe(path)}.")
    resolved = Path(path).expanduser() if path is not None else DEFAULT_MNIST
    if not resolved.is_file():
        given = f"{argument}={str(path)!r}" if path is not None else f"{argument} not given (default {resolved})"
        raise FileNotFoundError(
            f"{argument}: MNIST file not found ({given}). Pass {argument}= (on the command line --mnist PATH) "
            "pointing to an mnist.npz with x_train (60000, 28, 28) uint8, y_train, x_test, y_test (the layout "
            "Keras downloads from https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz; "
            "MNIST is CC BY-SA 3.0, http://yann.lecun.com/exdb/mnist/).")
    return resolved


def load_mnist(path: str | Path | None = None, split: str = "train", *,
               argument: str = "path") -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 784) float32 in [0, 1] and labels (n,) int64 of one split ("train" or "test") of the file."""
    one_of("split", split, SPLITS)
    resolved = mnist_path(path, argument=argument)
    try:
        archive = np.load(resolved, allow_pickle=False)
    except (OSError, EOFError, ValueError) as error:  # not an npz, or a truncated one
        raise ValueError(f"{argument}: cannot read {resolved} as an npz archive ({error}).") from None
    if not hasattr(archive, "files"):
        raise ValueError(f"{argument}: {resolved} holds one array, not an npz archive with {list(MNIST_KEYS)}.")
    with archive:
        missing = [key for key in MNIST_KEYS if key not in archive.files]
        if missing:
            raise ValueError(f"{argument}: {resolved} lacks the keys {missing}; expected {list(MNIST_KEYS)} "
                             "(the Keras mnist.npz layout).")
        images, labels = archive[f"x_{split}"], archive[f"y_{split}"]
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(f"{argument}: {resolved} has x_{split} {images.shape} and y_{split} {labels.shape}; "
                         "expected (n, 28, 28) images and (n,) labels.")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return (images.reshape(len(images), -1) / scale).astype(np.float32), labels.astype(np.int64)


@register(
    "mnist_gaussian", kind="real",
    description="The POISE-VAE talk's MNIST-Gaussian mode-starvation pairs: MNIST digits 1..8 (28 x 28, from "
                "`path`, default the shared copy) each paired with a point of the matching one of 8 Gaussian "
                "clusters (std `std`) on a ring of radius `radius`.",
    returns="dict {'ring': TrialData (n, 1, 2), 'digit': TrialData (n, 1, 784) pixels in [0, 1]}, labels = class "
            "1..8; n = every image of 1..8 in `split` or 8 * n_per_class.",
    citation=MNIST_CITATION, license="CC BY-SA 3.0 (MNIST; not bundled, read from `path`)")
def mnist_gaussian(radius: float = 1.0, std: float = 0.1, n_per_class: int | None = None, split: str = "train",
                   seed: int = 0, path: str | None = None) -> dict[str, TrialData]:
    radius, std = positive_float("radius", radius), positive_float("std", std)
    if n_per_class is not None:
        positive_int("n_per_class", n_per_class)
    rng = np.random.default_rng(positive_int("seed", seed, minimum=0))
    images, labels = load_mnist(path, split)
    digits = np.flatnonzero((labels >= 1) & (labels <= 8))
    order = digits[_limit(labels[digits], n_per_class, rng)]
    images, labels = images[order], labels[order]
    meta = {"dataset": "mnist_gaussian", "radius": radius, "std": std, "split": split, "seed": seed}

    return {"ring": _static(ring_points(labels, radius, std, rng), labels, **meta),
            "digit": _static(images, labels, **meta)}


@register(
    "mnist_mlp", kind="real",
    description="Hidden-layer activations of a 4-layer, 64-unit ReLU MLP trained (in torch, seeded) on the MNIST "
                "training images (from `path`, default the shared copy): the NEAT paper's network. One region per "
                "layer; the samples are `n_samples` MNIST test images (stratified).",
    returns="dict {'layer1', ..., 'layer4'} of TrialData (n_samples, 1, 64), signal 'continuous', labels = digit; "
            "meta['test_accuracy'] on all 10000 test images.",
    citation=MNIST_CITATION, license="CC BY-SA 3.0 (MNIST; not bundled, read from `path`)")
def mnist_mlp(n_samples: int = 5000, n_layers: int = 4, width: int = 64, epochs: int = 5, seed: int = 0,
              path: str | None = None) -> dict[str, TrialData]:
    """Train the MLP on the 60000 training images; return its activations on ``n_samples`` test images.

    Parameters
    ----------
    n_samples : test images whose activations are returned (at most 10000; a stratified random subset).
    n_layers, width : hidden layers and units per layer (the paper: 4 x 64).
    epochs : training epochs (Adam, lr 1e-3, batch 64, weight decay 1e-4).
    seed : seeds the initialisation, the shuffling and the subset.
    path : the MNIST file (default the shared copy, :data:`DEFAULT_MNIST`).
    """
    from sklearn.model_selection import train_test_split

    from neuralign.data.multiregion import layer_activations, train_mlp

    n_samples = positive_int("n_samples", n_samples)
    seed = positive_int("seed", seed, minimum=0)
    train_images, train_labels = load_mnist(path, "train")
    test_images, test_labels = load_mnist(path, "test")
    if n_samples > len(test_labels):
        raise ValueError(f"n_samples: at most {len(test_labels)} (the test images), got {n_samples}.")
    network = train_mlp(train_images, train_labels, n_layers=positive_int("n_layers", n_layers),
                        width=positive_int("width", width), epochs=positive_int("epochs", epochs), seed=seed)
    activations, predicted = layer_activations(network, test_images)
    accuracy = float((predicted == test_labels).mean())
    keep = np.arange(len(test_labels))
    if n_samples < len(test_labels):
        keep = np.sort(train_test_split(keep, train_size=n_samples, stratify=test_labels, random_state=seed)[0])
    return {f"layer{k + 1}": TrialData(
        counts=layer[keep][:, None, :], labels=test_labels[keep], signal="continuous", bin_size=1.0,
        meta={"dataset": "mnist_mlp", "region": f"layer{k + 1}", "test_accuracy": accuracy, "seed": seed,
              "note": "activations on MNIST test images of a network trained on the MNIST training images"})
        for k, layer in enumerate(activations)}

