"""Run the tests single-threaded: the models are tiny, and on a shared 2-core machine torch's intra-op
threads contend with other processes (measured: a 100-epoch toy fit took 9 s with 1 thread, 173 s with 2
threads while another training job ran)."""

import os

import pytest
import torch

# as neuralign.nn.matching does before it imports POT: POT's JAX backend would take 75 % of a GPU at import
# (the tests import POT directly too)
os.environ.setdefault("POT_BACKEND_DISABLE_JAX", "1")
os.environ.setdefault("POT_BACKEND_DISABLE_TENSORFLOW", "1")


@pytest.fixture(scope="session", autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _cuda_peak_memory(request):
    """On a CUDA machine with NEURALIGN_CUDA_PEAK_LOG=path set, log each test whose peak GPU memory is over 1 GiB."""
    path = os.environ.get("NEURALIGN_CUDA_PEAK_LOG")
    if not path or not torch.cuda.is_available():
        yield
        return
    torch.cuda.reset_peak_memory_stats()
    yield
    peak = torch.cuda.max_memory_allocated()
    if peak > 2 ** 30:
        with open(path, "a") as log:
            log.write(f"{peak / 2 ** 30:.1f} GiB {request.node.nodeid}\n")


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """A stand-in mnist.npz in the Keras layout (random 28 x 28 uint8 images, 20 train / 10 test per class), so
    the MNIST loaders and benchmarks are tested without the real file. Each class gets a bright block at its own
    place, so a classifier can learn the classes."""
    import numpy as np

    rng = np.random.default_rng(0)

    def split(per_class):
        labels = np.repeat(np.arange(10), per_class).astype(np.uint8)
        images = rng.integers(0, 60, size=(len(labels), 28, 28)).astype(np.uint8)
        for index, label in enumerate(labels):
            row, column = divmod(int(label), 5)
            images[index, 4 + 10 * row:10 + 10 * row, 2 + 5 * column:6 + 5 * column] = 255
        order = rng.permutation(len(labels))
        return images[order], labels[order]

    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    x_train, y_train = split(20)
    x_test, y_test = split(10)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
