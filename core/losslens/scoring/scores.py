"""Per-example scores from class probabilities: loss, cleanlab label quality, issue flags, rank.

cleanlab and scikit-learn are imported inside the functions that use them, so reading
cached scores stays fast.

Shapes: N examples, K classes. `probs` is float (N, K) with rows summing to 1,
`labels` is int (N,) in 0..K-1.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from losslens.errors import ScoringError

QUALITY_METHODS = ("self_confidence", "normalized_margin")


@dataclass(frozen=True)
class ExampleScores:
    """Per-example score columns, each (N,).

    predicted_label: argmax class.
    loss: cross-entropy -ln p(given label), nats; higher = more suspicious.
    p_given / p_predicted: probabilities in [0, 1].
    margin: p(given) - max p(other class), in [-1, 1]; lower = more suspicious.
    quality: cleanlab label-quality score in [0, 1]; lower = more suspicious.
    is_issue: cleanlab `find_label_issues` flag.
    rank: cleanlab's review order, 1 first: the examples find_label_issues flags, then the rest,
        each part by quality ascending (ties: higher loss first). It differs from the loss order
        where cleanlab's flag does (loss = -ln quality under the default self_confidence).
    """

    predicted_label: np.ndarray
    loss: np.ndarray
    p_given: np.ndarray
    p_predicted: np.ndarray
    margin: np.ndarray
    quality: np.ndarray
    is_issue: np.ndarray
    rank: np.ndarray

    def to_array(self) -> np.ndarray:
        """(N, 8) float64, one column per field in declaration order (ints and bools exact)."""
        return np.column_stack([np.asarray(getattr(self, f.name), dtype=np.float64) for f in fields(self)])

    @classmethod
    def from_array(cls, array: np.ndarray) -> "ExampleScores":
        """Inverse of `to_array`."""
        types = {"predicted_label": np.int64, "is_issue": bool, "rank": np.int64}
        return cls(**{
            f.name: array[:, i].astype(types.get(f.name, np.float64)) for i, f in enumerate(fields(cls))
        })


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, computed in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def per_example_loss(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each example's given label, natural log, (N,)."""
    p_given = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(p_given, 1e-12, 1.0))


def fold_count(labels: np.ndarray, label_names: Sequence[str], folds: int) -> int:
    """How many folds K-fold scoring uses: min(folds, smallest class). Knowable from the labels
    alone, so it is checked before any inference; ScoringError when it cannot work."""
    if folds < 2:
        raise ScoringError(f"folds must be at least 2 (got {folds}): each example's probability comes "
                           "from a head fitted on the other folds")
    counts = np.bincount(labels, minlength=len(label_names))
    singles = [str(label_names[k]) for k in np.flatnonzero(counts == 1)]
    if singles:
        shown = ", ".join(repr(s[:40]) for s in singles[:5]) + (f" and {len(singles) - 5} more" if len(singles) > 5 else "")
        raise ScoringError(f"{len(singles)} label(s) have a single example ({shown}); K-fold scoring needs at "
                           "least 2 per label (fix, merge or remove those rows)")
    return int(min(folds, counts[counts > 0].min()))


def score_examples(
    probs: np.ndarray, labels: np.ndarray, method: str = "self_confidence"
) -> ExampleScores:
    """All per-example scores for (N, K) probabilities and (N,) given labels, in memory (for
    millions of rows, losslens.scoring.batched scores in bounded memory)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    columns = row_scores(probs, labels, method)
    is_issue = _find_issues(labels, probs)
    return ExampleScores(**columns, is_issue=is_issue, rank=review_rank(is_issue, columns["quality"], columns["loss"]))


def row_scores(probs: np.ndarray, labels: np.ndarray, method: str = "self_confidence") -> dict[str, np.ndarray]:
    """The ExampleScores columns each row's own probabilities decide, each (N,): predicted_label,
    loss, p_given, p_predicted, margin, quality (cleanlab's label quality by `method`)."""
    from cleanlab.rank import get_label_quality_scores

    if method not in QUALITY_METHODS:
        raise ScoringError(f"unknown quality method {method!r}; choose one of {QUALITY_METHODS}")
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    predicted = probs.argmax(axis=1)
    p_given = probs[rows, labels]
    others = probs.copy()
    others[rows, labels] = -np.inf
    return {
        "predicted_label": predicted.astype(np.int64),
        "loss": per_example_loss(probs, labels),
        "p_given": p_given,
        "p_predicted": probs[rows, predicted],
        "margin": p_given - others.max(axis=1),
        "quality": np.asarray(get_label_quality_scores(labels, probs, method=method), dtype=np.float64),
    }


def review_rank(is_issue: np.ndarray, quality: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """(N,) int64 review order, 1 first: flagged rows, then the rest, each by quality ascending,
    ties by higher loss, then by position."""
    order = np.lexsort((-loss, quality, ~is_issue))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def _find_issues(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab confident-learning issue mask (N,) bool; single-process for use inside the app."""
    from cleanlab.filter import find_label_issues

    present = np.unique(labels)
    if len(present) < 2:
        return np.zeros(len(labels), dtype=bool)
    return np.asarray(find_label_issues(labels, probs, n_jobs=1), dtype=bool)
