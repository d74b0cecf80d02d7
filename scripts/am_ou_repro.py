"""Reproduce / measure ActionMatching on the bench's OU systems, leave-one-out (issue: AM blow-up at early times).

usage: python scripts/am_ou_repro.py --dim 2 --seed 0 --holdout 1 [--set key=value ...]
Prints per-epoch validation parts, then W2 / sampling floor and velocity rel. L2 (probability flow) at the held-out
time, and where (which grid node) the kinetic energy of the fitted field concentrates.
"""
import argparse
import time

import numpy as np
import torch

from neuralign.bench.snapshots import VELOCITY_POINTS
from neuralign.data import snapshot_systems as systems
from neuralign.metrics import relative_l2, w2
from neuralign.snapshots.methods import build_method

parser = argparse.ArgumentParser()
parser.add_argument("--dim", type=int, default=2)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--holdout", type=int, nargs="+", default=[1])
parser.add_argument("--set", nargs="*", default=[])
parser.add_argument("--quiet", action="store_true")
args = parser.parse_args()
settings = {}
for item in args.set:
    key, value = item.split("=")
    try:
        settings[key] = int(value)
    except ValueError:
        try:
            settings[key] = float(value)
        except ValueError:
            settings[key] = value
torch.set_num_threads(1)
system = systems.ornstein_uhlenbeck(args.dim, n=400, seed=args.seed)
snapshots = system.snapshots()
rng = np.random.default_rng(args.seed + 7919)
for k in args.holdout:
    rest, t_held, held = snapshots.holdout(k)
    first, second = system.sample(t_held, len(held), rng), system.sample(t_held, len(held), rng)
    floor = w2(first, second)
    model = build_method("am", settings, seed=args.seed)
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(rest)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    logs = model.history_.logs
    if not args.quiet:
        keys = [key for key in logs if key.startswith("val/")]
        for epoch in range(0, len(logs[keys[0]]), 5):
            print(f"  epoch {epoch:3d} " + " ".join(f"{key[4:]} {logs[key][epoch]:9.3f}" for key in keys))
    predicted = model.predict([t_held], start=k - 1, seed=args.seed)[0]
    points = system.sample(t_held, VELOCITY_POINTS, rng)
    vel = relative_l2(model.velocity(points, t_held), system.velocity(points, t_held))
    # the field's size at every observed time on its own cloud and on the neighbours' clouds
    norms = []
    for j, t in enumerate(rest.times):
        norms.append(np.linalg.norm(model.velocity(rest.clouds[j], float(t)), axis=1).mean())
    true_norms = [np.linalg.norm(system.velocity(c, float(t)), axis=1).mean() for c, t in zip(rest.clouds, rest.times)]
    # where the fitted field is large: mean |grad_z s(., v)|^2 on each grid node's marginal, at its own time and at
    # the next node's time (the latter is unpenalised by the per-node quadrature of the kinetic term)
    if not args.quiet:
        from neuralign.snapshots.action_matching import _Marginals
        from neuralign.snapshots.fields import gradient
        from neuralign.snapshots.quadrature import time_nodes
        nodes = time_nodes(model._rescaled_time(rest.times), model.config.quadrature)
        tensors = [model._tensor(model._standardise(c)) for c in rest.clouds]
        draw = _Marginals(tensors, nodes, "ot", "exact").draw(200, torch.Generator().manual_seed(0))
        g = gradient(model.network_, draw["z"], draw["u"], create_graph=False)[1].detach()
        sq = (g ** 2).sum(-1).reshape(-1, 200).mean(1).numpy()
        us = draw["u"].reshape(-1, 200)[:, 0].numpy()
        row, out = 0, []
        for j, node in enumerate(nodes):
            n_rows = 1 + (j < len(nodes) - 1) + (j > 0)
            out.append(f"v={node.u:.2f}: own {sq[row]:.1f}" + (f", at next {sq[row + 1]:.1f}" if j < len(nodes) - 1 else ""))
            row += n_rows
        print("  |grad s|^2 on node marginals: " + "; ".join(out))
    print(f"d={args.dim} seed={args.seed} t={t_held:.1f} best_epoch={model.history_.best_epoch} "
          f"W2/floor={w2(predicted, held) / floor:.3f} vel_relL2={vel:.3f} fit={seconds:.1f}s (cpu {cpu:.1f}s) "
          f"|v| on clouds {np.round(norms, 2).tolist()} true {np.round(true_norms, 2).tolist()}", flush=True)
