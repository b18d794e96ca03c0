"""The scoring use case: `score(request, progress)` loads a dataset and scores it with a model,
from cache when it can. The app's background job and `losslens score` / `export` call exactly it.

Cache layout under LOSSLENS_HOME (`config.home()`):
  outputs/<key>.npy   raw model outputs (N, K) logits or (N, D) embeddings
  chunks/<key>/       finished inference chunks of a run in progress (resume after a kill)
  probs/<key>.npy     final (N, K) class probabilities, columns in dataset label order
  probs/<key>.kind    "classifier" or "encoder"
  scores/<key>.npy    (N, 8) per-example scores (losslens.scoring.ExampleScores.to_array)

Keys cover the data fingerprint, the model identity, the requested precision, max length and
head settings (and losslens.cache.CODE_VERSION), not the device: a GPU box can precompute the
cache a laptop reads. A cache hit loads neither torch nor cleanlab.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from losslens import config
from losslens.cache import ChunkStore, cache_dir, cache_key, load_array, save_array
from losslens.data import ColumnMapping, DatasetSource, LabeledTexts, load_dataset
from losslens.errors import ScoringError
from losslens.jobs import Progress
from losslens.models import (LoadedModel, ModelSpec, align_classifier_labels, load_model, model_identity,
                             model_kind_of)
from losslens.scoring import QUALITY_METHODS, ExampleScores, kfold_splits, out_of_sample_probs, score_examples, softmax


@dataclass(frozen=True)
class ScoreSettings:
    """Scoring knobs. batch_size (rows) and max_tokens (padded tokens per batch) only change
    speed; max_length (tokens per text), folds, quality_method and seed change the scores."""

    batch_size: int = 128
    max_tokens: int = 8192
    max_length: int = 256
    folds: int = 5
    quality_method: str = "self_confidence"
    seed: int = 0

    def check(self) -> None:
        """ScoringError for a value no run can use (checked before anything is loaded)."""
        for name in ("batch_size", "max_tokens", "max_length"):
            if int(getattr(self, name)) < 1:
                raise ScoringError(f"{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.folds < 2:
            raise ScoringError(f"folds must be at least 2 (got {self.folds})")
        if self.quality_method not in QUALITY_METHODS:
            raise ScoringError(f"unknown quality method {self.quality_method[:40]!r}; "
                               f"choose one of {', '.join(QUALITY_METHODS)}")


@dataclass(frozen=True)
class ScoreRequest:
    """Everything that decides a results table: the dataset (source, columns, drop_empty and the
    name its decisions are grouped under; None = the source's default), the model, the settings,
    and for a classifier whose labels differ from the dataset's, label_map: (model label,
    dataset label) pairs."""

    source: DatasetSource
    columns: ColumnMapping | None = None
    drop_empty: bool = False
    name: str | None = None
    model: ModelSpec = ModelSpec()
    settings: ScoreSettings = ScoreSettings()
    label_map: tuple[tuple[str, str], ...] = ()

    def job_key(self) -> str:
        """sha256 hex naming this request's background job: it changes with anything that changes
        the outcome, an edited local file (mtime, size) and LOSSLENS_HOME included."""
        parts = asdict(self)
        parts["source"] = {**parts["source"], "upload": None}
        upload = self.source.upload
        parts["upload_sha"] = hashlib.sha256(upload).hexdigest() if upload is not None else None
        parts["home"] = str(config.home())
        location = Path(self.source.location).expanduser()
        if self.source.kind in ("file", "disk") and location.exists():
            stat = location.stat()
            parts["file"] = (stat.st_mtime_ns, stat.st_size)
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def default_request() -> ScoreRequest:
    """What the app scores on first load: $LOSSLENS_DEMO_SOURCE with $LOSSLENS_DEFAULT_MODEL."""
    return ScoreRequest(source=DatasetSource.parse(config.demo_source()), model=ModelSpec(config.default_model()))


def score(request: ScoreRequest, progress: Progress | None = None) -> tuple[LabeledTexts, ScoredResults]:
    """Load the requested dataset and score it (cache hit when nothing changed).

    Raises a LossLensError for anything the user can fix; a classifier whose labels differ
    from the dataset's raises LabelMismatchError carrying both label lists.
    """
    request.settings.check()
    data = load_dataset(request.source, request.columns, drop_empty=request.drop_empty, name=request.name)
    results = score_dataset(data, request.model, request.settings, progress=progress,
                            label_map=dict(request.label_map) or None)
    return data, results

@dataclass
class ScoredResults:
    """One results table per (dataset, model, settings).

    table columns: id, text, label, predicted_label, loss, p_given, p_predicted, margin,
    quality, is_issue, rank, truncated, prob_<name> per class (see losslens.scoring.ExampleScores).
    out_of_sample: True when every probability came from a head that did not see the example
    (encoder + K-fold); False for a classifier scored on data it may have been trained on.
    """

    table: pd.DataFrame
    label_names: tuple[str, ...]
    out_of_sample: bool
    from_cache: bool
    seconds: float
    key: str
    model_kind: str

    @property
    def accuracy(self) -> float:
        """Fraction of examples whose predicted label equals the given label."""
        return float((self.table["predicted_label"] == self.table["label"]).mean())

    @property
    def n_issues(self) -> int:
        return int(self.table["is_issue"].sum())

    @property
    def n_truncated(self) -> int:
        """Texts longer than max_length tokens: scored on their beginning only."""
        return int(self.table["truncated"].sum())

    def probs(self) -> np.ndarray:
        """(N, K) float64 class probabilities, columns in label_names order."""
        return self.table[probability_columns(self.label_names)].to_numpy(dtype=np.float64)


def probability_columns(label_names: Sequence[str]) -> list[str]:
    """The results table's probability columns, one per class: prob_<name>."""
    return [f"prob_{name}" for name in label_names]


