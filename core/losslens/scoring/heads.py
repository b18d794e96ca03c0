"""Out-of-sample heads: turn what an encoder says about a dataset (embeddings, neighbours, the
texts) into (N, K) class probabilities in which no example's probability comes from a model
that saw its label.

The contract: a Head is `fit(features, labels, n_classes, seed) -> fitted`, whose
`predict_proba(features)` gives (M, K) probabilities over all K classes; `out_of_fold` is the one
place that drives a Head over K folds. The ActiveLab simulation's heads
(losslens.activelab.heads.LogisticHead, losslens.scoring.finetune.FineTunedTransformer) fit it too.

The registry HEADS, by name (all on the same stratified folds), is what scoring, retraining and
`losslens evaluate` run:
  embedding  logistic regression (C=1) on the L2-normalised embeddings
  tfidf      logistic regression (C=10) on word 1-2 gram + character 2-5 gram TF-IDF of the texts
  knn        the labels of each example's 10 nearest neighbours (cosine-weighted, smoothed); not
             fitted per fold: out-of-sample by construction
  finetune   the encoder fine-tuned with a new head, once per fold (a GPU's job)
"ensemble" is the average of the ENSEMBLE members (knn only where a neighbour graph exists),
composed in head_probs only. Chosen by measurement (`losslens evaluate`, README "Detection
quality"): on the demo with 5% flipped labels it puts 96% flips in the top k where the embedding
head alone (at the earlier C=10) put 89%.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from losslens.errors import ScoringError
from losslens.jobs import Progress
from losslens.scoring.cache import ChunkStore
from losslens.scoring.models import expected_device
from losslens.scoring.neighbours import Neighbours
from losslens.scoring.scores import fold_count

HEAD_CHOICES = ("auto", "ensemble", "embedding", "finetune")
ENSEMBLE = ("embedding", "tfidf", "knn")
EMBEDDING_C = 1.0
TFIDF_C = 10.0
KNN_SMOOTHING = 0.5


class FittedHead(Protocol):
    def predict_proba(self, features: Any) -> np.ndarray:
        """(M, K) probabilities of the M rows of `features`, over all K classes."""


class Head(Protocol):
    """`fit(features, labels, n_classes, seed)` -> a FittedHead. `features` is any row-indexable
    array: embeddings, TF-IDF rows, or row numbers into texts the head holds itself."""

    def fit(self, features: Any, labels: np.ndarray, n_classes: int, seed: int) -> FittedHead: ...


class ReportingHead(Head, Protocol):
    """A Head that reports its training: `epochs` passes over the fit rows, and fit takes
    progress(n), told the training rows seen so far (over all epochs)."""

    epochs: int

    def fit(self, features: Any, labels: np.ndarray, n_classes: int, seed: int,
            progress: Callable[[int], None] | None = None) -> FittedHead: ...


def check_head(head: str) -> None:
    """ScoringError when `head` is not one of HEAD_CHOICES."""
    if head not in HEAD_CHOICES:
        raise ScoringError(f"unknown head {head[:40]!r}; choose one of {', '.join(HEAD_CHOICES)}")


def resolve_head(head: str, device: str) -> str:
    """The head a request runs: "auto" is "finetune" where the run uses a CUDA GPU (device cuda,
    or auto with an NVIDIA driver present: losslens.scoring.models.expected_device, no torch
    import), else "ensemble"."""
    check_head(head)
    if head != "auto":
        return head
    return "finetune" if expected_device(device) == "cuda" else "ensemble"


def folds_of(labels: np.ndarray, label_names: Sequence[str], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train rows, held-out rows) of every stratified fold, shared by all heads."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=fold_count(labels, label_names, folds), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def out_of_fold(head: Head | ReportingHead, features: Any, labels: np.ndarray, n_classes: int,
                splits: Sequence[tuple[np.ndarray, np.ndarray]], seed: int, *, unlabeled: Any = None,
                chunks: ChunkStore | None = None, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """K-fold driving of any Head: ((N, K) float64 held-out probabilities, each row predicted by the
    fit on the folds without it; (U, K) the mean over the fits of their predictions for the U rows
    of `unlabeled`, (0, K) without them).

    chunks: each finished fold's held-out rows are stored there and read back instead of refitted
    (a killed run resumes with the next fold; not together with `unlabeled`). progress(done,
    total), for a ReportingHead: training rows seen (x epochs) plus held-out rows predicted.
    """
    if chunks is not None and unlabeled is not None:
        raise ValueError("out_of_fold resumes folds from chunks only without unlabeled rows")
    held_out = np.zeros((len(labels), n_classes), dtype=np.float64)
    pooled = np.zeros((0 if unlabeled is None else len(unlabeled), n_classes))
    epochs = head.epochs if progress is not None else 1
    total = sum(len(train) * epochs + len(held) for train, held in splits)
    stored = chunks.load_all() if chunks is not None else {}
    done = 0
    for fold, (train, held) in enumerate(splits):
        if fold in stored and stored[fold].shape == (len(held), n_classes):
            held_out[held] = stored[fold]
        else:
            if progress is None:
                fitted = head.fit(features[train], labels[train], n_classes, seed)
            else:
                fitted = head.fit(features[train], labels[train], n_classes, seed,
                                  progress=lambda n, start=done: progress(start + n, total))
            held_out[held] = fitted.predict_proba(features[held])
            if len(pooled):
                pooled += fitted.predict_proba(unlabeled) / len(splits)
            if chunks is not None:
                chunks.save(fold, held_out[held])
        done += len(train) * epochs + len(held)
        if progress is not None:
            progress(done, total)
    return held_out, pooled


@dataclass(frozen=True)
class LogisticRegressionHead:
    """A Head: scikit-learn's logistic regression (lbfgs) on fixed features, dense or sparse; a
    class the fit rows lack gets probability 0."""

    C: float
    max_iter: int = 1000
    tol: float = 1e-4

    def fit(self, features: Any, labels: np.ndarray, n_classes: int, seed: int) -> FittedHead:
        from sklearn.linear_model import LogisticRegression

        return _ClassColumns(LogisticRegression(C=self.C, max_iter=self.max_iter, tol=self.tol).fit(features, labels),
                             n_classes)


@dataclass(frozen=True)
class _ClassColumns:
    """A fitted scikit-learn classifier whose probabilities are spread over all K class columns."""

    model: Any
    n_classes: int

    def predict_proba(self, features: Any) -> np.ndarray:
        probs = np.zeros((features.shape[0], self.n_classes), dtype=np.float64)
        probs[:, self.model.classes_] = self.model.predict_proba(features)
        return probs


def embedding_head(embeddings: np.ndarray, labels: np.ndarray, n_classes: int, splits, C: float = EMBEDDING_C) -> np.ndarray:
    """(N, K) out-of-fold probabilities of a logistic regression on (N, D) embeddings."""
    return out_of_fold(LogisticRegressionHead(C, max_iter=2000), embeddings, labels, n_classes, splits, 0)[0]


def tfidf_features(texts: Sequence[str]):
    """(N, F) sparse float32 rows of unit norm: word 1-2 gram and character (within word) 2-5 gram
    TF-IDF, sublinear tf, each block normalised and scaled by 1/sqrt(2). Fitted on the texts
    alone (no labels), so every fold may share it. Words seen once are kept for short texts
    (< 20 words on average) and dropped for longer ones."""
    import scipy.sparse as sparse
    from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

    from losslens.scoring.char_ngrams import char_wb_counts

    texts = [str(t) for t in texts]
    words = np.mean([len(t.split()) for t in texts]) if texts else 0
    min_df = 1 if words < 20 or len(texts) < 50 else 2
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, dtype=np.float32)
    word_block = word.fit_transform(texts)
    char_counts, _ = char_wb_counts(texts, (2, 5), min_df)   # TfidfVectorizer(analyzer="char_wb")'s counts, faster
    char_block = TfidfTransformer(sublinear_tf=True).fit_transform(char_counts)
    blocks = sparse.hstack([word_block, char_block]).tocsr()
    return (blocks * np.float32(1 / np.sqrt(2))).tocsr()


def tfidf_head(features, labels: np.ndarray, n_classes: int, splits, C: float = TFIDF_C) -> np.ndarray:
    """(N, K) out-of-fold probabilities of a logistic regression on TF-IDF features."""
    return out_of_fold(LogisticRegressionHead(C, max_iter=1000, tol=1e-3), features, labels, n_classes, splits, 0)[0]


def knn_head(neighbours: Neighbours, labels: np.ndarray, n_classes: int,
             exclude: np.ndarray | None = None) -> np.ndarray:
    """(N, K) probabilities from the labels of each example's nearest other examples: votes
    weighted by max(similarity, 0), plus KNN_SMOOTHING per class, normalised. Out-of-sample by
    construction (an example is never its own neighbour). Neighbours in `exclude` do not vote."""
    weights = np.clip(neighbours.similarity.astype(np.float64), 0, None)
    if exclude is not None:
        weights = np.where(exclude[neighbours.indices], 0.0, weights)
    votes = np.full((len(labels), n_classes), KNN_SMOOTHING)
    rows = np.repeat(np.arange(len(labels)), neighbours.indices.shape[1])
    np.add.at(votes, (rows, labels[neighbours.indices].ravel()), weights.ravel())
    return votes / votes.sum(axis=1, keepdims=True)


def finetune_head(texts: Sequence[str], labels: np.ndarray, n_classes: int, splits, model: str, max_length: int,
                  seed: int, chunks: ChunkStore | None = None, progress: Progress | None = None,
                  device: str = "auto") -> np.ndarray:
    """(N, K) out-of-fold probabilities of `model` fine-tuned on each fold's training rows
    (losslens.scoring.finetune.FineTunedTransformer, 3 epochs) on `texts` as the model reads them
    (clipped_texts). Each finished fold is stored in `chunks`, so a killed run resumes with the
    next fold. progress(done, total) counts training examples seen plus held-out examples
    predicted: its rate gives an honest time estimate on any machine."""
    from losslens.scoring.finetune import FineTunedTransformer, text_rows

    head = FineTunedTransformer(tuple(texts), model=model, max_length=max_length, device=device)
    return out_of_fold(head, text_rows(len(labels)), labels, n_classes, splits, seed, chunks=chunks,
                       progress=progress)[0]


def average(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The mean of several (N, K) probability arrays (rows still sum to 1)."""
    return np.mean(np.stack(probabilities), axis=0)


