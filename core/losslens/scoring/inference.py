"""The batched inference loop: tokenise once (counting each text's tokens for the truncation
mask), length-sorted dynamic padding, resumable chunks."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from queue import Queue
from typing import Iterator, Sequence, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from losslens.scoring.cache import ChunkStore
from losslens.jobs import Progress
from losslens.scoring.models import LoadedModel, ModelOutputs

T = TypeVar("T")
CHUNK_ROWS = 512  # rows of the longest-first order per resumable chunk


@dataclass(frozen=True)
class Batch:
    """Rows `positions` of the sorted order, padded to the longest of them. Tensors are (B, T)."""

    positions: np.ndarray
    inputs: dict[str, torch.Tensor]


@dataclass(frozen=True)
class TokenizedTexts:
    """Texts tokenised once: ids, unpadded input_ids (and token_type_ids when the model takes
    them) truncated to max_length; lengths (N,) int64, the tokens kept of each text; counts (N,)
    int64, each text's tokens (special tokens included) counted up to max_length + 1, so
    counts > max_length marks a text the model reads only the beginning of."""

    ids: dict[str, list[list[int]]]
    lengths: np.ndarray
    counts: np.ndarray


def tokenize(model: LoadedModel, texts: Sequence[str], max_length: int) -> TokenizedTexts:
    """TokenizedTexts of `texts` for `model`, truncated to max_length. Whether a text was cut comes
    from the same pass (the Rust tokenizer's overflow); a tokenizer without one (pure Python)
    cannot tell a text of exactly max_length tokens from a longer one, and counts it as cut."""
    names = [n for n in model.tokenizer.model_input_names if n in ("input_ids", "token_type_ids")]
    encoded = model.tokenizer(
        [str(t) for t in texts], truncation=True, max_length=max_length, padding=False,
        return_attention_mask=False, return_token_type_ids="token_type_ids" in names,
    )
    lengths = np.fromiter(map(len, encoded["input_ids"]), dtype=np.int64, count=len(texts))
    if encoded.encodings is not None:
        cut = np.fromiter((bool(e.overflowing) for e in encoded.encodings), dtype=bool, count=len(texts))
    else:
        cut = lengths >= max_length
    return TokenizedTexts({n: encoded[n] for n in names}, lengths, lengths + cut)


def length_order(lengths: np.ndarray) -> np.ndarray:
    """Positions sorted longest first (ties by original position): deterministic given the token lengths."""
    return np.lexsort((np.arange(len(lengths)), -lengths))


def plan_batches(lengths: np.ndarray, batch_size: int, max_tokens: int | None = None) -> list[np.ndarray]:
    """Split consecutive positions of a longest-first sequence into batches.

    A batch holds at most `batch_size` rows and, when max_tokens is given, at most
    max_tokens padded tokens (rows × its longest row); a single row always fits.
    """
    batches: list[np.ndarray] = []
    start, n = 0, len(lengths)
    while start < n:
        longest = max(int(lengths[start]), 1)
        size = batch_size if max_tokens is None else max(1, min(batch_size, max_tokens // longest))
        batches.append(np.arange(start, min(start + size, n)))
        start += size
    return batches


def _collate(model: LoadedModel, tokens: dict[str, list[list[int]]], rows: np.ndarray) -> dict[str, torch.Tensor]:
    """Right-pad rows (indices into `tokens`) to their longest: input_ids/token_type_ids/attention_mask (B, T) int64."""
    ids = [tokens["input_ids"][i] for i in rows]
    width = max(len(x) for x in ids)
    pad_id = model.tokenizer.pad_token_id or 0
    out = {"input_ids": np.full((len(ids), width), pad_id, dtype=np.int64)}
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for r, seq in enumerate(ids):
        out["input_ids"][r, : len(seq)] = seq
        mask[r, : len(seq)] = 1
    if "token_type_ids" in tokens:
        out["token_type_ids"] = np.zeros((len(ids), width), dtype=np.int64)
        for r, i in enumerate(rows):
            seq = tokens["token_type_ids"][i]
            out["token_type_ids"][r, : len(seq)] = seq
    out["attention_mask"] = mask
    return {k: torch.from_numpy(v).to(model.device, non_blocking=True) for k, v in out.items()}


def _prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Build the next batches on a background thread while the model runs on the current one."""
    queue: Queue = Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put(item)
        except BaseException as exc:  # surfaced in the consumer
            queue.put(exc)
        queue.put(done)

    thread = threading.Thread(target=work, name="losslens-collate", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            while not queue.empty():
                queue.get_nowait()
            thread.join(timeout=0.05)


def forward(model: LoadedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """float32 outputs of one batch. Encoder: (B, D) L2-normalised mean-pooled embeddings.
    Classifier: (B, K + D), its K logits then the same pooling of its last hidden state (the
    embedding that finds an example's neighbours)."""
    if model.kind == "classifier":
        out = model.model(**inputs, output_hidden_states=True)
        return torch.cat([out.logits.float(), _mean_pool(out.hidden_states[-1], inputs["attention_mask"])], dim=1)
    return _mean_pool(model.model(**inputs).last_hidden_state, inputs["attention_mask"])


def _mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, D) unit-norm mean of the (B, L, D) hidden states over the tokens the mask keeps."""
    hidden = hidden.float()
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9), p=2, dim=1)


def output_width(model: LoadedModel) -> int:
    """K + D (logits + pooled hidden state) for a classifier, D (hidden size) for an encoder."""
    config = model.model.config
    return int(config.hidden_size + (config.num_labels if model.kind == "classifier" else 0))


def chunk_bounds(n: int, chunk_size: int = CHUNK_ROWS) -> list[tuple[int, int]]:
    """[start, stop) of each chunk: `chunk_size` consecutive positions of the longest-first order of n texts."""
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def restore_chunks(chunks: ChunkStore | None, order: np.ndarray, bounds: list[tuple[int, int]],
                   result: np.ndarray) -> list[int]:
    """Copy every intact finished chunk of `chunks` into `result` (N, W) float32 at its original rows
    (order[start:stop]); return the indices of the chunks still to run."""
    stored = chunks.load_all() if chunks is not None else {}
    todo: list[int] = []
    for index, (start, stop) in enumerate(bounds):
        arr = stored.get(index)
        if arr is not None and arr.shape == (stop - start, result.shape[1]) and arr.dtype == np.float32:
            result[order[start:stop]] = arr
        else:
            todo.append(index)
    return todo


def run_inference(
    model: LoadedModel,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 256,
    progress: Progress | None = None,
    chunks: ChunkStore | None = None,
    chunk_size: int = CHUNK_ROWS,
    max_tokens: int | None = None,
) -> ModelOutputs:
    """ModelOutputs: float32 (N, K + D) logits and embeddings of a classifier or (N, D)
    unit-norm embeddings of an encoder (see forward), rows in the ORIGINAL order of `texts`, with
    each text's token count.

    Texts are tokenised once (which also counts their tokens), sorted longest first and cut into
    chunks of `chunk_size` rows of that sorted order; each chunk is batched (≤ batch_size rows, ≤ max_tokens padded tokens),
    padded per batch and run under torch.inference_mode. Finished chunks go to `chunks`
    and are loaded instead of recomputed on the next run (resume after a kill).
    progress(done, total) is called after every batch (and once up front with resumed rows).
    """
    if batch_size < 1 or chunk_size < 1 or max_length < 1:
        raise ValueError("batch_size, chunk_size and max_length must be positive")
    n, width = len(texts), output_width(model)
    result = np.zeros((n, width), dtype=np.float32)
    if n == 0:
        return ModelOutputs(result, np.zeros(0, dtype=np.int64))
    tokens = tokenize(model, texts, max_length)
    lengths = tokens.lengths
    order = length_order(lengths)
    bounds = chunk_bounds(n, chunk_size)
    todo = restore_chunks(chunks, order, bounds, result)
    done = n - sum(bounds[i][1] - bounds[i][0] for i in todo)
    if progress is not None and done:
        progress(done, n)

    def batches() -> Iterator[tuple[int, Batch]]:
        for index in todo:
            start, stop = bounds[index]
            for local in plan_batches(lengths[order[start:stop]], batch_size, max_tokens):
                rows = order[start + local]
                yield index, Batch(start + local, _collate(model, tokens.ids, rows))

    pending: dict[int, int] = {i: bounds[i][1] - bounds[i][0] for i in todo}
    with torch.inference_mode():
        for index, batch in _prefetch(batches()):
            result[order[batch.positions]] = forward(model, batch.inputs).cpu().numpy()
            done += len(batch.positions)
            pending[index] -= len(batch.positions)
            if pending[index] == 0 and chunks is not None:
                start, stop = bounds[index]
                chunks.save(index, result[order[start:stop]])
            if progress is not None:
                progress(done, n)
    return ModelOutputs(result, tokens.counts)
