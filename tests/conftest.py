"""Run the tests single-threaded: the models are tiny, and on a shared 2-core machine torch's intra-op
threads contend with other processes (measured: a 100-epoch toy fit took 9 s with 1 thread, 173 s with 2
threads while another training job ran)."""

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
