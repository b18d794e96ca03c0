"""Consensus labels and ActiveLab scores (quiet wrappers around cleanlab.multiannotator).

Labels are (N, M) float matrices: class index 0..K-1, NaN where annotator m gave example n no
label. cleanlab prints notices to stdout and overwrites some inputs, so every call here gets
copies and runs with stdout and warnings silenced.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

ACTIONABLE_STATUSES = ("relabeled", "confirmed")   # reviewer decisions that count as an annotation
GIVEN = "given label"                              # the dataset's own label, as one more annotator


def quietly(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run a cleanlab call with its stdout chatter and warnings suppressed."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def majority_vote(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) int majority label per row; ties go to the class rarer among all annotations, then the lower index."""
    counts = np.stack([(labels == k).sum(axis=1) for k in range(n_classes)], axis=1)
    totals = counts.sum(axis=0)
    # Rank classes by rarity so a tie picks the rarest (cleanlab's empirical-frequency tiebreak).
    rarity = np.argsort(np.argsort(totals, kind="stable"), kind="stable")
    tiebreak = (n_classes - rarity) / (n_classes + 1.0)    # in (0, 1): never beats a real vote
    return np.argmax(counts + tiebreak, axis=1)


def _drop_empty_annotators(labels: np.ndarray) -> np.ndarray:
    return labels[:, ~np.isnan(labels).all(axis=0)].copy()


