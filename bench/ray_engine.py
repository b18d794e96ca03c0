"""Examples/s of the local engine vs `--engine ray` with 1 and 2 workers, side by side in one run.

Same texts (short news texts: two-sentence windows of the BBC demo articles, ~57 tokens), same
model and settings (the pipeline's defaults), each engine writing into a fresh ChunkStore. One
local Ray cluster (every CPU of the machine) is started first and reused, so its start is timed
once. A Ray run's fixed cost (a worker starts and loads the model) is measured by a run on one
text; then each engine scores all texts: total seconds, examples/s, and the largest difference of
its outputs from the local engine's. Figures only, no assertions.

    python bench/ray_engine.py [--n 8192] [--model bundled:minilm] [--precision auto]
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from machine import describe_cpu  # noqa: E402
from score_100k import short_news_texts  # noqa: E402

from losslens.scoring.cache import ChunkStore  # noqa: E402
from losslens.scoring.models import ModelInfo, ModelSpec, load_model, resolve_model  # noqa: E402
from losslens.scoring.features import run_locally  # noqa: E402
from losslens.scoring.request import ScoreSettings  # noqa: E402
from losslens.scoring.ray_engine import RayEngine  # noqa: E402


def timed(engine: Callable, info: ModelInfo, model, texts: list[str], settings: ScoreSettings) -> tuple[np.ndarray, float]:
    """(outputs, seconds) of `engine` on `texts`, into a fresh ChunkStore."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        outputs = engine(info, model, texts, settings, ChunkStore(folder), None).values
        return outputs, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--model", default="bundled:minilm")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    import ray

    texts = short_news_texts(args.n)["text"].tolist()
    spec, settings = ModelSpec(args.model, "cpu", args.precision), ScoreSettings()
    info = resolve_model(spec)
    model = load_model(info)
    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    cluster_seconds = time.perf_counter() - started
    print(f"{describe_cpu()}; {args.n} short news texts; {args.model} ({model.precision}); "
          f"batch {settings.batch_size}, max length {settings.max_length}; local Ray cluster started in "
          f"{cluster_seconds:.1f} s")
    engines = [("local engine (this process, torch threads: all cores)", run_locally)]
    engines += [(f"ray: {workers} worker{'s' * (workers > 1)} x {cpus} CPU{'s' * (cpus > 1)}",
                 RayEngine(concurrency=workers, num_cpus=cpus))
                for workers, cpus in ((1, 1), (1, os.cpu_count()), (os.cpu_count(), 1))]
    fixed = timed(RayEngine(), info, model, texts[:1], settings)[1]
    print(f"fixed cost of a Ray run (one worker starts, loads the model, scores one text): {fixed:.1f} s")
    print(f"{'engine':<54} {'total s':>8} {'examples/s':>11} {'max |diff|':>11}")
    reference = None
    for name, engine in engines:
        outputs, seconds = timed(engine, info, model, texts, settings)
        reference = outputs if reference is None else reference
        print(f"{name:<54} {seconds:>8.1f} {len(texts) / seconds:>11.1f} {np.abs(outputs - reference).max():>11.2e}",
              flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
