"""Retraining on the reviewers' corrected labels: refit an encoder's heads with the decisions in
force, rank every example again, and say what the corrections changed on the trusted set (with
bootstrap intervals)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from losslens.errors import ScoringError
from losslens.scoring.cache import cache_key
from losslens.scoring.features import model_features
from losslens.scoring.heads import FoldLabels, HeadInputs, head_probs
from losslens.scoring.models import ModelSpec, clipped_texts, resolve_model
from losslens.scoring.request import ScoreSettings
from losslens.scoring.results import ScoredResults, build_results_table
from losslens.scoring.scores import score_examples
from losslens.sources.datasets import LabeledTexts


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
    features = model_features(data.texts, results.entries.outputs, resolve_model(spec), settings)
    inputs = HeadInputs(clipped_texts(data.texts, settings.max_length), features.embeddings, features.neighbours,
                        model=spec.name, max_length=settings.max_length, device=spec.device)
    fit = FoldLabels.stratified(corrected, data.label_names, settings.folds, settings.seed, exclude=removed)
    probs, parts = head_probs("ensemble" if results.heads != ("finetune",) else "finetune", inputs, fit)
    scores = score_examples(probs, data.labels, settings.quality_method)
    groups = results.table["conflict_group"].to_numpy()
    table = build_results_table(data, probs, scores, results.table["truncated"].to_numpy(), groups)
    trusted = rows[(applied["status"].isin(["confirmed", "relabeled"])).to_numpy()]
    accuracy = trusted_accuracy(corrected[trusted], results.table["predicted_label"].to_numpy()[trusted],
                                probs[trusted].argmax(axis=1))
    decisions_key = cache_key(base=results.key, decided=applied[["example_id", "status", "new_label"]].to_numpy().tolist())
    rescored = ScoredResults(table=table, label_names=data.label_names, out_of_sample=True, from_cache=False,
                             seconds=time.perf_counter() - started, key=decisions_key, model_kind="encoder",
                             entries=results.entries, neighbours=features.neighbours, heads=tuple(parts))
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
