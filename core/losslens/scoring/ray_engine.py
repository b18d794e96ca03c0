"""`losslens score --engine ray`: the forward pass spread over a Ray cluster with Ray Data, written
into the same cache entry as the local engine.

The driver (the process that calls `score`) loads and validates the dataset exactly as the local
engine does (the cache key covers every row), tokenises the texts for their lengths (and token
counts, which the cache entry keeps for the truncation mask), sorts them
longest first and cuts the chunks that losslens.scoring.inference.run_inference cuts (CHUNK_ROWS rows of
that order). Chunks already in the ChunkStore are skipped; each other chunk becomes one Ray block
of (chunk, position, text) rows, and `map_batches` runs ChunkScorer, a callable class that loads
the model once per worker (the driver's ModelInfo, its precision pinned: every worker runs what the
cache key names) and runs run_inference on each chunk: the local engine's batches, so
its outputs. The driver saves every chunk as it comes back: a killed driver's run resumes from
them (with either engine), and Ray Data retries the chunks of a killed worker.

Ray is an optional extra (`pip install 'losslens[ray]'`), imported here and only when a run starts.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from losslens.scoring.cache import ChunkStore
from losslens.errors import EngineError, LossLensError, first_line
from losslens.jobs import Progress
from losslens.scoring.models import LoadedModel, ModelInfo, ModelOutputs

if TYPE_CHECKING:
    from losslens.scoring.request import ScoreSettings

TOKENIZE_ROWS = 65_536  # texts the driver tokenises at a time for their lengths (bounds its memory)


@dataclass(frozen=True)
class RayEngine:
    """A losslens.scoring.features.InferenceEngine on Ray. address: an existing cluster's (host:port, or
    "auto" for the one `ray start` began on this machine); None starts a local cluster for the run
    and stops it after. concurrency: workers, each holding one copy of the model. num_cpus /
    num_gpus: what each worker reserves; a CPU worker runs torch on num_cpus threads."""

    address: str | None = None
    concurrency: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 0.0

    def check(self) -> None:
        """EngineError for a value no run can use, or when Ray is not installed."""
        if self.concurrency < 1:
            raise EngineError(f"--concurrency must be at least 1 (got {self.concurrency})")
        if not (math.isfinite(self.num_cpus) and self.num_cpus > 0):
            raise EngineError(f"--num-cpus must be a positive number (got {self.num_cpus})")
        if not (math.isfinite(self.num_gpus) and self.num_gpus >= 0):
            raise EngineError(f"--num-gpus must be 0 or more (got {self.num_gpus})")
        if self.address is not None and not self.address.strip():
            raise EngineError("--address is empty: give host:port of a Ray cluster, or leave it out for a local one")
        if importlib.util.find_spec("ray") is None:
            raise EngineError("--engine ray needs Ray: pip install 'losslens[ray]'")

    def __call__(self, model: ModelInfo, loaded: LoadedModel, texts: Sequence[str], settings: ScoreSettings,
                 chunks: ChunkStore, progress: Progress | None) -> ModelOutputs:
        """ModelOutputs of `texts`: float32 (N, W) outputs, rows in their order, equal to
        run_locally's, and each text's token count. `loaded` (the model on the driver) gives the
        tokenizer and the output width; the workers load their own from `model`."""
        from losslens.scoring.inference import CHUNK_ROWS, chunk_bounds, length_order, output_width, restore_chunks

        self.check()
        n = len(texts)
        result = np.zeros((n, output_width(loaded)), dtype=np.float32)
        counts = _token_counts(loaded, texts, settings.max_length)
        if n == 0:
            return ModelOutputs(result, counts)
        order = length_order(np.minimum(counts, settings.max_length))
        bounds = chunk_bounds(n, CHUNK_ROWS)
        todo = restore_chunks(chunks, order, bounds, result)
        pending = {index: bounds[index][1] - bounds[index][0] for index in todo}
        done = n - sum(pending.values())
        if progress is not None and done:
            progress(done, n)
        if not todo:
            return ModelOutputs(result, counts)
        blocks = [_chunk_block(index, bounds[index], order, texts) for index in todo]
        with _cluster(self):
            for batch in _scored_blocks(blocks, self, model.pinned(), settings):
                positions = batch["position"]
                result[order[positions]] = batch["outputs"]
                for index, count in zip(*np.unique(batch["chunk"], return_counts=True)):
                    pending[int(index)] -= int(count)
                    if pending[int(index)] == 0:
                        start, stop = bounds[int(index)]
                        chunks.save(int(index), result[order[start:stop]])
                done += len(positions)
                if progress is not None:
                    progress(done, n)
        return ModelOutputs(result, counts)


class ChunkScorer:
    """The Ray Data callable class: loads the model once per worker, then runs
    losslens.scoring.inference.run_inference on each whole chunk of a batch (rows in the plan's order)."""

    def __init__(self, model: ModelInfo, settings: ScoreSettings) -> None:
        from losslens.scoring.models import load_model

        self.model = load_model(model)
        self.settings = settings

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{chunk (B,), position (B,), text (B,)} -> {chunk, position, outputs (B, W) float32}."""
        from losslens.scoring.inference import output_width, run_inference

        outputs = np.zeros((len(batch["position"]), output_width(self.model)), dtype=np.float32)
        for index in np.unique(batch["chunk"]):
            rows = np.flatnonzero(batch["chunk"] == index)
            outputs[rows] = run_inference(
                self.model, batch["text"][rows].tolist(), batch_size=self.settings.batch_size,
                max_length=self.settings.max_length, max_tokens=self.settings.max_tokens, chunk_size=len(rows)).values
        return {"chunk": batch["chunk"], "position": batch["position"], "outputs": outputs}


def _token_counts(model: LoadedModel, texts: Sequence[str], max_length: int) -> np.ndarray:
    """(N,) int64 token counts (special tokens included, up to max_length + 1), as run_inference
    counts them (losslens.scoring.inference.TokenizedTexts.counts)."""
    from losslens.scoring.inference import tokenize

    counts = [tokenize(model, texts[start:start + TOKENIZE_ROWS], max_length).counts
              for start in range(0, len(texts), TOKENIZE_ROWS)]
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def _chunk_block(index: int, bounds: tuple[int, int], order: np.ndarray, texts: Sequence[str]):
    """One chunk as an Arrow table: chunk index, positions start..stop-1 of the sorted order, their texts."""
    import pyarrow as pa

    start, stop = bounds
    return pa.table({"chunk": np.full(stop - start, index, dtype=np.int64),
                     "position": np.arange(start, stop, dtype=np.int64),
                     "text": pa.array([str(texts[i]) for i in order[start:stop]], type=pa.large_string())})


def _scored_blocks(blocks: list, engine: RayEngine, model: ModelInfo, settings: ScoreSettings) -> Iterator[dict]:
    """ChunkScorer's output batches as they finish; a failure inside Ray is one EngineError (or
    the LossLensError a worker raised)."""
    import ray
    import ray.data

    workers = min(engine.concurrency, len(blocks))   # a worker more than chunks would only load the model
    dataset = ray.data.from_arrow(blocks).map_batches(
        ChunkScorer, batch_size=None, compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=engine.num_cpus, num_gpus=engine.num_gpus,
        fn_constructor_kwargs={"model": model, "settings": settings})
    try:
        yield from dataset.iter_batches(batch_size=None, batch_format="numpy")
    except ray.exceptions.RayError as exc:
        raise _user_error(exc) or EngineError(
            f"the Ray run failed ({first_line(exc, 160)}); run again to resume from the chunks finished so far") from None


def _user_error(exc: BaseException | None) -> LossLensError | None:
    """The LossLensError a worker raised, found in the chain of Ray's wrappers; None if none."""
    from ray.exceptions import RayError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, LossLensError) and not isinstance(exc, RayError):
            return exc
        seen.add(id(exc))
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None


