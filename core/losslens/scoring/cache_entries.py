"""Where one scoring run lives in the cache: every key and path of it, built once per request.

Cache layout under LOSSLENS_HOME (`config.home()`):
  outputs/<key>.npy           raw model outputs: (N, K + D) for a classifier (K logits, then the
                              pooled embedding), (N, D) for an encoder; float32
  outputs/<key>.tokens.npy    (N,) int64 tokens of each (clipped) text, special tokens included,
                              counted up to max_length + 1 (more than max_length: truncated)
  chunks/<key>/               finished inference chunks of a run in progress (resume after a kill)
  neighbours/<key>.npy        the embeddings' neighbour graph (losslens.scoring.neighbours.Neighbours.to_array)
  probs/<key>.npy             final (N, K) class probabilities, columns in dataset label order
  probs/<key>.meta.json       {"kind": "classifier" | "encoder", "n_logits": K', "heads": [...]}
  probs/<key>.truncated.npy   (N,) bool: texts the model read only the beginning of
  probs/<key>.groups.npy      (N,) int64 conflict groups (losslens.scoring.neighbours.conflict_groups)
  chunks/folds-<key>/         finished folds of a fine-tuning head (resume after a kill)
  scores/<key>.npy            (N, 8) per-example scores (losslens.scoring.scores.ExampleScores.to_array)
  scratch/                    files of a bounded-memory scoring run in progress (losslens.scoring.batched)

Keys (each also covers losslens.scoring.cache.CODE_VERSION):
  outputs        the texts, the model identity, the RESOLVED precision (never "auto") and max length;
  probabilities  the data fingerprint (ids, texts, labels), the outputs key, folds, seed, label map
                 and the RESOLVED head ("classifier" for a classifier's own probabilities);
  scores         the probabilities key and the quality method.
The device is in no key: a GPU box fills the cache a laptop reads for the same resolved choices.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from losslens.scoring.cache import ChunkStore, cache_dir, cache_key, load_array
from losslens.scoring.heads import resolve_head
from losslens.scoring.models import ModelInfo
from losslens.scoring.request import ScoreSettings
from losslens.sources.datasets import LabeledTexts, texts_digest


@dataclass(frozen=True)
class OutputsEntry:
    """The model outputs of one list of texts: key, the parts it is the hash of, and n_logits, the
    columns of the outputs before the embeddings (K of a classifier, 0 for an encoder)."""

    key: str
    n_logits: int
    parts: dict[str, Any] = field(compare=False)

    @classmethod
    def of(cls, texts: Sequence[str], model: ModelInfo, max_length: int) -> OutputsEntry:
        parts = {"kind": "outputs", "texts": texts_digest(texts), "model": model.identity,
                 "precision": model.precision, "max_length": max_length}
        return cls(cache_key(**parts), model.n_logits, parts)

    @property
    def values(self) -> Path:
        return cache_dir("outputs") / f"{self.key}.npy"

    @property
    def token_counts(self) -> Path:
        return cache_dir("outputs") / f"{self.key}.tokens.npy"

    @property
    def chunks(self) -> ChunkStore:
        return ChunkStore(cache_dir("chunks") / self.key)

    @property
    def neighbours(self) -> Path:
        return cache_dir("neighbours") / f"{self.key}.npy"

    def load_embeddings(self) -> np.ndarray | None:
        """(N, D) float32 unit-norm embeddings; None when the entry is gone from the cache (scores
        stay valid without it; only "show similar" needs them)."""
        outputs = load_array(self.values)
        return None if outputs is None else outputs[:, self.n_logits:]


@dataclass(frozen=True)
class ScoringEntries:
    """Every key and path of one scoring run: its model outputs, and its probabilities with their
    side files and per-example scores. head: the resolved head the probabilities come from."""

    outputs: OutputsEntry
    probs_key: str
    scores_key: str
    head: str
    probs_parts: dict[str, Any] = field(compare=False)

    @classmethod
    def of(cls, data: LabeledTexts, model: ModelInfo, settings: ScoreSettings,
           label_map: dict[str, str] | None = None) -> ScoringEntries:
        """The entries of scoring `data` with `model` (resolved once) and `settings`."""
        outputs = OutputsEntry.of(data.texts, model, settings.max_length)
        head = "classifier" if model.kind == "classifier" else resolve_head(settings.head, model.spec.device)
        parts = {"kind": "probs", "data": data.fingerprint, "outputs": outputs.key, "folds": settings.folds,
                 "seed": settings.seed, "label_map": sorted((label_map or {}).items()), "head": head}
        probs_key = cache_key(**parts)
        return cls(outputs, probs_key, cache_key(probs=probs_key, method=settings.quality_method), head, parts)

    @property
    def probs(self) -> Path:
        return cache_dir("probs") / f"{self.probs_key}.npy"

    @property
    def meta(self) -> Path:
        return self.probs.with_suffix(".meta.json")

    @property
    def truncated(self) -> Path:
        return self.probs.with_suffix(".truncated.npy")

    @property
    def groups(self) -> Path:
        return self.probs.with_suffix(".groups.npy")

    @property
    def scores(self) -> Path:
        return cache_dir("scores") / f"{self.scores_key}.npy"

    @property
    def fold_chunks(self) -> ChunkStore:
        return ChunkStore(cache_dir("chunks") / f"folds-{self.probs_key}")
