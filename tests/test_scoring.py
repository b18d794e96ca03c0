"""losslens.scoring.scores: losses, margins, ranks and cleanlab flags checked against hand-computed values."""
import numpy as np
import pytest

from losslens.scoring.heads import embedding_head, folds_of
from losslens.scoring.scores import ScoringError, per_example_loss, score_examples, softmax


def test_softmax_rows_sum_to_one_and_match_hand_values():
    probs = softmax(np.array([[0.0, 0.0], [np.log(3.0), 0.0]]))
    np.testing.assert_allclose(probs, [[0.5, 0.5], [0.75, 0.25]])


def test_loss_is_natural_log_cross_entropy_of_given_label():
    probs = np.array([[0.9, 0.1], [0.25, 0.75], [1.0, 0.0]])
    loss = per_example_loss(probs, np.array([0, 0, 1]))
    np.testing.assert_allclose(loss[:2], [-np.log(0.9), -np.log(0.25)])
    assert loss[2] == pytest.approx(-np.log(1e-12))  # clipped, finite


def test_score_examples_columns_and_rank_order():
    probs = np.array([
        [0.95, 0.03, 0.02],  # given 0, confident and right
        [0.10, 0.85, 0.05],  # given 0, model says 1 -> suspicious
        [0.30, 0.30, 0.40],  # given 2, unsure
        [0.02, 0.96, 0.02],  # given 1, right
        [0.05, 0.05, 0.90],  # given 1, model says 2 strongly -> most suspicious
        [0.90, 0.05, 0.05],  # given 0, right
    ])
    labels = np.array([0, 0, 2, 1, 1, 0])
    scores = score_examples(probs, labels)
    np.testing.assert_array_equal(scores.predicted_label, [0, 1, 2, 1, 2, 0])
    np.testing.assert_allclose(scores.p_given, [0.95, 0.10, 0.40, 0.96, 0.05, 0.90])
    np.testing.assert_allclose(scores.margin, [0.92, -0.75, 0.10, 0.94, -0.85, 0.85])
    np.testing.assert_allclose(scores.quality, scores.p_given)  # self_confidence
    # rank: flagged first, each part by quality ascending
    flagged = np.flatnonzero(scores.is_issue)
    expected = [*flagged[np.argsort(scores.quality[flagged])],
                *np.flatnonzero(~scores.is_issue)[np.argsort(scores.quality[~scores.is_issue])]]
    assert list(np.argsort(scores.rank)) == expected
    assert sorted(scores.rank) == [1, 2, 3, 4, 5, 6]


def test_cleanlab_rank_puts_flagged_examples_first_unlike_loss():
    """Class 0 is confident (0.97), class 1 less so (0.65). Example 0 (given 0) at 0.70 for class 1
    clears class 1's threshold: flagged, loss 1.20. Example 30 (given 1) at 0.85 for class 0 stays
    under class 0's threshold (0.97): not flagged, though its loss (1.90) is higher."""
    labels = np.repeat([0, 1], 30)
    probs = np.where(labels[:, None] == np.arange(2), 0.97, 0.03)
    probs[30:] = [0.35, 0.65]
    probs[0] = [0.30, 0.70]
    probs[30] = [0.85, 0.15]
    scores = score_examples(probs, labels)
    assert np.flatnonzero(scores.is_issue).tolist() == [0]
    assert scores.loss[30] > scores.loss[0]                      # loss puts example 30 first
    assert (scores.rank[0], scores.rank[30]) == (1, 2)           # cleanlab's order puts the flagged one first


def test_normalized_margin_quality_differs_and_rejects_unknown():
    probs = np.array([[0.6, 0.4], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1])
    nm = score_examples(probs, labels, method="normalized_margin").quality
    assert nm[1] < nm[0] and nm[2] < nm[3]
    with pytest.raises(ScoringError, match="unknown quality method"):
        score_examples(probs, labels, method="bogus")


def test_find_label_issues_flags_planted_errors():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    probs = np.full((120, 3), 0.05)
    probs[np.arange(120), labels] = 0.9
    flipped = [3, 50, 97]
    for i in flipped:
        probs[i] = 0.05
        probs[i, (labels[i] + 1) % 3] = 0.9
    probs = probs + rng.uniform(0, 0.01, probs.shape)
    probs /= probs.sum(axis=1, keepdims=True)
    scores = score_examples(probs, labels)
    assert set(np.flatnonzero(scores.is_issue)) == set(flipped)
    assert set(np.flatnonzero(scores.rank <= 3)) == set(flipped)


def test_out_of_sample_probs_separable_clusters_and_small_class_error():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 30)
    features = rng.normal(size=(60, 4)) + labels[:, None] * 4.0
    probs = embedding_head(features, labels, 2, folds_of(labels, ["a", "b"], 5, seed=0))
    assert probs.shape == (60, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs.argmax(axis=1) == labels).mean() == 1.0
    with pytest.raises(ScoringError, match=r"1 label\(s\) have a single example \('b'\)"):
        folds_of(np.r_[labels[:30], 1], ["a", "b"], 5, seed=0)
