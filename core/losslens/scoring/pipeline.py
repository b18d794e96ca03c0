"""The scoring use case: `score(request, progress)` loads a dataset and scores it with a model,
from cache when it can. The app's background job and `losslens score` / `export` call exactly it.

Cache layout under LOSSLENS_HOME (`config.home()`):
  outputs/<key>.npy   raw model outputs (N, K) logits or (N, D) embeddings
  chunks/<key>/       finished inference chunks of a run in progress (resume after a kill)
  probs/<key>.npy     final (N, K) class probabilities, columns in dataset label order
  probs/<key>.kind    "classifier" or "encoder"
  scores/<key>.npy    (N, 8) per-example scores (losslens.scoring.scores.ExampleScores.to_array)
  scratch/            files of a bounded-memory scoring run in progress (losslens.scoring.batched)

Keys cover the data fingerprint, the model identity, the requested precision, max length and
head settings (and losslens.scoring.cache.CODE_VERSION), not the device: a GPU box can precompute the
cache a laptop reads. A cache hit loads neither torch nor cleanlab.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from losslens import config
from losslens.scoring.cache import ChunkStore, cache_dir, cache_key, load_array, load_json, save_array, save_json
from losslens.sources.datasets import ColumnMapping, DatasetSource, LabeledTexts, load_dataset, texts_digest
from losslens.errors import NotScoredError, ScoringError
from losslens.jobs import Progress
from losslens.scoring.models import (LoadedModel, ModelSpec, align_classifier_labels, check_max_length, clipped_texts,
                             load_model, logit_count, model_identity, model_kind_of)
from losslens.scoring.neighbours import EXACT_KNN_LIMIT, Neighbours, conflict_groups, knn_graph
from losslens.scoring.heads import head_probs, resolve_head
from losslens.scoring.scores import QUALITY_METHODS, ExampleScores, kfold_splits, score_examples, softmax


@dataclass(frozen=True)
class ScoreSettings:
    """Scoring knobs. batch_size (rows) and max_tokens (padded tokens per batch) only change
    speed; max_length (tokens per text), folds, quality_method, seed and head (an encoder's
    out-of-sample head, see losslens.scoring.heads) change the scores."""

    batch_size: int = 128
    max_tokens: int = 8192
    max_length: int = 256
    folds: int = 5
    quality_method: str = "self_confidence"
    seed: int = 0
    head: str = "auto"

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
        resolve_head(self.head, "cpu")


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
        location = self.source.local_path()
        if location is not None and location.exists():
            stat = location.stat()
            parts["file"] = (stat.st_mtime_ns, stat.st_size)
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def default_request() -> ScoreRequest:
    """What the app scores on first load: $LOSSLENS_DEMO_SOURCE with $LOSSLENS_DEFAULT_MODEL."""
    return ScoreRequest(source=DatasetSource.parse(config.demo_source()), model=ModelSpec(config.default_model()))


def score(request: ScoreRequest, progress: Progress | None = None,
          compute: bool = True, engine: InferenceEngine | None = None) -> tuple[LabeledTexts, ScoredResults]:
    """Load the requested dataset and score it (cache hit when nothing changed); with compute
    False, only open results already scored (a team's reviewer opens what a lead scored).
    `engine` runs the model when it must (default run_locally; losslens.scoring.ray_engine.RayEngine
    spreads it over Ray).

    Raises a LossLensError for anything the user can fix; a classifier whose labels differ
    from the dataset's raises LabelMismatchError carrying both label lists.
    """
    request.settings.check()
    data = load_dataset(request.source, request.columns, drop_empty=request.drop_empty, name=request.name)
    results = score_dataset(data, request.model, request.settings, progress=progress,
                            label_map=dict(request.label_map) or None, compute=compute, engine=engine)
    return data, results

@dataclass
class ScoredResults:
    """One results table per (dataset, model, settings).

    table columns: id, text, label, predicted_label, loss, p_given, p_predicted, margin,
    quality, is_issue, rank, truncated, prob_<name> per class (see losslens.scoring.scores.ExampleScores).
    out_of_sample: True when every probability came from a head that did not see the example
    (encoder + K-fold); False for a classifier scored on data it may have been trained on.
    neighbours: each example's nearest others by embedding (None above
    neighbours.EXACT_KNN_LIMIT rows). outputs_key / n_logits locate the cached model outputs
    whose columns from n_logits on are the embeddings.
    """

    table: pd.DataFrame
    label_names: tuple[str, ...]
    out_of_sample: bool
    from_cache: bool
    seconds: float
    key: str
    model_kind: str
    neighbours: Neighbours | None = None
    outputs_key: str = ""
    n_logits: int = 0
    heads: tuple[str, ...] = ()

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

    def embeddings(self) -> np.ndarray | None:
        """(N, D) float32 unit-norm embeddings from the model-output cache; None when that cache
        entry is gone (the scores stay valid; only "show similar" needs them)."""
        outputs = load_array(cache_dir("outputs") / f"{self.outputs_key}.npy") if self.outputs_key else None
        return None if outputs is None else outputs[:, self.n_logits:]


def probability_columns(label_names: Sequence[str]) -> list[str]:
    """The results table's probability columns, one per class: prob_<name>."""
    return [f"prob_{name}" for name in label_names]