@contextmanager
def _cluster(engine: RayEngine) -> Iterator[None]:
    """Ray connected for the run: a process already connected stays so; otherwise join
    engine.address, or start a local cluster that is shut down after. Ray Data's progress bars
    and notices are silenced (the caller reports progress)."""
    import ray
    from ray.data import DataContext

    if engine.address:
        _check_reachable(engine.address)
    started = not ray.is_initialized()
    if started:
        where = f"join the Ray cluster at {engine.address}" if engine.address else "start a local Ray cluster"
        try:
            ray.init(address=engine.address, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineError(f"cannot {where}: {first_line(exc, 160)}") from None
    try:
        _check_resources(engine, ray.cluster_resources())
        context = DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        yield
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """EngineError when nothing accepts a connection at host:port (ray.init would retry for minutes).
    "auto" and addresses without a port are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise EngineError(f"nothing answers at {address} ({exc.strerror or exc}): start the cluster "
                          "(`ray start --head`) or correct --address") from None


def _check_resources(engine: RayEngine, resources: dict[str, float]) -> None:
    """EngineError when the cluster cannot hold the workers asked for (Ray would wait for them forever)."""
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    if engine.concurrency * engine.num_cpus > cpus or engine.concurrency * engine.num_gpus > gpus:
        raise EngineError(
            f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs: {engine.concurrency} workers x "
            f"{engine.num_cpus:g} CPUs and {engine.num_gpus:g} GPUs each do not fit; lower --concurrency, "
            "--num-cpus or --num-gpus")