def score_dataset(
    data: LabeledTexts,
    spec: ModelSpec,
    settings: ScoreSettings = ScoreSettings(),
    progress: Progress | None = None,
    label_map: dict[str, str] | None = None,
) -> ScoredResults:
    """Score every example of `data` with the model of `spec`; loads from cache when it can."""
    started = time.perf_counter()
    settings.check()
    identity = model_identity(spec.name)
    probs_key = cache_key(
        kind="probs", data=data.fingerprint, model=identity, precision=spec.precision,
        max_length=settings.max_length, folds=settings.folds,
        seed=settings.seed, label_map=sorted((label_map or {}).items()),
    )
    probs_path = cache_dir("probs") / f"{probs_key}.npy"
    kind_path = probs_path.with_suffix(".kind")
    truncated_path = probs_path.with_suffix(".truncated.npy")
    scores_path = cache_dir("scores") / f"{cache_key(probs=probs_key, method=settings.quality_method)}.npy"
    probs, scores_array = load_array(probs_path), load_array(scores_path)
    truncated = load_array(truncated_path)
    from_cache = probs is not None and truncated is not None and kind_path.exists()
    if from_cache:
        model_kind = kind_path.read_text().strip()
    else:
        if model_kind_of(spec.name) == "encoder":  # knowable from the labels: check before inference
            kfold_splits(data.labels, data.label_names, settings.folds)
        model = load_model(spec)
        model_kind = model.kind
        truncated = truncated_mask(model.tokenizer, data.texts, settings.max_length)
        probs = _compute_probs(model, spec, identity, data, settings, progress, label_map)
        save_array(truncated_path, truncated)
        save_array(probs_path, probs)
        kind_path.write_text(model_kind)
        scores_array = None
    if scores_array is None or len(scores_array) != len(probs):
        scores_array = score_examples(probs, data.labels, settings.quality_method).to_array()
        save_array(scores_path, scores_array)
    table = build_results_table(data, probs, ExampleScores.from_array(scores_array), truncated)
    return ScoredResults(
        table=table,
        label_names=data.label_names,
        out_of_sample=model_kind == "encoder",
        from_cache=from_cache,
        seconds=time.perf_counter() - started,
        key=probs_key,
        model_kind=model_kind,
    )


