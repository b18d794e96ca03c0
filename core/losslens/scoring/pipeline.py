"""The scoring use case: `score(request, progress)` loads a dataset and scores it with a model,
from cache when it can. The app's background job and `losslens score` / `export` call exactly it.

A request is checked once (ScoreSettings.check), its model resolved once (resolve_model: a
ModelInfo) and its cache entries named once (ScoringEntries: every key and path, see
losslens.scoring.cache_entries); every step below takes those values. A cache hit loads neither
torch nor cleanlab.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from losslens import config
from losslens.errors import NotScoredError
from losslens.jobs import Progress
from losslens.scoring.cache import (
    cache_dir,
    load_array,
    load_json,
    save_array,
    save_json,
)
from losslens.scoring.cache_entries import ScoringEntries
from losslens.scoring.features import (
    InferenceEngine,
    load_neighbours,
    model_features,
    truncated_mask,
)
from losslens.scoring.heads import FoldLabels, HeadInputs, head_probs
from losslens.scoring.models import (
    ModelInfo,
    ModelSpec,
    align_classifier_labels,
    clipped_texts,
    resolve_model,
)
from losslens.scoring.neighbours import conflict_groups
from losslens.scoring.request import ScoreRequest, ScoreSettings
from losslens.scoring.results import ScoredResults, build_results_table
from losslens.scoring.scores import ExampleScores, fold_count, score_examples, softmax
from losslens.sources.datasets import LabeledTexts, load_dataset


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
    results = _score(data, resolve_model(request.model), request.settings, progress,
                     dict(request.label_map) or None, compute, engine)
    return data, results


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

    Stages, each cached: model outputs and token counts (keyed by the texts, model, resolved
    precision, max length) -> neighbour graph of their embeddings -> probabilities in dataset
    label order (+ data labels, folds, seed, label map, resolved head) -> per-example scores
    (+ quality method).
    """
    settings.check()
    return _score(data, resolve_model(spec), settings, progress, label_map, compute, engine)


def _score(data: LabeledTexts, model: ModelInfo, settings: ScoreSettings, progress: Progress | None,
           label_map: dict[str, str] | None, compute: bool, engine: InferenceEngine | None) -> ScoredResults:
    """score_dataset for a checked request whose model is resolved."""
    started = time.perf_counter()
    entries = ScoringEntries.of(data, model, settings, label_map)
    probs, truncated, meta = load_array(entries.probs), load_array(entries.truncated), load_json(entries.meta)
    scores_array = load_array(entries.scores)
    from_cache = probs is not None and truncated is not None and meta is not None
    if not from_cache and not compute:
        raise NotScoredError(f"{data.name} has not been scored with this model and these settings yet, and only "
                             "a lead can score it: ask a lead to score it, then open it again")
    if not from_cache:
        probs, truncated, meta = _probabilities(data, model, settings, entries, label_map, progress, engine)
        save_array(entries.truncated, truncated)
        save_array(entries.probs, probs)
        save_json(entries.meta, meta)
        scores_array = None
    if scores_array is None or len(scores_array) != len(probs):
        scores_array = example_scores(probs, data.labels, settings.quality_method)
        save_array(entries.scores, scores_array)
    neighbours = load_neighbours(entries.outputs)
    if (groups := load_array(entries.groups)) is None or len(groups) != len(data):
        groups = conflict_groups(pd.factorize(data.texts)[0], data.labels, neighbours)
        save_array(entries.groups, groups)
    table = build_results_table(data, probs, ExampleScores.from_array(scores_array), truncated, groups)
    return ScoredResults(
        table=table, label_names=data.label_names, out_of_sample=meta["kind"] == "encoder", from_cache=from_cache,
        seconds=time.perf_counter() - started, key=entries.probs_key, model_kind=meta["kind"], entries=entries,
        neighbours=neighbours, heads=tuple(meta.get("heads", ())),
    )


def _probabilities(data: LabeledTexts, model: ModelInfo, settings: ScoreSettings, entries: ScoringEntries,
                   label_map: dict[str, str] | None, progress: Progress | None,
                   engine: InferenceEngine | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """((N, K) probabilities in dataset label order, (N,) truncated mask, meta) computed: what the
    labels and the config tell is checked before the model runs."""
    model.check_max_length(settings.max_length)
    if model.kind == "encoder":
        fold_count(data.labels, data.label_names, settings.folds)
    else:
        columns = align_classifier_labels(model.labels, data.label_names, label_map)
    features = model_features(data.texts, entries.outputs, model, settings, progress, engine)
    truncated = truncated_mask(data.texts, features.token_counts, settings.max_length)
    meta = {"kind": model.kind, "n_logits": model.n_logits}
    if model.kind == "classifier":
        probs = softmax(features.logits)[:, columns]
        probs = probs / probs.sum(axis=1, keepdims=True)
        meta["heads"] = ["classifier"]
    else:
        fold_chunks = entries.fold_chunks   # a killed fine-tune resumes
        inputs = HeadInputs(clipped_texts(data.texts, settings.max_length), features.embeddings, features.neighbours,
                            model=model.spec.name, max_length=settings.max_length, device=model.spec.device)
        fit = FoldLabels.stratified(data.labels, data.label_names, settings.folds, settings.seed,
                                    chunks=fold_chunks, progress=progress)
        probs, parts = head_probs(entries.head, inputs, fit)
        fold_chunks.clear()
        meta["heads"] = list(parts)
    return probs, truncated, meta


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
