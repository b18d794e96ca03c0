"""How many label errors are left, and how the decided part of the queue went.

`estimate_errors_left`: the model says how likely each given label is wrong, 1 - p(given); what
reviewers found so far says how far to trust that. The two are joined by a logistic
recalibration fitted on the verdicts (confirmed = fine, relabeled = error):

    P(error | x) = sigmoid(a * x + b),   x = logit(1 - p(given)),

with a Gaussian prior centred on a = 1 and the b0 at which the model's probabilities add up to
confident learning's count of label issues over all rows (cleanlab.count.num_label_issues; the
model's own sum where the given labels hold one class only):
raw 1 - p(given) also counts every example the model finds hard, and adds up to several times
the real errors (BBC titles: 1,062 for 222 flips and ~170 counted). With no verdicts the
estimate is that count less the decided rows' share; verdicts then say how steeply the error rate
falls with x. The fit is conditional on x, so the queue choosing the most suspicious examples
first does not bias it (as long as the form holds). The prior is wide (sd 3 on both): on BBC
titles the real fall is steep (a near 4), and a prior held at a = 1 made the estimate about
twice the truth. Verdicts from the top of the queue alone cannot show the slope (the error rate
there is ~95% whatever it is): `draw_checks` picks undecided examples further down, where a
verdict teaches the fit most, and a few such checks pin the estimate (README: the figures).
The interval draws (a, b) from the fit's Laplace posterior and adds each draw's Bernoulli spread
(normal approximation): it covers both the calibration's uncertainty and the luck of which
examples are wrong.

`decided_precision`: errors / ambiguous / fine in blocks of decisions, in the order given.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NEXT_WINDOW = 50
PRIOR_SD = (3.0, 3.0)
"""Prior standard deviations of the slope a (around 1) and the intercept b (around 0)."""
_CLIP = 1e-4


@dataclass(frozen=True)
class ErrorsLeft:
    """Label errors expected among the undecided examples: `expected` with its `interval` (low,
    high) at `level`; among the next `window` of the queue: `next_expected`, `next_interval`;
    `verdicts`: confirmed + relabeled examples that calibrated it, `errors_found` among them;
    `calibration`: the fitted (a, b); `checks`: undecided rows drawn further down (draw_checks)
    whose verdicts would pin the estimate."""

    expected: float
    interval: tuple[float, float]
    next_expected: float
    next_interval: tuple[float, float]
    window: int
    level: float
    verdicts: int
    errors_found: int
    calibration: tuple[float, float]
    checks: tuple[int, ...] = ()

    def describe(self) -> str:
        """One line for the page."""
        low, high = self.interval
        return (f"about {self.expected:,.0f} label errors left ({low:,.0f}–{high:,.0f}, {self.level:.0%}); "
                f"the next {self.window} in this queue hold about {self.next_expected:,.0f}")


def error_logit(p_given: np.ndarray) -> np.ndarray:
    """(N,) logit of the model's probability that each given label is wrong, 1 - p(given),
    clipped to [1e-4, 1 - 1e-4]."""
    q = np.clip(1.0 - np.asarray(p_given, dtype=np.float64), _CLIP, 1 - _CLIP)
    return np.log(q) - np.log1p(-q)


def prior_intercept(x: np.ndarray, total: float) -> float:
    """The b at which sum(sigmoid(x + b)) over (N,) x equals `total` (0 < total < N)."""
    from scipy.optimize import brentq

    total = min(max(total, 0.5), len(x) - 0.5)
    return float(brentq(lambda b: _sigmoid(x + b).sum() - total, -40.0, 40.0, xtol=1e-6))


def calibrate(x: np.ndarray, is_error: np.ndarray, intercept: float = 0.0,
              prior_sd: tuple[float, float] = PRIOR_SD) -> tuple[np.ndarray, np.ndarray]:
    """MAP (a, b) of P(error) = sigmoid(a x + b) on verdicts ((V,) x, (V,) bool) under the prior
    a ~ N(1, sd_a), b ~ N(intercept, sd_b); with its (2, 2) posterior covariance (the inverse
    Hessian at the optimum)."""
    from scipy.optimize import minimize

    features = np.column_stack([np.asarray(x, dtype=np.float64), np.ones(len(x))])
    y = np.asarray(is_error, dtype=np.float64)
    centre, precision = np.array([1.0, intercept]), np.diag(1.0 / np.square(prior_sd))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = features @ theta
        log_likelihood = (y * z - np.logaddexp(0, z)).sum()
        gap = theta - centre
        return float(0.5 * gap @ precision @ gap - log_likelihood), precision @ gap - features.T @ (y - _sigmoid(z))

    theta = minimize(objective, centre, jac=True, method="L-BFGS-B").x
    p = _sigmoid(features @ theta)
    hessian = features.T @ (features * (p * (1 - p))[:, None]) + precision
    return theta, np.linalg.inv(hessian)


@dataclass(frozen=True)
class Calibration:
    """The recalibration of one set of verdicts: x (N,) error logits of every row, theta (2,) the
    MAP (a, b), covariance (2, 2) its Laplace posterior covariance."""

    x: np.ndarray
    theta: np.ndarray
    covariance: np.ndarray

    def error_probability(self, rows: np.ndarray) -> np.ndarray:
        """(R,) P(error) of the given rows under the MAP fit."""
        return _sigmoid(self.theta[0] * self.x[rows] + self.theta[1])


def calibrate_verdicts(probs: np.ndarray, labels: np.ndarray, verdict_positions: np.ndarray,
                       verdict_errors: np.ndarray) -> Calibration:
    """The model's (N, K) probabilities of the (N,) given labels recalibrated by the verdicts: (V,)
    positions of confirmed / relabeled rows and (V,) bool whether each was an error."""
    from cleanlab.count import num_label_issues

    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    p_given = probs[np.arange(len(labels)), labels]
    x = error_logit(p_given)
    counted = num_label_issues(labels, probs) if len(np.unique(labels)) > 1 else (1 - p_given).sum()
    positions = np.asarray(verdict_positions, dtype=np.int64)
    theta, covariance = calibrate(x[positions], np.asarray(verdict_errors, dtype=bool), prior_intercept(x, counted))
    return Calibration(x, theta, covariance)


def estimate_errors_left(probs: np.ndarray, labels: np.ndarray, verdict_positions: np.ndarray,
                         verdict_errors: np.ndarray, undecided: np.ndarray, queue: np.ndarray | None = None,
                         window: int = NEXT_WINDOW, level: float = 0.9, draws: int = 2000,
                         seed: int = 0, checks: int = 0) -> ErrorsLeft:
    """Label errors expected among the `undecided` rows ((N,) bool) from the model's (N, K)
    probabilities of the (N,) given labels, recalibrated by the verdicts: (V,) positions of
    confirmed / relabeled rows and (V,) bool whether each was an error (TrustedLabels.verdicts).
    queue: (U,) undecided positions in review order (default: by p(given), lowest first); its
    first `window` give next_expected; `checks` rows to check are drawn (seeded) by draw_checks."""
    fit = calibrate_verdicts(probs, labels, verdict_positions, verdict_errors)
    x, theta = fit.x, fit.theta
    rows = np.flatnonzero(undecided)
    if queue is None:
        queue = rows[np.argsort(-x[rows], kind="stable")]
    upcoming = np.asarray(queue, dtype=np.int64)[:window]
    rng = np.random.default_rng(seed)
    samples = rng.multivariate_normal(theta, fit.covariance, size=draws)
    tails = ((1 - level) / 2, (1 + level) / 2)

    def total(members: np.ndarray) -> tuple[float, tuple[float, float]]:
        point = float(fit.error_probability(members).sum())
        p_sum, p_var = _draw_sums(samples, x[members])
        counts = np.clip(p_sum + rng.standard_normal(draws) * np.sqrt(p_var), 0, len(members))
        low, high = np.quantile(counts, tails)
        return point, (float(low), float(high))

    expected, interval = total(rows)
    next_expected, next_interval = total(upcoming)
    errors = np.asarray(verdict_errors, dtype=bool)
    drawn = draw_checks(fit, np.asarray(undecided, dtype=bool), checks, rng) if checks else rows[:0]
    return ErrorsLeft(expected, interval, next_expected, next_interval, len(upcoming), level,
                      len(np.asarray(verdict_positions)), int(errors.sum()), (float(theta[0]), float(theta[1])),
                      tuple(int(row) for row in drawn))


def draw_checks(fit: Calibration, undecided: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(≤ count,) undecided rows ((N,) bool) to check for the estimate's sake, drawn without
    replacement with weight p (1 - p) under `fit`: where a verdict moves the calibration most
    (a row the fit calls certainly fine or certainly wrong teaches it nothing)."""
    rows = np.flatnonzero(undecided)
    p = fit.error_probability(rows)
    weight = p * (1 - p)
    if not len(rows) or weight.sum() <= 0:
        return rows[:0]
    count = min(count, int((weight > 0).sum()))
    return rng.choice(rows, size=count, replace=False, p=weight / weight.sum())