def embed_texts(
    texts: Sequence[str],
    spec: ModelSpec = ModelSpec(),
    *,
    max_length: int = 256,
    batch_size: int = 128,
    max_tokens: int | None = 8192,
    progress: Progress | None = None,
) -> np.ndarray:
    """(N, D) float32 L2-normalised encoder embeddings of `texts`, cached on disk."""
    identity = model_identity(spec.name)
    key = _outputs_key(identity, spec, _texts_digest(texts), max_length)
    path = cache_dir("outputs") / f"{key}.npy"
    cached = load_array(path)
    if cached is not None:
        return cached
    model = load_model(spec)
    return _run_cached_inference(model, key, texts, batch_size, max_length, progress, max_tokens)


def build_results_table(
    data: LabeledTexts, probs: np.ndarray, scores: ExampleScores, truncated: np.ndarray
) -> pd.DataFrame:
    """The results table (one row per example) from (N, K) probabilities, their scores and the
    (N,) bool mask of texts longer than max_length tokens (the model saw only their start)."""
    columns = {"id": data.ids, "text": data.texts, "label": data.labels}
    columns.update(asdict(scores))
    columns["truncated"] = truncated.astype(bool)
    table = pd.DataFrame(columns)
    for k, column in enumerate(probability_columns(data.label_names)):
        table[column] = probs[:, k].astype(np.float32)
    return table


def truncated_mask(tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    """(N,) bool: texts with more than max_length tokens (special tokens included)."""
    counts = tokenizer(
        list(texts), truncation=True, max_length=max_length + 1, return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]
    return np.fromiter((len(ids) > max_length for ids in counts), dtype=bool, count=len(counts))


def _compute_probs(
    model: LoadedModel,
    spec: ModelSpec,
    identity: str,
    data: LabeledTexts,
    settings: ScoreSettings,
    progress: Progress | None,
    label_map: dict[str, str] | None,
) -> np.ndarray:
    """Run (or resume) inference, then turn outputs into (N, K) dataset-ordered probabilities."""
    if model.kind == "classifier":
        columns = align_classifier_labels(model.model_labels, data.label_names, label_map)
    key = _outputs_key(identity, spec, _texts_digest(data.texts), settings.max_length)
    outputs = load_array(cache_dir("outputs") / f"{key}.npy")
    if outputs is None:
        outputs = _run_cached_inference(
            model, key, data.texts, settings.batch_size, settings.max_length, progress,
            settings.max_tokens,
        )
    if model.kind == "classifier":
        probs = softmax(outputs)[:, columns]
        return probs / probs.sum(axis=1, keepdims=True)
    return out_of_sample_probs(
        outputs, data.labels, data.label_names, settings.folds, settings.seed
    )


def _run_cached_inference(
    model: LoadedModel,
    key: str,
    texts: Sequence[str],
    batch_size: int,
    max_length: int,
    progress: Progress | None,
    max_tokens: int | None = None,
) -> np.ndarray:
    """Inference with resumable chunks; the finished array is saved and the chunks dropped."""
    from losslens.inference import run_inference  # torch: only when the model runs

    chunks = ChunkStore(cache_dir("chunks") / key)
    outputs = run_inference(
        model, list(texts), batch_size=batch_size, max_length=max_length,
        progress=progress, chunks=chunks, max_tokens=max_tokens,
    )
    save_array(cache_dir("outputs") / f"{key}.npy", outputs)
    chunks.clear()
    return outputs


def _outputs_key(identity: str, spec: ModelSpec, texts_id: str, max_length: int) -> str:
    return cache_key(
        kind="outputs", texts=texts_id, model=identity, precision=spec.precision,
        max_length=max_length,
    )


def _texts_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()
