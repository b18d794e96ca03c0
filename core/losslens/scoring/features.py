"""What a model says about a dataset's texts, labels aside: its outputs (read from the cache, or
computed by an InferenceEngine and saved), each text's token count, the embeddings and their
neighbour graph. torch is imported only when the model has to run."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from losslens.jobs import Progress
from losslens.scoring.cache import ChunkStore, load_array, save_array
from losslens.scoring.cache_entries import OutputsEntry
from losslens.scoring.models import (
    CHARS_PER_TOKEN,
    LoadedModel,
    ModelInfo,
    ModelOutputs,
    ModelSpec,
    clipped_texts,
    load_model,
    resolve_model,
)
from losslens.scoring.neighbours import EXACT_KNN_LIMIT, Neighbours, knn_graph
from losslens.scoring.request import ScoreSettings


def run_locally(model: ModelInfo, loaded: LoadedModel, texts: Sequence[str], settings: ScoreSettings,
                chunks: ChunkStore, progress: Progress | None) -> ModelOutputs:
    """The default InferenceEngine: losslens.scoring.inference.run_inference in this process,
    float32 (N, W) outputs in the order of `texts` and their token counts, finished chunks kept in
    `chunks` (resume after a kill)."""
    from losslens.scoring.inference import (
        run_inference,  # torch: only when the model runs
    )

    return run_inference(loaded, texts, batch_size=settings.batch_size, max_length=settings.max_length,
                         progress=progress, chunks=chunks, max_tokens=settings.max_tokens)


InferenceEngine = Callable[[ModelInfo, LoadedModel, Sequence[str], ScoreSettings, ChunkStore, Progress | None],
                           ModelOutputs]
"""What computes model outputs, with run_locally's arguments and result: run_locally itself, or
losslens.scoring.ray_engine.RayEngine (the same chunks, so either engine resumes the other's run)."""


@dataclass(frozen=True)
class ModelFeatures:
    """What a model says about a dataset's texts, labels aside: logits (N, K') of a classifier
    ((N, 0) for an encoder), unit-norm embeddings (N, D), their neighbour graph (None above the
    exact-search limit), and token_counts (N,) (losslens.scoring.inference.TokenizedTexts.counts)."""

    logits: np.ndarray
    embeddings: np.ndarray
    neighbours: Neighbours | None
    token_counts: np.ndarray


def model_outputs(texts: Sequence[str], entry: OutputsEntry, model: ModelInfo, settings: ScoreSettings,
                  progress: Progress | None = None, engine: InferenceEngine | None = None) -> ModelOutputs:
    """The outputs of `model` for `texts` cached under `entry`, else inference by `engine` (default
    run_locally) on the texts as the model reads them (clipped_texts), with resumable chunks: the
    finished outputs and token counts are saved and the chunks dropped."""
    values, counts = load_array(entry.values), load_array(entry.token_counts)
    if values is not None and counts is not None and len(counts) == len(values):
        return ModelOutputs(values, counts)
    chunks = entry.chunks
    outputs = (engine or run_locally)(model, load_model(model), clipped_texts(texts, settings.max_length), settings,
                                      chunks, progress)
    save_array(entry.token_counts, outputs.token_counts)
    save_array(entry.values, outputs.values)
    chunks.clear()
    return outputs


def model_features(texts: Sequence[str], entry: OutputsEntry, model: ModelInfo, settings: ScoreSettings,
                   progress: Progress | None = None, engine: InferenceEngine | None = None) -> ModelFeatures:
    """The model's outputs for `texts` (model_outputs) split into logits and embeddings, with the
    embeddings' neighbour graph (from the cache, else built and saved)."""
    outputs = model_outputs(texts, entry, model, settings, progress, engine)
    embeddings = outputs.values[:, entry.n_logits:]
    neighbours = load_neighbours(entry)
    if neighbours is None:
        _save_neighbours(entry, embeddings)
        neighbours = load_neighbours(entry)
    return ModelFeatures(outputs.values[:, :entry.n_logits], embeddings, neighbours, outputs.token_counts)


def embed_texts(
    texts: Sequence[str],
    spec: ModelSpec = ModelSpec(),
    *,
    max_length: int = 256,
    batch_size: int = 128,
    max_tokens: int | None = 8192,
    progress: Progress | None = None,
) -> np.ndarray:
    """(N, D) float32 L2-normalised embeddings of `texts` (a classifier's pooled hidden state),
    cached on disk."""
    model = resolve_model(spec)
    entry = OutputsEntry.of(texts, model, max_length)
    settings = ScoreSettings(batch_size=batch_size, max_length=max_length, max_tokens=max_tokens or 10**9)
    return model_outputs(texts, entry, model, settings, progress).values[:, entry.n_logits:]


def truncated_mask(texts: Sequence[str], token_counts: np.ndarray, max_length: int) -> np.ndarray:
    """(N,) bool: texts with more than max_length tokens (special tokens included; token_counts as
    inference counted them), or longer than the model ever reads (clipped_texts)."""
    cap = max_length * CHARS_PER_TOKEN
    longer = np.fromiter((len(str(t)) > cap for t in texts), dtype=bool, count=len(texts))
    return longer | (np.asarray(token_counts) > max_length)


def load_neighbours(entry: OutputsEntry) -> Neighbours | None:
    """The cached neighbour graph of the entry's embeddings; None when not built (too many rows)."""
    array = load_array(entry.neighbours)
    return None if array is None else Neighbours.from_array(array)


def _save_neighbours(entry: OutputsEntry, embeddings: np.ndarray) -> None:
    """The neighbour graph of `embeddings`, when small enough for exact search."""
    if len(embeddings) <= EXACT_KNN_LIMIT:
        save_array(entry.neighbours, knn_graph(embeddings).to_array())
