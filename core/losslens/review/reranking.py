"""Re-ranking the review queue from reviewers' decisions: every decision in force is a trusted
label, the cheap heads (embedding, TF-IDF, kNN vote: losslens.scoring.heads.ENSEMBLE) are
refitted with them, and the undecided examples are ordered again by their new loss.

Trusted labels: confirmed keeps the given label, relabeled uses the new one, removed and
ambiguous examples train nothing (and cast no kNN vote). Undecided examples keep their given
labels. Every example's probabilities stay out-of-sample: the refit uses the scoring folds
(losslens.scoring.heads.folds_of on the given labels, so a refit without decisions reproduces
the scoring probabilities), and no fold trains on the rows it predicts.

Cost: above `max_train_rows` trainable rows, each fold trains on every decided row plus a fixed
random sample of the undecided ones (the same sample at every refit) and still predicts all of
its held-out rows, so a refit's training cost stops growing with N (bench/rerank_scale.py).

For a worker process: RerankInputs and TrustedLabels pickle, and `rerank` is a plain function.

    inputs = RerankInputs.from_results(data, results, settings)           # once per results
    trusted = TrustedLabels.from_applied(bound.applied, data.labels, data.label_names)
    if refit_due(len(trusted), last.decisions_used):
        last = rerank(inputs, trusted)                                     # in a worker
    queue = reorder_queue(queue, last.order, keep=position_on_screen)
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from losslens.errors import ScoringError
from losslens.scoring.heads import FoldLabels, HeadInputs, folds_of, head_probs
from losslens.scoring.models import clipped_texts
from losslens.scoring.request import ScoreSettings
from losslens.scoring.results import ScoredResults
from losslens.scoring.scores import per_example_loss
from losslens.sources.datasets import LabeledTexts

REFIT_EVERY = 25
"""Decisions between two background refits (the page may also ask for one at any time)."""
MAX_TRAIN_ROWS = 20_000
"""Most rows a refit trains on (all decided rows, then a fixed sample of the undecided ones)."""
UNTRAINED = -1
"""TrustedLabels.labels of a removed or ambiguous example: it trains nothing."""


@dataclass(frozen=True)
class TrustedLabels:
    """What the decisions in force teach, one entry per decided example, in the order decided:
    positions (M,) int64 rows in the dataset, labels (M,) int64 the class index a reviewer vouched
    for (UNTRAINED for removed and ambiguous), statuses (M,) str."""

    positions: np.ndarray
    labels: np.ndarray
    statuses: np.ndarray

    @classmethod
    def from_applied(cls, applied: pd.DataFrame, given: np.ndarray, label_names: Sequence[str]) -> TrustedLabels:
        """From `applied` (losslens.review.binding.bind_decisions(...).applied: position, status,
        new_label) and the (N,) given class indices."""
        positions = applied["position"].to_numpy(dtype=np.int64)
        statuses = applied["status"].to_numpy(dtype=object).astype(str)
        labels = np.full(len(positions), UNTRAINED, dtype=np.int64)
        confirmed, relabeled = statuses == "confirmed", statuses == "relabeled"
        labels[confirmed] = np.asarray(given, dtype=np.int64)[positions[confirmed]]
        labels[relabeled] = pd.Index(label_names).get_indexer(applied["new_label"].to_numpy(dtype=object)[relabeled])
        return cls(positions, labels, statuses)

    def __len__(self) -> int:
        return len(self.positions)

    def decided(self, n: int) -> np.ndarray:
        """(n,) bool: the rows with a decision."""
        mask = np.zeros(n, dtype=bool)
        mask[self.positions] = True
        return mask

    def training_labels(self, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((N,) int64 labels the heads learn: trusted where decided, given elsewhere; (N,) bool
        rows that train nothing: removed and ambiguous)."""
        labels = np.array(given, dtype=np.int64)
        untrained = np.zeros(len(labels), dtype=bool)
        vouched = self.labels != UNTRAINED
        labels[self.positions[vouched]] = self.labels[vouched]
        untrained[self.positions[~vouched]] = True
        return labels, untrained

    def verdicts(self, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((V,) positions, (V,) bool is a label error) of the confirmed and relabeled examples: an
        error where the trusted label differs from the given one. Removed and ambiguous say nothing
        about the label, so they are left out."""
        vouched = self.labels != UNTRAINED
        positions = self.positions[vouched]
        return positions, self.labels[vouched] != np.asarray(given)[positions]


@dataclass
class RerankInputs:
    """Everything a refit reads, labels aside from the given ones; picklable (a worker process gets
    a copy). heads: the texts, unit-norm embeddings (N, D) and neighbour graph; labels (N,) the
    given class indices; folds and seed as scoring used them; head: "ensemble" (the cheap heads' average) or one
    registered head (losslens.scoring.heads.HEADS)."""

    heads: HeadInputs
    labels: np.ndarray
    label_names: tuple[str, ...]
    folds: int = 5
    seed: int = 0
    max_train_rows: int = MAX_TRAIN_ROWS
    head: str = "ensemble"

    @classmethod
    def from_results(cls, data: LabeledTexts, results: ScoredResults, settings: ScoreSettings) -> RerankInputs:
        """The inputs of `results` (an encoder's, its embeddings still in the cache) on `data`."""
        if results.model_kind != "encoder":
            raise ScoringError("re-ranking refits an encoder's heads; a classifier's probabilities are its own "
                               "(score with an encoder, e.g. bundled:minilm, to re-rank from decisions)")
        embeddings = results.entries.outputs.load_embeddings()
        if embeddings is None:
            raise ScoringError("the embeddings of these results are gone from the cache; score again to re-rank")
        heads = HeadInputs(clipped_texts(data.texts, settings.max_length), embeddings, results.neighbours)
        return cls(heads, data.labels, tuple(data.label_names), settings.folds, settings.seed)

    def training_rows(self, decided: np.ndarray, untrained: np.ndarray) -> np.ndarray:
        """(N,) bool rows the refit may train on: all decided ones (less the untrained) and, above
        max_train_rows, a fixed random sample (by seed) of the undecided ones to fill the cap."""
        trainable = ~untrained
        if trainable.sum() <= self.max_train_rows:
            return trainable
        undecided = np.flatnonzero(trainable & ~decided)
        room = max(self.max_train_rows - int((trainable & decided).sum()), 0)
        sample = np.random.default_rng([self.seed, 2]).permutation(len(self.labels))
        keep = np.zeros(len(self.labels), dtype=bool)
        keep[undecided] = True
        chosen = trainable & decided
        chosen[sample[keep[sample]][:room]] = True
        return chosen


@dataclass(frozen=True)
class Reranking:
    """One refit's outcome. probs (N, K) float32 out-of-sample probabilities; loss (N,) -ln p(given
    label), nats; order (U,) int64 the undecided rows, highest loss first (ties: lower row first);
    decisions_used: the decisions in force it learned from; trained_rows: rows it trained on;
    seconds / cpu_seconds: wall and CPU time of the refit; finished_at: when it ended (Unix time)."""

    probs: np.ndarray
    loss: np.ndarray
    order: np.ndarray
    decisions_used: int
    trained_rows: int
    seconds: float
    cpu_seconds: float
    finished_at: float
    heads: tuple[str, ...]

    def describe(self) -> str:
        """One line for the page: when the order last changed and from how many decisions."""
        when = time.strftime("%H:%M:%S", time.localtime(self.finished_at))
        return (f"order refitted at {when} from {self.decisions_used:,} decision"
                f"{'' if self.decisions_used == 1 else 's'} ({self.seconds:.1f} s)")


def rerank(inputs: RerankInputs, trusted: TrustedLabels, tiebreak: np.ndarray | None = None) -> Reranking:
    """Refit the heads with the trusted labels and order the undecided rows by their new loss
    against the given label. tiebreak (N,): equal losses go by it (low first), else by row.
    Runs single-threaded (BLAS and OpenMP limited to one thread): a background refit leaves the
    other cores to the app, and many BLAS threads on a busy machine spin far longer than they
    compute (measured: the embedding head 25 s threaded vs 0.5 s single, 2,225 rows, load 11).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _refit(inputs, trusted, tiebreak)


def _refit(inputs: RerankInputs, trusted: TrustedLabels, tiebreak: np.ndarray | None) -> Reranking:
    started, cpu = time.perf_counter(), time.process_time()
    n = len(inputs.labels)
    labels, untrained = trusted.training_labels(inputs.labels)
    decided = trusted.decided(n)
    trains = inputs.training_rows(decided, untrained)
    splits = [(train[trains[train]], held) for train, held in
              folds_of(inputs.labels, inputs.label_names, inputs.folds, inputs.seed)]
    fit = FoldLabels(labels, len(inputs.label_names), splits, inputs.seed, exclude=untrained)
    probs, parts = head_probs(inputs.head, inputs.heads, fit)
    loss = per_example_loss(probs, inputs.labels)
    return Reranking(probs.astype(np.float32), loss, undecided_order(loss, decided, tiebreak), len(trusted),
                     int(trains.sum()), time.perf_counter() - started, time.process_time() - cpu, time.time(),
                     tuple(parts))


def undecided_order(suspicion: np.ndarray, decided: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """(U,) int64 positions of the undecided rows, highest `suspicion` first; ties by `tiebreak`
    (low first) when given, then by position."""
    rows = np.flatnonzero(~decided)
    keys = (rows, -suspicion[rows]) if tiebreak is None else (rows, tiebreak[rows], -suspicion[rows])
    return rows[np.lexsort(keys)].astype(np.int64)


def refit_due(decisions: int, used: int, every: int = REFIT_EVERY) -> bool:
    """Whether `decisions` in force call for a refit when the last one used `used` (every N made
    or undone since)."""
    return abs(decisions - used) >= every


def reorder_queue(queue: np.ndarray, order: np.ndarray, keep: int | None = None) -> np.ndarray:
    """The queue as shown, (Q,) positions, with its undecided rows in the new `order` ((U,)
    positions, Reranking.order): they fill the slots undecided rows held, while decided rows and
    the row `keep` (the one on screen) stay in their slots. Rows of the queue not in `order` count
    as decided; rows of `order` not in the queue (filtered out) stay out."""
    queue = np.asarray(queue, dtype=np.int64)
    rank = pd.Index(np.asarray(order, dtype=np.int64)).get_indexer(queue)
    movable = (rank >= 0) & (queue != (-1 if keep is None else keep))
    shown = queue.copy()
    shown[movable] = queue[movable][np.argsort(rank[movable], kind="stable")]
    return shown