@dataclass
class HeadInputs:
    """What the heads read of a dataset, labels aside, shared by every fit on it: the texts (N,) as
    the model reads them (losslens.scoring.models.clipped_texts), unit-norm embeddings (N, D), their
    neighbour graph (None above the exact-search limit), and what "finetune" fine-tunes: the model
    (bundled:minilm, Hub id or folder) reading max_length tokens on device."""

    texts: Sequence[str]
    embeddings: np.ndarray
    neighbours: Neighbours | None
    model: str = ""
    max_length: int = 256
    device: str = "auto"

    @cached_property
    def tfidf(self):
        """(N, F) tfidf_features of the texts, computed on first use."""
        return tfidf_features(self.texts)


@dataclass(frozen=True)
class FoldLabels:
    """The labels the heads learn in one run: labels (N,) in 0..K-1, n_classes K, the (train rows,
    held-out rows) folds, the seed; exclude (N,) bool: rows that get probabilities but train
    nothing (left out of every fold's train rows, and no kNN vote); for finetune, chunks to resume
    folds from and progress(done, total)."""

    labels: np.ndarray
    n_classes: int
    splits: list[tuple[np.ndarray, np.ndarray]]
    seed: int
    exclude: np.ndarray | None = None
    chunks: ChunkStore | None = None
    progress: Progress | None = None

    @classmethod
    def stratified(cls, labels: np.ndarray, label_names: Sequence[str], folds: int, seed: int,
                   exclude: np.ndarray | None = None, chunks: ChunkStore | None = None,
                   progress: Progress | None = None) -> FoldLabels:
        """On folds_of(labels, label_names, folds, seed), `exclude` rows left out of training."""
        splits = folds_of(labels, label_names, folds, seed)
        if exclude is not None:
            splits = [(train[~exclude[train]], held) for train, held in splits]
        return cls(labels, len(label_names), splits, seed, exclude, chunks, progress)