def score_dataset(
    data: LabeledTexts,
    spec: ModelSpec,
    settings: ScoreSettings = ScoreSettings(),
    progress: Progress | None = None,
    label_map: dict[str, str] | None = None,
    compute: bool = True,
    engine: InferenceEngine | None = None,
) -> ScoredResults:
    """Score every example of `data` with the model of `spec`; loads from cache when it can
    (compute False: only from cache, else a NotScoredError).

    Stages, each cached: model outputs (keyed by the texts, model, precision, max length) ->
    neighbour graph of their embeddings -> probabilities in dataset label order (+ data labels,
    folds, seed, label map) -> per-example scores (+ quality method).
    """
    started = time.perf_counter()
    settings.check()
    identity = model_identity(spec.name)
    outputs_key = _outputs_key(identity, spec, texts_digest(data.texts), settings.max_length)
    head = resolve_head(settings.head, spec.device)
    probs_key = cache_key(
        kind="probs", data=data.fingerprint, model=identity, precision=spec.precision,
        max_length=settings.max_length, folds=settings.folds,
        seed=settings.seed, label_map=sorted((label_map or {}).items()), head=head,
    )
    probs_path = cache_dir("probs") / f"{probs_key}.npy"
    meta_path, truncated_path = probs_path.with_suffix(".meta.json"), probs_path.with_suffix(".truncated.npy")
    scores_path = cache_dir("scores") / f"{cache_key(probs=probs_key, method=settings.quality_method)}.npy"
    probs, truncated, meta = load_array(probs_path), load_array(truncated_path), load_json(meta_path)
    scores_array = load_array(scores_path)
    from_cache = probs is not None and truncated is not None and meta is not None
    if not from_cache and not compute:
        raise NotScoredError(f"{data.name} has not been scored with this model and these settings yet, and only "
                             "a lead can score it: ask a lead to score it, then open it again")
    if not from_cache:
        check_max_length(spec.name, settings.max_length)
        if model_kind_of(spec.name) == "encoder":  # knowable from the labels: check before inference
            kfold_splits(data.labels, data.label_names, settings.folds)
        model = load_model(spec)
        if model.kind == "classifier":  # a mismatch is reported before the model runs
            columns = align_classifier_labels(model.model_labels, data.label_names, label_map)
        truncated = truncated_mask(model.tokenizer, data.texts, settings.max_length)
        features = model_features(data, spec, settings, progress, model, engine)
        meta = {"kind": model.kind, "n_logits": features.logits.shape[1]}
        if model.kind == "classifier":
            probs = softmax(features.logits)[:, columns]
            probs = probs / probs.sum(axis=1, keepdims=True)
            meta["heads"] = ["classifier"]
        else:
            fold_chunks = ChunkStore(cache_dir("chunks") / f"folds-{probs_key}")   # a killed fine-tune resumes
            probs, heads = head_probs(data.texts, data.labels, data.label_names, features.embeddings,
                                      features.neighbours, head, settings.folds, settings.seed,
                                      model=spec.name, max_length=settings.max_length, device=spec.device,
                                      chunks=fold_chunks, progress=progress)
            fold_chunks.clear()
            meta["heads"] = list(heads)
        save_array(truncated_path, truncated)
        save_array(probs_path, probs)
        save_json(meta_path, meta)
        scores_array = None
    if scores_array is None or len(scores_array) != len(probs):
        scores_array = example_scores(probs, data.labels, settings.quality_method)
        save_array(scores_path, scores_array)
    neighbours = _load_neighbours(outputs_key)
    groups_path = probs_path.with_suffix(".groups.npy")
    if (groups := load_array(groups_path)) is None or len(groups) != len(data):
        groups = conflict_groups(pd.factorize(data.texts)[0], data.labels, neighbours)
        save_array(groups_path, groups)
    table = build_results_table(data, probs, ExampleScores.from_array(scores_array), truncated, groups)
    return ScoredResults(
        table=table,
        label_names=data.label_names,
        out_of_sample=meta["kind"] == "encoder",
        from_cache=from_cache,
        seconds=time.perf_counter() - started,
        key=probs_key,
        model_kind=meta["kind"],
        neighbours=neighbours,
        outputs_key=outputs_key,
        n_logits=int(meta["n_logits"]),
        heads=tuple(meta.get("heads", ())),
    )


