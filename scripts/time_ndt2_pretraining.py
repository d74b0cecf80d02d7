"""Wall time of NDT2 pretraining on all 9 liu_pfc8a sessions (cue epoch, the bench's data) at the default size.

Usage: python scripts/time_ndt2_pretraining.py [THREADS]   (default 2: the issue's 2-core budget)
Prints seconds, epochs run and the epoch kept by early stopping, and the load average after the fit.
"""

from __future__ import annotations

import os
import sys
import time

import torch

from neuralign.bench import pretrain
from neuralign.models.ndt2 import NDT2


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    sessions = pretrain.real_sessions()
    started = time.perf_counter()
    model = NDT2(**pretrain.settings(100, False, head_weight=pretrain.HEAD_WEIGHT)).fit(sessions)
    seconds = time.perf_counter() - started
    print(f"9 sessions, cue epoch, default size, {torch.get_num_threads()} threads: {seconds:.1f} s, "
          f"{model.history_.epochs_run} epochs run, epoch {model.history_.kept_epoch} kept; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
