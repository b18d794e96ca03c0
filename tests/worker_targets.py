"""Job functions the worker-process tests run (losslens.workers: `target(progress, *args)`, importable
by name from a fresh interpreter, so they live in a module of their own, not in the test file)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from losslens.errors import LabelMismatchError, LossLensError

HANG_GUARD_SECONDS = 300.0   # a target that waits for the test gives up after this (never reached)


def count_to(progress, n: int) -> dict:
    """progress(i, n) for i = 1..n; the worker's pid and 1 + 2 + ... + n."""
    for i in range(1, n + 1):
        progress(i, n)
    return {"pid": os.getpid(), "sum": n * (n + 1) // 2}


def wait_for_gate(progress, name: str, gate: str, log: str) -> str:
    """Append `name` to the file `log`, report (0, 1), wait until the file `gate` exists; `name`."""
    with open(log, "a") as handle:
        handle.write(name + "\n")
    progress(0, 1)
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    progress(1, 1)
    return name


def kill_myself(progress) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def refuse_labels(progress) -> None:
    raise LabelMismatchError("the model's labels differ from the dataset's\nsecond line", ["neg", "pos"], ["bad", "good"])


def thread_settings(progress) -> dict:
    """What the worker computes with: torch's threads, the BLAS pools' threads, the thread variables."""
    import torch
    from threadpoolctl import threadpool_info

    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM")
    return {"torch": torch.get_num_threads(), "environment": {name: os.environ.get(name) for name in names},
            "blas": sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})}


def refuse_with(progress, message: str) -> None:
    """Fail as a user-fixable error does: LossLensError(message)."""
    raise LossLensError(message)


def simulate_on_features(progress, data, settings, simulated_annotators: bool, features):
    """The ActiveLab simulation with `features` standing in for the encoder's embeddings."""
    from losslens.activelab import simulation

    simulation.embed_annotation_texts = lambda data, model, progress=None: features
    return simulation.simulate(data, settings, progress=progress, simulated_annotators=simulated_annotators)
