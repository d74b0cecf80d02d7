"""Tests of data-parallel training (neuralign.distributed, through neuralign.train): two CPU processes (gloo),
started as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment), train to the result of
one process with the same global batch; the batch must split evenly; only rank 0 writes; torchrun drives
`python -m neuralign fit`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import neuralign
from neuralign.distributed import DistributedContext, check_batch_size, check_device, distributed_context, shard
from neuralign.train import TrainConfig, train

SOURCE_ROOT = str(Path(neuralign.__file__).resolve().parents[1])

# Two sessions with their own read-ins (each minibatch leaves the other's unused) and a shared layer; 23 and 14
# trials, of which 18 and 11 train and 5 and 3 validate: with batch 4 the last minibatches hold 2, 3 (shared out
# 2 + 1), 1 (one process gets none) and 3 trials.
PROBLEM_SOURCE = textwrap.dedent("""
    import torch
    from torch import nn

    def make_problem():
        torch.manual_seed(0)
        module = nn.ModuleDict({"read_in": nn.ModuleList([nn.Linear(3, 8), nn.Linear(5, 8)]),
                                "shared": nn.Sequential(nn.Tanh(), nn.Linear(8, 1))})
        generator = torch.Generator().manual_seed(1)
        sessions = []
        for n_trials, n_features in ((23, 3), (14, 5)):
            x = torch.randn(n_trials, n_features, generator=generator)
            sessions.append({"x": x, "y": torch.sin(x).sum(dim=1, keepdim=True)})

        def loss_fn(batch):
            prediction = module["shared"](module["read_in"][batch["session"]](batch["x"]))
            error = ((prediction - batch["y"]) ** 2).mean()
            return {"loss": error, "mse": error.detach()}

        return module, loss_fn, sessions

    SETTINGS = dict(max_epochs=6, batch_size=4, learning_rate=0.02, weight_decay=0.01, val_fraction=0.2,
                    patience=100, seed=3, verbose=False, device="cpu")
    """)

WORKER_SOURCE = PROBLEM_SOURCE + textwrap.dedent("""
    import json, sys
    import neuralign.train
    from neuralign.train import TrainConfig, distributed_context, train

    out, checkpoint = sys.argv[1], sys.argv[2]
    context = distributed_context("cpu")
    saves = []
    write = neuralign.train.save_torch
    neuralign.train.save_torch = lambda *args: (saves.append(args[-1]), write(*args))
    module, loss_fn, sessions = make_problem()
    try:
        train(module, loss_fn, sessions, TrainConfig(**{**SETTINGS, "batch_size": 5}))
        odd_batch = "no error"
    except ValueError as error:
        odd_batch = str(error)
    history = train(module, loss_fn, sessions, TrainConfig(**SETTINGS, checkpoint_path=checkpoint))
    state = {name: value.tolist() for name, value in module.state_dict().items()}
    try:  # a checkpoint that rank 1 cannot see (as on a machine without the shared storage)
        unseen = checkpoint if context.rank == 0 else checkpoint + ".elsewhere"
        train(module, loss_fn, sessions, TrainConfig(**SETTINGS, checkpoint_path=unseen, resume=True))
        resumed = "no error"
    except ValueError as error:
        resumed = str(error)
    context.close()
    result = {"rank": context.rank, "world_size": context.world_size, "backend": context.backend,
              "odd_batch": odd_batch, "resumed": resumed, "saves": len(saves), "logs": history.logs,
              "best_epoch": history.best_epoch, "state": state}
    with open(f"{out}/rank{context.rank}.json", "w") as file:
        json.dump(result, file)
    """)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(**variables: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [SOURCE_ROOT, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **variables}


def test_two_processes_train_to_the_one_process_result_with_the_same_global_batch(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SOURCE)
    checkpoint = tmp_path / "run.ckpt"
    port = str(free_port())
    workers = [subprocess.Popen([sys.executable, str(script), str(tmp_path), str(checkpoint)],
                                env=environment(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                                                MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for rank in (0, 1)]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]

    namespace: dict = {}
    exec(PROBLEM_SOURCE, namespace)
    module, loss_fn, sessions = namespace["make_problem"]()
    history = train(module, loss_fn, sessions, TrainConfig(**namespace["SETTINGS"]))
    one_process = module.state_dict()

    for result in ranks:
        assert (result["world_size"], result["backend"]) == (2, "gloo")
        assert "batch_size" in result["odd_batch"] and "multiple of the number of processes (2)" in \
            result["odd_batch"] and "got 5" in result["odd_batch"]
        assert "checkpoint_path: the processes disagree (0 in one, 6 in another)" in result["resumed"]
        assert result["best_epoch"] == history.best_epoch
        assert result["logs"].keys() == history.logs.keys()
        for key, values in history.logs.items():
            assert result["logs"][key] == pytest.approx(values, rel=1e-5), key
        for name, value in one_process.items():
            torch.testing.assert_close(torch.tensor(result["state"][name]), value, rtol=1e-5, atol=1e-6)
    assert history.logs["val/loss"][-1] < history.logs["val/loss"][0]  # it trained: the comparison means something
    assert [result["saves"] for result in ranks] == [1, 0]  # rank 0 alone wrote the checkpoint
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["next_epoch"] == 6


def test_a_minibatch_is_shared_out_so_that_the_gradient_is_the_global_mean():
    index = torch.arange(10, 17)  # 7 trials over 3 processes: 3, 2, 2
    shares = [shard(index, DistributedContext(rank=rank, world_size=3)) for rank in range(3)]
    assert torch.cat([share for share, _ in shares]).tolist() == index.tolist()
    assert [weight for _, weight in shares] == pytest.approx([9 / 7, 6 / 7, 6 / 7])
    share, weight = shard(torch.tensor([4]), DistributedContext(rank=1, world_size=2))
    assert (share.tolist(), weight) == ([4], 0.0)  # nothing left for rank 1: a trial that counts for nothing


def test_a_batch_size_that_does_not_split_over_the_processes_names_the_argument():
    with pytest.raises(ValueError, match=r"batch_size: expected a multiple of the number of processes \(4\).*got 30"):
        check_batch_size(DistributedContext(rank=0, world_size=4), 30)
    check_batch_size(DistributedContext(rank=0, world_size=4), 32)
    check_batch_size(DistributedContext(), 31)  # one process: any batch size


def test_nccl_cannot_train_on_the_cpu():
    with pytest.raises(ValueError, match=r"device: the process group uses NCCL.*'cpu'"):
        check_device(DistributedContext(rank=0, world_size=2, backend="nccl"), torch.device("cpu"))
    cpu = torch.device("cpu")
    assert check_device(DistributedContext(rank=1, world_size=2, backend="gloo"), cpu) == cpu


def test_without_torchrun_the_context_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = distributed_context()
    assert (context.rank, context.world_size, context.active, context.is_main) == (0, 1, False, True)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed_context("cpu").active


@pytest.mark.parametrize("variables, message", [
    ({"WORLD_SIZE": "two"}, r"WORLD_SIZE: expected an integer >= 1 in the environment, got 'two'"),
    ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     r"RANK: expected a rank below WORLD_SIZE=2, got 2"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "1"}, r"MASTER_ADDR: WORLD_SIZE=2 needs MASTER_ADDR"),
    ({"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, r"RANK: expected an integer"),
])
def test_a_bad_torchrun_environment_names_the_variable(monkeypatch, variables, message):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed_context("cpu")
    assert not torch.distributed.is_initialized()


def test_one_process_ignores_the_distributed_machinery():
    # train() in a single process keeps its module plain (no DDP wrapper left behind) and gives the same result
    # twice; the bit-exact single-process behaviour is tested in test_train.py
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        module = nn.Linear(3, 1)
        x = torch.randn(12, 3, generator=torch.Generator().manual_seed(0))

        def loss_fn(batch):
            return {"loss": ((module(batch["x"]) - batch["x"].sum(1, keepdim=True)) ** 2).mean()}

        train(module, loss_fn, [{"x": x}], TrainConfig(max_epochs=3, batch_size=5, verbose=False, device="cpu"))
        results.append(module.weight.detach().clone())
    assert type(module) is nn.Linear
    assert torch.equal(results[0], results[1])


@pytest.mark.slow
def test_torchrun_fits_ndt2_with_two_processes_and_only_rank_0_writes_the_model(tmp_path):
    from neuralign.data.io import save
    from neuralign.datasets import load
    from neuralign.models import NDT2

    sessions = load("synthetic_reach_sessions", n_sessions=2, n_units=[12, 10], n_trials=24, n_time=6)
    for index, session in enumerate(sessions):
        save(session, tmp_path / f"session{index}.npz")
    config = tmp_path / "ndt2.yaml"
    config.write_text("patch_size: 4\nn_heads: 2\nbatch_size: 8\ndropout: 0.0\nval_fraction: 0.25\n")
    command = ["-m", "neuralign", "fit", str(tmp_path / "session0.npz"), "--model", "ndt2", "--config", str(config),
               "--latent-dim", "8", "--max-epochs", "3", "--device", "cpu", "--quiet", "--out"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
              "--master-addr", "127.0.0.1", "--master-port", str(free_port())]
    result = subprocess.run(launch + command + [str(tmp_path / "two.pt")], env=environment(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("saved to") == 1  # rank 0 alone reports and writes
    single = subprocess.run([sys.executable] + command + [str(tmp_path / "one.pt")], env=environment(),
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    two, one = NDT2.load(tmp_path / "two.pt"), NDT2.load(tmp_path / "one.pt")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pt") == ["one.pt", "two.pt"]
    # random masks are each process's own: the same loss in distribution, not the same numbers
    assert two.masked_loss(sessions[0]) == pytest.approx(one.masked_loss(sessions[0]), rel=0.05)