def crowdlab_consensus(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """(N,) int CROWDLAB consensus (cleanlab `get_label_quality_multiannotator`, best_quality)."""
    from cleanlab.multiannotator import get_label_quality_multiannotator

    labels = _drop_empty_annotators(labels)
    if (np.sum(~np.isnan(labels), axis=1) <= 1).all() or labels.shape[1] < 2:
        return majority_vote(labels, pred_probs.shape[1])   # cleanlab needs some overlap
    info = quietly(get_label_quality_multiannotator, labels, pred_probs.copy(), verbose=False,
                   return_detailed_quality=False, return_annotator_stats=False)
    return info["label_quality"]["consensus_label"].to_numpy(dtype=int)


def activelab_scores(labels: np.ndarray, pred_probs: np.ndarray,
                     pred_probs_unlabeled: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ActiveLab scores in 0..1 (lower = more worth another annotation) for labeled and unlabeled rows.

    labels: (N, M) annotations of the labeled rows; pred_probs: (N, K) out-of-sample probabilities
    for them; pred_probs_unlabeled: (U, K) or None. Returns ((N,), (U,)) — U is 0 when None.
    """
    from cleanlab.multiannotator import get_active_learning_scores

    unl = None if pred_probs_unlabeled is None or len(pred_probs_unlabeled) == 0 else pred_probs_unlabeled.copy()
    scores, scores_unl = quietly(get_active_learning_scores, _drop_empty_annotators(labels),
                                 pred_probs.copy(), unl)
    return np.asarray(scores, dtype=float), np.asarray(scores_unl, dtype=float)


def review_annotations(ids: np.ndarray, given: np.ndarray, decisions: pd.DataFrame | None,
                       label_names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """((N, 1 + R) annotations, their M = 1 + R annotator names): the given label (annotator
    "given label"), then one column per reviewer with that reviewer's latest decision.

    decisions: losslens.store.decisions frame [example_id, original_label, new_label, status, reviewer, ...]
    with labels as names, one row per example and reviewer (DecisionStore.in_force(...,
    per_reviewer=True), bound); only `relabeled` / `confirmed` rows count (confirmed without a
    new label repeats the original). Unknown ids or label names are ignored.
    """
    labels = np.asarray(given, dtype=float)[:, None]
    if decisions is None or decisions.empty:
        return labels, (GIVEN,)
    index = {str(i): n for n, i in enumerate(ids)}
    code = {name: k for k, name in enumerate(label_names)}
    kept = decisions[decisions["status"].isin(ACTIONABLE_STATUSES)]
    reviewers = sorted(kept["reviewer"].fillna("reviewer").astype(str).unique())
    extra = np.full((len(ids), len(reviewers)), np.nan)
    for row in kept.itertuples(index=False):
        name = row.new_label if isinstance(row.new_label, str) and row.new_label else row.original_label
        n, k = index.get(str(row.example_id)), code.get(str(name))
        if n is not None and k is not None:
            extra[n, reviewers.index(str(row.reviewer or "reviewer"))] = k
    return np.concatenate([labels, extra], axis=1), (GIVEN, *reviewers)


def next_batch(ids: np.ndarray, annotations: np.ndarray, pred_probs: np.ndarray,
               batch: int) -> pd.DataFrame:
    """The `batch` examples most worth another look, lowest ActiveLab score first.

    annotations: (N, M) from `review_annotations`; pred_probs: (N, K) out-of-sample probabilities.
    Returns columns id, activelab_score, annotations (count), consensus (class index).
    """
    scores, _ = activelab_scores(annotations, pred_probs)
    consensus = crowdlab_consensus(annotations, pred_probs)
    order = np.argsort(scores, kind="stable")[:batch]
    return pd.DataFrame({
        "id": np.asarray(ids)[order],
        "activelab_score": scores[order],
        "annotations": np.sum(~np.isnan(annotations[order]), axis=1),
        "consensus": consensus[order],
    })


def dataset_next_batch(data, probs: np.ndarray, applied: pd.DataFrame, batch: int) -> pd.DataFrame:
    """The `batch` examples of a scored dataset (losslens.sources.datasets.LabeledTexts) most worth another
    look: its given labels and the reviewers' decisions in force (`applied`, from
    losslens.review.binding.bind_decisions) as annotations, (N, K) out-of-sample `probs`.
    Columns: id, text, label, consensus (names), annotations, activelab_score."""
    names = tuple(data.label_names)
    ids = np.asarray(data.ids).astype(str)
    annotations, _ = review_annotations(ids, data.labels, applied, names)
    ranked = next_batch(ids, annotations, probs, batch)
    rows = data.id_index.get_indexer(ranked["id"].to_numpy(dtype=object))
    return pd.DataFrame({"id": ranked["id"], "text": data.texts[rows], "label": [names[k] for k in data.labels[rows]],
                         "consensus": [names[int(k)] for k in ranked["consensus"]],
                         "annotations": ranked["annotations"], "activelab_score": ranked["activelab_score"]})


@dataclass(frozen=True)
class ReviewerConsensus:
    """What several reviewers' decisions say together (CROWDLAB, cleanlab.multiannotator), over
    the examples at least one reviewer labelled, the given label counting as one more annotator.

    examples: id, consensus (label name), consensus_quality in [0, 1], agreement (share of
    annotators agreeing with the consensus), annotations (count). annotators: annotator,
    quality in [0, 1], agreement_with_consensus, examples (count). alpha: Krippendorff's alpha
    (nominal) among the reviewers alone, on the examples 2+ reviewers labelled; NaN without any.
    """

    examples: pd.DataFrame
    annotators: pd.DataFrame
    alpha: float
    overlap: int


def reviewer_consensus(data, probs: np.ndarray, applied_per_reviewer: pd.DataFrame) -> ReviewerConsensus | None:
    """The consensus of a scored dataset's reviewers (decisions in force per reviewer, from
    losslens.review.binding.bind_decisions(..., per_reviewer=True)) and its (N, K) out-of-sample
    probabilities; None when no reviewer has labelled anything."""
    import krippendorff
    from cleanlab.multiannotator import get_label_quality_multiannotator

    names = tuple(data.label_names)
    annotations, annotators = review_annotations(np.asarray(data.ids).astype(str), data.labels,
                                                 applied_per_reviewer, names)
    rows = np.flatnonzero(~np.isnan(annotations[:, 1:]).all(axis=1))
    if len(rows) == 0:
        return None
    info = quietly(get_label_quality_multiannotator, annotations[rows].copy(), probs[rows].copy(), verbose=False,
                   return_annotator_stats=True)
    quality, stats = info["label_quality"], info["annotator_stats"]
    examples = pd.DataFrame({"id": np.asarray(data.ids)[rows].astype(str),
                             "consensus": [names[int(k)] for k in quality["consensus_label"]],
                             "consensus_quality": quality["consensus_quality_score"].to_numpy(),
                             "agreement": quality["annotator_agreement"].to_numpy(),
                             "annotations": quality["num_annotations"].to_numpy()})
    stats = stats.reindex(range(len(annotators))).assign(annotator=list(annotators)).dropna(subset=["annotator_quality"])
    table = pd.DataFrame({"annotator": stats["annotator"], "quality": stats["annotator_quality"].to_numpy(),
                          "agreement_with_consensus": stats["agreement_with_consensus"].to_numpy(),
                          "examples": stats["num_examples_labeled"].to_numpy()})
    reviewers = annotations[rows][:, 1:]
    shared = (~np.isnan(reviewers)).sum(axis=1) >= 2
    alpha = float("nan")
    if shared.any() and len(np.unique(reviewers[shared][~np.isnan(reviewers[shared])])) > 1:
        alpha = float(krippendorff.alpha(reliability_data=reviewers[shared].T, level_of_measurement="nominal"))
    elif shared.any():
        alpha = 1.0   # every shared label the same: complete agreement
    return ReviewerConsensus(examples, table.reset_index(drop=True), alpha, int(shared.sum()))