def example_scores(probs: np.ndarray, labels: np.ndarray, method: str) -> np.ndarray:
    """(N, 8) ExampleScores.to_array of (N, K) probabilities and (N,) labels: in memory below
    config.batched_scoring_rows() rows, else by losslens.scoring.batched through scratch files
    in the cache (its flags follow cleanlab's find_label_issues_batched; see that module)."""
    if len(labels) < config.batched_scoring_rows():
        return score_examples(probs, labels, method).to_array()
    from losslens.scoring.batched import score_examples_batched

    with tempfile.TemporaryDirectory(prefix="scoring-", dir=cache_dir("scratch")) as scratch:
        folder = Path(scratch)
        np.save(folder / "probs.npy", np.asarray(probs, dtype=np.float64))
        np.save(folder / "labels.npy", np.asarray(labels, dtype=np.int64))
        return np.load(score_examples_batched(folder / "probs.npy", folder / "labels.npy", folder / "scores.npy", method))


@dataclass(frozen=True)
class ModelFeatures:
    """What a model says about a dataset's texts, labels aside: logits (N, K') of a classifier
    ((N, 0) for an encoder), unit-norm embeddings (N, D), and their neighbour graph (None above
    the exact-search limit). outputs_key names the cache entry."""

    outputs_key: str
    logits: np.ndarray
    embeddings: np.ndarray
    neighbours: Neighbours | None


def model_features(data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings = ScoreSettings(),
                   progress: Progress | None = None, model: LoadedModel | None = None,
                   engine: InferenceEngine | None = None) -> ModelFeatures:
    """The model's outputs for `data.texts` and their neighbour graph, from cache or by running
    the model (`model` when already loaded) with `engine` (default run_locally)."""
    key = _outputs_key(model_identity(spec.name), spec, texts_digest(data.texts), settings.max_length)
    outputs = load_array(cache_dir("outputs") / f"{key}.npy")
    if outputs is None:
        outputs = _model_outputs(spec, model or load_model(spec), key, data.texts, settings, progress, engine)
    n_logits = len(model.model_labels or ()) if model is not None else logit_count(spec.name)
    neighbours = _load_neighbours(key)
    if neighbours is None:
        _save_neighbours(key, outputs[:, n_logits:])
        neighbours = _load_neighbours(key)
    return ModelFeatures(key, outputs[:, :n_logits], outputs[:, n_logits:], neighbours)


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
    identity = model_identity(spec.name)
    key = _outputs_key(identity, spec, texts_digest(texts), max_length)
    outputs = load_array(cache_dir("outputs") / f"{key}.npy")
    if outputs is None:
        settings = ScoreSettings(batch_size=batch_size, max_length=max_length, max_tokens=max_tokens or 10**9)
        outputs = _model_outputs(spec, load_model(spec), key, texts, settings, progress)
    return outputs[:, logit_count(spec.name):]