def _embedding(inputs: HeadInputs, fit: FoldLabels) -> np.ndarray:
    return embedding_head(inputs.embeddings, fit.labels, fit.n_classes, fit.splits)


def _tfidf(inputs: HeadInputs, fit: FoldLabels) -> np.ndarray:
    return tfidf_head(inputs.tfidf, fit.labels, fit.n_classes, fit.splits)


def _knn(inputs: HeadInputs, fit: FoldLabels) -> np.ndarray | None:
    return None if inputs.neighbours is None else knn_head(inputs.neighbours, fit.labels, fit.n_classes, fit.exclude)


def _finetune(inputs: HeadInputs, fit: FoldLabels) -> np.ndarray:
    return finetune_head(inputs.texts, fit.labels, fit.n_classes, fit.splits, inputs.model, inputs.max_length,
                         fit.seed, fit.chunks, fit.progress, inputs.device)


HEADS: dict[str, Callable[[HeadInputs, FoldLabels], np.ndarray | None]] = {
    "embedding": _embedding, "tfidf": _tfidf, "knn": _knn, "finetune": _finetune}
"""Each head by name: (inputs, labels) -> (N, K) out-of-sample probabilities, None where it cannot
run (knn without a neighbour graph)."""


def head_probs(head: str, inputs: HeadInputs, fit: FoldLabels,
               timings: dict[str, list[float]] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """((N, K) out-of-sample probabilities of the resolved `head`, {name: (N, K)} of every head that
    made them): a registered head alone, or "ensemble", the average of the ENSEMBLE members that
    can run. Each member's fit + predict seconds are appended to timings[name] when given."""
    parts: dict[str, np.ndarray] = {}
    for name in ENSEMBLE if head == "ensemble" else (head,):
        started = time.perf_counter()
        probs = HEADS[name](inputs, fit)
        if probs is not None:
            parts[name] = probs
            if timings is not None:
                timings.setdefault(name, []).append(time.perf_counter() - started)
    return (average(list(parts.values())) if head == "ensemble" else parts[head]), parts