def decided_precision(statuses: Sequence[str], block: int = 25) -> pd.DataFrame:
    """The decided part of the queue in blocks of `block` decisions, `statuses` in order (the order
    decided, or queue position): one row per block with first / last (1-based decision numbers),
    errors (relabeled + removed: something to fix), ambiguous, fine (confirmed), precision
    (errors / decisions in the block) and cumulative_precision (errors / decisions so far)."""
    statuses = np.asarray(statuses, dtype=object).astype(str)
    starts = np.arange(0, len(statuses), block)
    rows = []
    for start in starts:
        part = statuses[start:start + block]
        rows.append({"first": start + 1, "last": start + len(part),
                     "errors": int(np.isin(part, ["relabeled", "removed"]).sum()),
                     "ambiguous": int((part == "ambiguous").sum()), "fine": int((part == "confirmed").sum())})
    frame = pd.DataFrame(rows, columns=["first", "last", "errors", "ambiguous", "fine"])
    size = frame["last"] - frame["first"] + 1
    frame["precision"] = frame["errors"] / size
    frame["cumulative_precision"] = frame["errors"].cumsum() / frame["last"]
    return frame


def _draw_sums(samples: np.ndarray, x: np.ndarray, cells: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
    """For each (a, b) of (S, 2) samples: the sum over rows of p = sigmoid(a x + b) and of
    p (1 - p), each (S,); at most `cells` probabilities in memory at once."""
    sums, variances = np.zeros(len(samples)), np.zeros(len(samples))
    step = max(1, cells // max(len(x), 1))
    for start in range(0, len(samples), step):
        part = samples[start:start + step]
        p = _sigmoid(np.outer(part[:, 0], x) + part[:, 1:2])
        sums[start:start + step], variances[start:start + step] = p.sum(axis=1), (p * (1 - p)).sum(axis=1)
    return sums, variances


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))
