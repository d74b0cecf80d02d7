"""Time neuralign's main steps on one device and write JSON: ``python scripts/device_timings.py OUT.json [DEVICE]``.

DEVICE defaults to CUDA when available, else CPU. The steps: the NEAT penalty (batch 1024, latent 16, forward +
backward), the Fourier and time-domain GP priors' KL step at T = 100, 400, 1600, an MM-GPVAE fit on the default
synthetic set (images), a SeqVAE fit + diffusion prior + ERDiff alignment on the bundled monkey pair, and the
demo's steps: an LFADS fit + the default alignment (DynamicsMatching) with its report (seed 0). Each figure is wall time on that device with its work synchronised.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import torch

from neuralign._atomic import atomic_path
from neuralign.align import DynamicsMatching, ERDiff
from neuralign.bench import environment
from neuralign.bench.mmgpvae import prior_step_ms, recovery_by_block
from neuralign.bench.neat import penalty_milliseconds
from neuralign.data.datasets import load
from neuralign.metrics import r2_percent
from neuralign.models import LFADS, MMGPVAE, SeqVAE
from neuralign.nn.fourier import FourierGPPrior, TimeDomainGPPrior
from neuralign.train import resolve_device


def main(out: str, device: str | None = None) -> dict:
    where = str(resolve_device(device))
    result: dict = {"device": where, "env": environment()}
    result["neat penalty ms (median of 50)"] = statistics.median(penalty_milliseconds(device=where))
    for name, prior_class in (("fourier", FourierGPPrior), ("time-domain", TimeDomainGPPrior)):
        for n_time in (100, 400, 1600):
            prior = prior_class(4, length_scale_init=10.0, min_length_scale=2.0, max_length_scale=40.0)
            result[f"{name} prior KL step ms, T={n_time}"] = prior_step_ms(prior, n_time, repeats=7, device=where)
    data = load("synthetic_mmgpvae", behavior="images", seed=0)
    train, test = data.split(0.2, seed=0)
    started = time.perf_counter()
    model = MMGPVAE(shared_dim=1, private_dim=1, seed=0, verbose=False, device=where).fit(train)
    result["mmgpvae fit s (synthetic images)"] = time.perf_counter() - started
    result["mmgpvae recovery R2"] = recovery_by_block(model, train, test)
    source, target = load("erdiff_miller_co")
    train, _ = source.split(0.25, seed=0)  # as the demo does
    started = time.perf_counter()
    vae = SeqVAE(seed=0, verbose=False, device=where).fit(train)
    result["seqvae fit s (monkey source)"] = time.perf_counter() - started
    align_half, eval_half = target.split(0.5, seed=0)
    aligner = ERDiff(vae, source=train, seed=0, device=where)
    started = time.perf_counter()
    aligner.fit_prior()
    result["erdiff prior s"] = time.perf_counter() - started
    started = time.perf_counter()
    aligner.fit(align_half)
    result["erdiff alignment s"] = time.perf_counter() - started
    result["erdiff velocity R2 % (evaluation half)"] = r2_percent(eval_half.behavior,
                                                                  aligner.predict_behavior(eval_half))
    started = time.perf_counter()
    lfads = LFADS(seed=0, verbose=False, device=where).fit(train)
    result["lfads fit s (monkey source)"] = time.perf_counter() - started
    result["lfads epochs"] = lfads.history_.epochs_run
    aligner = DynamicsMatching(lfads, source=train, seed=0, verbose=False, device=where)
    started = time.perf_counter()
    aligner.fit(align_half)
    result["dynamics alignment s"] = time.perf_counter() - started
    result["dynamics velocity R2 % (evaluation half)"] = r2_percent(eval_half.behavior,
                                                                    aligner.predict_behavior(eval_half))
    result["dynamics margin (z)"] = float(aligner.report_.margin)
    with atomic_path(out) as temporary:
        temporary.write_text(json.dumps(result, indent=2, default=float))
    return result


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    torch.manual_seed(0)
    print(json.dumps(main(*sys.argv[1:]), indent=2, default=float))
