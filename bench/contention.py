"""Scoring through the job registry (a worker process), idle and with every core busy, in one run.

A fixed subset of the demo (demo:bbc, every k-th of its articles, --n of them, written to a CSV:
the file is sorted by class, so its first articles would all be "business") is scored with the
bundled encoder through a JobRegistry, each run in a fresh LOSSLENS_HOME so that it computes
(after one unshown warm-up run that brings the model files into the page cache): on the machine
as it is ("idle": nothing of ours beside it), then with one CPU-bound process per core running
beside it. Per run: the job's CPU seconds per 1,000 examples (the worker's own rusage, sent with
its outcome; interpreter start, imports and model load included), wall seconds from submit to
result and to the first example done, this process's (the server's) resident memory before the
job and after it was released, and the server's CPU share: this process's CPU seconds during the
job over the job's. Last, for contrast, the same scoring in a thread of this process, as jobs ran
before the worker processes. Figures only, no assertions.

    python bench/contention.py [--n 200] [--model bundled:minilm]
"""
from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from machine import describe_cpu  # noqa: E402

from losslens.jobs import FINISHED, Job, JobRegistry  # noqa: E402
from losslens.scoring.models import ModelSpec  # noqa: E402
from losslens.scoring.pipeline import score  # noqa: E402
from losslens.scoring.request import ScoreRequest  # noqa: E402
from losslens.sources.datasets import ColumnMapping, DatasetSource, load_dataset  # noqa: E402
from losslens.worker_jobs import scoring_job  # noqa: E402

BUSY_LOOP = "while True: pass"


@dataclass(frozen=True)
class Run:
    """One scoring. job_cpu: CPU seconds of the work (the worker's own; in a thread, this process's);
    wall and first_progress: seconds from submit to the result and to the first example done;
    rss_before / rss_after: this process's resident bytes; server_cpu: this process's CPU seconds."""

    job_cpu: float
    wall: float
    first_progress: float
    rss_before: int
    rss_after: int
    server_cpu: float


def resident_bytes() -> int:
    """This process's resident memory (Linux /proc), after a garbage collection."""
    gc.collect()
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_model() -> str:
    """lscpu's "Model name"."""
    lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown")


def demo_subset(n: int, folder: Path, model: str) -> ScoreRequest:
    """Every k-th article of demo:bbc, `n` of them, as a CSV in `folder`; the request to score it with `model`."""
    import pandas as pd

    data = load_dataset(DatasetSource.parse("demo:bbc"))
    rows = list(range(0, len(data), len(data) // n))[:n]
    csv = folder / f"bbc_{n}.csv"
    pd.DataFrame({"id": data.ids[rows], "text": data.texts[rows],
                  "label": [data.label_names[k] for k in data.labels[rows]]}).to_csv(csv, index=False)
    return ScoreRequest(DatasetSource.parse(str(csv)), ColumnMapping("text", "label", "id"), model=ModelSpec(model))


def scored(registry: JobRegistry, key: str, work) -> Run:
    """Submit `work` under `key` in a fresh LOSSLENS_HOME, wait for it, release it; its figures."""
    os.environ["LOSSLENS_HOME"] = tempfile.mkdtemp(prefix="losslens-contention-")
    before, cpu, started = resident_bytes(), time.process_time(), time.perf_counter()
    job: Job = registry.submit(key, work, watcher="bench")
    first_progress = None
    while job.status not in FINISHED:
        if first_progress is None and job.done > 0:
            first_progress = time.perf_counter() - started
        time.sleep(0.05)
    wall, server_cpu = time.perf_counter() - started, time.process_time() - cpu
    if job.status != "done":
        raise SystemExit(f"{key}: {job.status}: {job.error}")
    job_cpu = job.cpu_seconds if job.cpu_seconds is not None else server_cpu
    registry.release(key, "bench")
    del job
    return Run(job_cpu, wall, first_progress or wall, before, resident_bytes(), server_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--model", default="bundled:minilm")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    request = demo_subset(args.n, Path(tempfile.mkdtemp()), args.model)
    print(f"lscpu model name: {cpu_model()}; {describe_cpu()}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"demo:bbc, {args.n} articles (every k-th), {args.model}, "
          f"LOSSLENS_JOB_THREADS={os.environ.get('LOSSLENS_JOB_THREADS', cores)}")
    registry = JobRegistry()
    scored(registry, "warm-up", scoring_job(request))   # the model files into the page cache, not shown
    runs = {"worker, idle": scored(registry, "idle", scoring_job(request))}
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(cores)]
    try:
        runs[f"worker, {cores} busy processes"] = scored(registry, "busy", scoring_job(request))
    finally:
        for process in busy:
            process.kill()
            process.wait()
    runs["server thread, idle (before)"] = scored(registry, "thread", lambda progress: score(request, progress))
    idle = runs["worker, idle"]
    print(f"{'run':<30} {'job CPU s/1k':>13} {'wall s':>17} {'1st done s':>10} {'server RSS MB':>16} "
          f"{'server CPU share':>16}")
    for name, run in runs.items():
        against = f" ({run.wall / idle.wall:.2f}x)" if run is not idle else ""
        print(f"{name:<30} {run.job_cpu * 1000 / args.n:>13.1f} {f'{run.wall:.1f}{against}':>17} "
              f"{run.first_progress:>10.1f} {f'{run.rss_before / 2**20:.0f} -> {run.rss_after / 2**20:.0f}':>16} "
              f"{run.server_cpu / run.job_cpu:>16.1%}")


if __name__ == "__main__":
    main()
