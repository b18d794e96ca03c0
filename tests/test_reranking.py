"""Re-ranking from decisions (losslens.review.reranking) on synthetic embeddings: trusted labels,
the refit's out-of-sample probabilities, the bounded training sample, the queue it reorders."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from losslens.review.reranking import (
    UNTRAINED,
    RerankInputs,
    TrustedLabels,
    refit_due,
    reorder_queue,
    rerank,
    undecided_order,
)
from losslens.scoring.heads import FoldLabels, HeadInputs, head_probs
from losslens.scoring.neighbours import knn_graph

NAMES = ("a", "b", "c")


def clustered(n_per: int = 40, seed: int = 0) -> tuple[HeadInputs, np.ndarray]:
    """Three tight clusters of unit vectors (texts name their cluster) and their clean labels 0..2."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16)
    labels = np.repeat(np.arange(3), n_per)
    vectors = centres[labels] + 0.25 * rng.standard_normal((len(labels), 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = np.array(["apple pear", "river lake", "train bus"])
    texts = [f"{words[k]} {rng.integers(1000)}" for k in labels]
    return HeadInputs(texts, vectors.astype(np.float32), knn_graph(vectors)), labels


def no_decisions() -> TrustedLabels:
    return TrustedLabels(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, str))


def test_trusted_labels_from_applied_decisions():
    applied = pd.DataFrame({"position": [4, 1, 7, 2], "status": ["relabeled", "confirmed", "removed", "ambiguous"],
                            "new_label": ["c", None, None, None]})
    given = np.array([0, 1, 2, 0, 0, 1, 1, 2])
    trusted = TrustedLabels.from_applied(applied, given, NAMES)
    assert trusted.positions.tolist() == [4, 1, 7, 2]
    assert trusted.labels.tolist() == [2, 1, UNTRAINED, UNTRAINED]
    labels, untrained = trusted.training_labels(given)
    assert labels.tolist() == [0, 1, 2, 0, 2, 1, 1, 2]
    assert np.flatnonzero(untrained).tolist() == [2, 7]
    positions, errors = trusted.verdicts(given)
    assert positions.tolist() == [4, 1] and errors.tolist() == [True, False]
    assert np.flatnonzero(trusted.decided(8)).tolist() == [1, 2, 4, 7] and len(trusted) == 4


def test_refit_without_decisions_reproduces_the_scoring_probabilities():
    heads, labels = clustered()
    inputs = RerankInputs(heads, labels, NAMES, folds=5, seed=3)
    result = rerank(inputs, no_decisions())
    scoring, _ = head_probs("ensemble", heads, FoldLabels.stratified(labels, NAMES, 5, 3))
    np.testing.assert_allclose(result.probs, scoring, atol=1e-5)
    assert result.heads == ("embedding", "tfidf", "knn") and result.decisions_used == 0
    assert result.trained_rows == len(labels) and sorted(result.order) == list(range(len(labels)))


def test_trusted_relabels_make_the_remaining_flips_more_suspicious():
    heads, clean = clustered()
    given = clean.copy()
    flipped = np.array([0, 1, 2, 3, 4, 5, 6, 7])      # a quarter of cluster a labelled b
    given[flipped] = 1
    inputs = RerankInputs(heads, given, NAMES, folds=5, seed=0)
    before = rerank(inputs, no_decisions())
    corrected = np.array([0, 1, 2, 3])
    trusted = TrustedLabels(corrected, clean[corrected], np.full(4, "relabeled"))
    after = rerank(inputs, trusted)
    rest = flipped[4:]
    assert after.decisions_used == 4
    assert (after.loss[rest] > before.loss[rest]).all()            # the other flips stand out more
    assert set(after.order) == set(range(len(given))) - set(corrected.tolist())
    assert (np.diff(after.loss[after.order]) <= 0).all()            # highest loss first
    assert set(after.order[:4]) == set(rest.tolist())


def test_removed_and_ambiguous_rows_train_nothing_but_are_still_scored():
    heads, labels = clustered()
    inputs = RerankInputs(heads, labels, NAMES)
    trusted = TrustedLabels(np.array([0, 50]), np.array([UNTRAINED, UNTRAINED]), np.array(["removed", "ambiguous"]))
    result = rerank(inputs, trusted)
    assert result.trained_rows == len(labels) - 2
    assert 0 not in result.order and 50 not in result.order
    np.testing.assert_allclose(result.probs.sum(axis=1), 1, atol=1e-5)


def test_training_sample_keeps_every_decided_row_and_stays_fixed():
    heads, labels = clustered(n_per=100)
    inputs = RerankInputs(heads, labels, NAMES, max_train_rows=60)
    decided = np.zeros(len(labels), dtype=bool)
    decided[[5, 150, 299]] = True
    untrained = np.zeros(len(labels), dtype=bool)
    untrained[150] = True
    rows = inputs.training_rows(decided, untrained)
    assert rows.sum() == 60 and rows[[5, 299]].all() and not rows[150]
    np.testing.assert_array_equal(rows, inputs.training_rows(decided, untrained))
    result = rerank(inputs, TrustedLabels(np.array([5, 299]), labels[[5, 299]], np.array(["confirmed"] * 2)))
    assert result.trained_rows == 60
    assert len(result.order) == len(labels) - 2 and (result.probs.sum(axis=1) > 0.99).all()   # every row predicted


def test_inputs_and_decisions_pickle_for_a_worker_process():
    heads, labels = clustered()
    inputs = RerankInputs(heads, labels, NAMES)
    trusted = TrustedLabels(np.array([3]), np.array([0]), np.array(["confirmed"]))
    copy, trusted_copy = pickle.loads(pickle.dumps((inputs, trusted)))
    np.testing.assert_allclose(rerank(copy, trusted_copy).probs, rerank(inputs, trusted).probs)


def test_undecided_order_breaks_ties_by_tiebreak_then_position():
    suspicion = np.array([1.0, 3.0, 1.0, 2.0, 1.0])
    decided = np.array([False, False, False, True, False])
    assert undecided_order(suspicion, decided).tolist() == [1, 0, 2, 4]
    assert undecided_order(suspicion, decided, np.array([9, 0, 1, 0, 5])).tolist() == [1, 2, 4, 0]


def test_reorder_queue_moves_only_undecided_rows_and_keeps_the_one_on_screen():
    queue = np.array([10, 11, 12, 13, 14, 15])     # 10 and 11 decided; 13 on screen
    order = np.array([15, 14, 13, 12, 99])          # 99: filtered out of this queue
    assert reorder_queue(queue, order).tolist() == [10, 11, 15, 14, 13, 12]
    assert reorder_queue(queue, order, keep=13).tolist() == [10, 11, 15, 13, 14, 12]


@pytest.mark.parametrize("decisions, used, due", [(24, 0, False), (25, 0, True), (60, 50, False), (40, 65, True)])
def test_refit_is_due_every_n_decisions_made_or_undone(decisions, used, due):
    assert refit_due(decisions, used) is due


def test_describe_says_when_and_from_how_many_decisions():
    heads, labels = clustered()
    result = rerank(RerankInputs(heads, labels, NAMES), TrustedLabels(np.array([3]), np.array([0]),
                                                                        np.array(["confirmed"])))
    text = result.describe()
    assert text.startswith("order refitted at ") and "from 1 decision (" in text
