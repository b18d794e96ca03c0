"""The errors-left estimate (losslens.review.errors_left) on synthetic cases whose truth is known,
and the live precision of the decided part of the queue."""
from __future__ import annotations

import numpy as np
import pytest
from losslens.review.errors_left import (
    Calibration,
    calibrate,
    calibrate_verdicts,
    decided_precision,
    draw_checks,
    error_logit,
    estimate_errors_left,
    prior_intercept,
)
from scipy.special import expit


def two_class_probs(p_given: np.ndarray, labels: np.ndarray) -> np.ndarray:
    probs = np.zeros((len(labels), 2))
    probs[np.arange(len(labels)), labels] = p_given
    probs[np.arange(len(labels)), 1 - labels] = 1 - p_given
    return probs


def test_error_logit_is_the_log_odds_of_the_given_label_being_wrong():
    np.testing.assert_allclose(error_logit(np.array([0.5, 0.8, 0.2])), [0, np.log(0.25), np.log(4)])
    assert np.isfinite(error_logit(np.array([0.0, 1.0]))).all()


def test_calibrate_recovers_a_known_slope_and_intercept():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, 20_000)
    errors = rng.random(len(x)) < 1 / (1 + np.exp(-(2.0 * x - 1.0)))
    theta, covariance = calibrate(x, errors)
    np.testing.assert_allclose(theta, [2.0, -1.0], atol=0.1)
    assert (np.sqrt(np.diag(covariance)) < 0.05).all()
    prior_only, _ = calibrate(np.zeros(0), np.zeros(0, dtype=bool), intercept=-1.5)
    np.testing.assert_allclose(prior_only, [1.0, -1.5])


def test_prior_intercept_makes_the_probabilities_add_up_to_the_total():
    x = np.linspace(-4, 4, 101)
    b = prior_intercept(x, 20.0)
    assert 1 / (1 + np.exp(-(x + b))) == pytest.approx(np.full(101, 1 / (1 + np.exp(-(x + b)))))
    assert (1 / (1 + np.exp(-(x + b)))).sum() == pytest.approx(20.0, abs=1e-4)


def test_without_verdicts_the_estimate_is_confident_learnings_count():
    from cleanlab.count import num_label_issues

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2000)
    p_given = np.where(rng.random(len(labels)) < 0.9, rng.beta(8, 1.5, len(labels)), rng.beta(1.5, 8, len(labels)))
    probs = two_class_probs(p_given, labels)
    everything = np.ones(len(labels), dtype=bool)
    estimate = estimate_errors_left(probs, labels, np.zeros(0, np.int64), np.zeros(0, bool), everything)
    assert num_label_issues(labels, probs) > 100
    assert estimate.expected == pytest.approx(num_label_issues(labels, probs), rel=1e-3)
    assert estimate.verdicts == 0 and estimate.interval[0] < estimate.expected < estimate.interval[1]


def test_verdicts_correct_an_overconfident_model_and_the_interval_covers_the_truth():
    """The model says 1 - p(given); the truth is a steeper curve. After 1,500 verdicts on the top of
    the queue, the estimate of the errors left among the rest is close to their expected number."""
    rng = np.random.default_rng(2)
    n = 5000
    labels = rng.integers(0, 2, n)
    x = rng.normal(-2.5, 1.5, n)
    probs = two_class_probs(1 / (1 + np.exp(x)), labels)           # 1 - p(given) = sigmoid(x)
    truth_p = 1 / (1 + np.exp(-(1.6 * x + 0.4)))
    is_error = rng.random(n) < truth_p
    queue = np.argsort(-x, kind="stable")
    reviewed = queue[:1500]
    undecided = np.ones(n, dtype=bool)
    undecided[reviewed] = False
    estimate = estimate_errors_left(probs, labels, reviewed, is_error[reviewed], undecided, queue[1500:])
    truth = truth_p[undecided].sum()
    assert estimate.expected == pytest.approx(truth, rel=0.25)   # the prior still pulls: +19% measured
    assert estimate.interval[0] <= is_error[undecided].sum() <= estimate.interval[1]
    assert estimate.next_expected == pytest.approx(truth_p[queue[1500:1550]].sum(), rel=0.25)
    assert estimate.verdicts == 1500 and estimate.errors_found == int(is_error[reviewed].sum())
    assert estimate.window == 50 and "the next 50 in this queue hold about" in estimate.describe()


def test_decided_precision_counts_by_block_of_decisions():
    statuses = ["relabeled", "confirmed", "removed", "ambiguous", "relabeled", "confirmed", "confirmed"]
    frame = decided_precision(statuses, block=3)
    assert frame[["first", "last", "errors", "ambiguous", "fine"]].values.tolist() == [
        [1, 3, 2, 0, 1], [4, 6, 1, 1, 1], [7, 7, 0, 0, 1]]
    np.testing.assert_allclose(frame["precision"], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(frame["cumulative_precision"], [2 / 3, 3 / 6, 3 / 7])
    assert decided_precision([]).empty


def test_checks_are_drawn_where_a_verdict_teaches_the_fit_most():
    x = np.array([0.0, 9.0, -9.0, 0.5, 0.0])          # P(error) under (a, b) = (1, 0): 0.5, ~1, ~0, 0.62, 0.5
    fit = Calibration(x, np.array([1.0, 0.0]), np.eye(2))
    undecided = np.array([True, True, True, True, False])
    rng = np.random.default_rng(0)
    drawn = np.array([draw_checks(fit, undecided, 1, rng)[0] for _ in range(2000)])
    assert set(drawn) <= {0, 1, 2, 3}                      # never a decided row
    assert (np.isin(drawn, [0, 3])).mean() > 0.99          # the uncertain rows, not the certain ones
    assert sorted(draw_checks(fit, undecided, 10, rng).tolist()) == [0, 1, 2, 3]   # at most every undecided row
    assert draw_checks(fit, np.zeros(5, dtype=bool), 3, rng).size == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_checks_further_down_pin_the_estimate_that_top_verdicts_cannot(seed):
    # The real error rate falls steeply with the model's x (slope 4): 200 verdicts from the top all
    # say "error" and cannot show it; 160 from the top and 40 checks drawn further down can.
    rng = np.random.default_rng(seed)
    x = rng.normal(-1.0, 1.5, 4000)
    wrong = rng.random(4000) < expit(4 * x - 4)
    labels = np.zeros(4000, dtype=np.int64)
    probs = two_class_probs(1 - expit(x), labels)
    top = np.argsort(-x)

    def relative_error(from_top: int, checks: int) -> float:
        decided = np.zeros(4000, dtype=bool)
        decided[top[:from_top]] = True
        rows = list(top[:from_top])
        for _ in range(checks):
            done = np.array(rows)
            row = int(draw_checks(calibrate_verdicts(probs, labels, done, wrong[done]), ~decided, 1, rng)[0])
            rows.append(row)
            decided[row] = True
        done = np.array(rows)
        truth = wrong[~decided].sum()
        return (estimate_errors_left(probs, labels, done, wrong[done], ~decided).expected - truth) / truth

    assert relative_error(200, 0) > 0.4
    assert abs(relative_error(160, 40)) < 0.25