def build_results_table(
    data: LabeledTexts, probs: np.ndarray, scores: ExampleScores, truncated: np.ndarray,
    conflict_group: np.ndarray | None = None,
) -> pd.DataFrame:
    """The results table (one row per example) from (N, K) probabilities, their scores, the
    (N,) bool mask of texts longer than max_length tokens (the model saw only their start) and
    (N,) conflict groups (identical or near-identical texts with different labels, -1 for none:
    losslens.scoring.neighbours.conflict_groups)."""
    columns = {"id": data.ids, "text": data.texts, "label": data.labels}
    columns.update(asdict(scores))
    columns["truncated"] = truncated.astype(bool)
    columns["conflict_group"] = np.full(len(data), -1, dtype=np.int64) if conflict_group is None else conflict_group
    table = pd.DataFrame(columns)
    for k, column in enumerate(probability_columns(data.label_names)):
        table[column] = probs[:, k].astype(np.float32)
    return table


def truncated_mask(tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    """(N,) bool: texts with more than max_length tokens (special tokens included), or longer
    than the model ever reads (clipped_texts)."""
    clipped = clipped_texts(texts, max_length)
    counts = tokenizer(
        clipped, truncation=True, max_length=max_length + 1, return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]
    longer = np.fromiter((len(t) > len(c) for t, c in zip(texts, clipped)), dtype=bool, count=len(clipped))
    return longer | np.fromiter((len(ids) > max_length for ids in counts), dtype=bool, count=len(counts))


def run_locally(spec: ModelSpec, model: LoadedModel, texts: Sequence[str], settings: ScoreSettings,
                chunks: ChunkStore, progress: Progress | None) -> np.ndarray:
    """The default InferenceEngine: losslens.scoring.inference.run_inference in this process, float32
    (N, W) in the order of `texts`, finished chunks kept in `chunks` (resume after a kill)."""
    from losslens.scoring.inference import run_inference  # torch: only when the model runs

    return run_inference(model, texts, batch_size=settings.batch_size, max_length=settings.max_length,
                         progress=progress, chunks=chunks, max_tokens=settings.max_tokens)


InferenceEngine = Callable[[ModelSpec, LoadedModel, Sequence[str], ScoreSettings, ChunkStore, Progress | None],
                           np.ndarray]
"""What computes model outputs, with run_locally's arguments and result: run_locally itself, or
losslens.scoring.ray_engine.RayEngine (the same chunks, so either engine resumes the other's run)."""


def _model_outputs(spec: ModelSpec, model: LoadedModel, key: str, texts: Sequence[str], settings: ScoreSettings,
                   progress: Progress | None, engine: InferenceEngine | None = None) -> np.ndarray:
    """The cached model outputs under `key`, else inference by `engine` (default run_locally) with
    resumable chunks: the finished array is saved and the chunks dropped. (N, K + D) for a
    classifier, (N, D) for an encoder."""
    outputs = load_array(cache_dir("outputs") / f"{key}.npy")
    if outputs is not None:
        return outputs
    chunks = ChunkStore(cache_dir("chunks") / key)
    outputs = (engine or run_locally)(spec, model, clipped_texts(texts, settings.max_length), settings, chunks,
                                      progress)
    save_array(cache_dir("outputs") / f"{key}.npy", outputs)
    chunks.clear()
    return outputs


def _save_neighbours(outputs_key: str, embeddings: np.ndarray) -> None:
    """The neighbour graph of `embeddings`, when small enough for exact search."""
    if len(embeddings) <= EXACT_KNN_LIMIT:
        save_array(cache_dir("neighbours") / f"{outputs_key}.npy", knn_graph(embeddings).to_array())


def _load_neighbours(outputs_key: str) -> Neighbours | None:
    array = load_array(cache_dir("neighbours") / f"{outputs_key}.npy")
    return None if array is None else Neighbours.from_array(array)


def _outputs_key(identity: str, spec: ModelSpec, texts_id: str, max_length: int) -> str:
    return cache_key(
        kind="outputs", texts=texts_id, model=identity, precision=spec.precision,
        max_length=max_length,
    )



@dataclass(frozen=True)
class TrustedAccuracy:
    """How often the model agrees with the reviewed label on the examples reviewers confirmed or
    relabeled (the trusted set, n of them), before and after refitting on the corrected labels,
    each with a 95% bootstrap interval (low, high). These examples were mostly picked because the
    model disagreed with them, so "before" is low by construction: the pair shows whether the
    corrections taught the model, not how accurate it is on new data."""

    n: int
    before: float
    after: float
    before_interval: tuple[float, float]
    after_interval: tuple[float, float]


def rescore_with_decisions(data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings, results: ScoredResults,
                           applied: pd.DataFrame) -> tuple[ScoredResults, TrustedAccuracy]:
    """Refit an encoder's heads on the labels the reviewers' decisions in force (`applied`, from
    losslens.review.binding.bind_decisions) give: relabeled examples take their new label, removed ones
    train nothing. Every example is scored again against its given label, so the queue re-ranks
    what is left; the trusted-set accuracy says what the corrections changed."""
    if results.model_kind != "encoder":
        raise ScoringError("retraining refits an encoder's heads; a classifier's probabilities are its own "
                           "(score with an encoder, e.g. bundled:minilm, to retrain on corrected labels)")
    started = time.perf_counter()
    corrected, removed = data.labels.copy(), np.zeros(len(data), dtype=bool)
    rows = applied["position"].to_numpy(dtype=np.int64)
    relabeled = (applied["status"] == "relabeled").to_numpy()
    corrected[rows[relabeled]] = pd.Index(data.label_names).get_indexer(applied["new_label"][relabeled])
    removed[rows[(applied["status"] == "removed").to_numpy()]] = True
    features = model_features(data, spec, settings)
    probs, heads = head_probs(data.texts, corrected, data.label_names, features.embeddings, features.neighbours,
                              "ensemble" if results.heads != ("finetune",) else "finetune", settings.folds,
                              settings.seed, model=spec.name, max_length=settings.max_length, device=spec.device,
                              exclude=removed)
    scores = score_examples(probs, data.labels, settings.quality_method)
    groups = results.table["conflict_group"].to_numpy()
    table = build_results_table(data, probs, scores, results.table["truncated"].to_numpy(), groups)
    trusted = rows[(applied["status"].isin(["confirmed", "relabeled"])).to_numpy()]
    accuracy = trusted_accuracy(corrected[trusted], results.table["predicted_label"].to_numpy()[trusted],
                                probs[trusted].argmax(axis=1))
    decisions_key = cache_key(base=results.key, decided=applied[["example_id", "status", "new_label"]].to_numpy().tolist())
    rescored = ScoredResults(table, data.label_names, True, False, time.perf_counter() - started, decisions_key,
                             "encoder", features.neighbours, features.outputs_key, 0, heads)
    return rescored, accuracy


def trusted_accuracy(truth: np.ndarray, before: np.ndarray, after: np.ndarray, resamples: int = 1000,
                     seed: int = 0) -> TrustedAccuracy:
    """Agreement of two (n,) predictions with `truth`, with 95% bootstrap intervals (same resamples)."""
    n = len(truth)
    if n == 0:
        return TrustedAccuracy(0, float("nan"), float("nan"), (float("nan"),) * 2, (float("nan"),) * 2)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    intervals = []
    for predicted in (before, after):
        hits = (predicted == truth).astype(float)
        means = hits[picks].mean(axis=1)
        intervals.append((float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))))
    return TrustedAccuracy(n, float((before == truth).mean()), float((after == truth).mean()), *intervals)
