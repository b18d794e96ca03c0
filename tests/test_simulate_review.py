"""The simulated review (losslens.review.simulated_review) and `losslens evaluate --simulate-review`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from losslens import cli
from losslens.review.simulated_review import METRICS, trusted_labels, walk_queue
from review_data import review_args, write_reviews_csv


def probs_from_loss(loss: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """(N, 2) probabilities whose loss against `noisy` is `loss`."""
    probs = np.zeros((len(noisy), 2))
    probs[np.arange(len(noisy)), noisy] = np.exp(-loss)
    probs[np.arange(len(noisy)), 1 - noisy] = 1 - np.exp(-loss)
    return probs


def test_static_walk_figures_by_hand():
    # 8 rows, flips at rows 1 and 4 (k = 2); the static order is rows 0, 1, 2, 3, 4, ...
    noisy = np.zeros(8, dtype=np.int64)
    flipped = np.zeros(8, dtype=bool)
    flipped[[1, 4]] = True
    loss = np.linspace(2.0, 0.1, 8)
    figures = walk_queue(probs_from_loss(loss, noisy), noisy, flipped, np.arange(8))
    assert figures["R@k"] == 0.5 and figures["R@2k"] == 0.5      # 4 decisions reach only row 1
    assert figures["AP@2k"] == pytest.approx((1 / 2) / 2)           # precision 1/2 at row 1's turn
    assert set(figures) == set(METRICS)


def test_refits_reorder_what_is_left():
    noisy = np.zeros(8, dtype=np.int64)
    flipped = np.zeros(8, dtype=bool)
    flipped[[1, 6]] = True
    loss = np.linspace(2.0, 0.1, 8)
    seen = []

    def refit(reviewed: np.ndarray) -> np.ndarray:   # learns that row 6 is suspicious
        seen.append(reviewed.tolist())
        bumped = loss.copy()
        bumped[6] = 5.0
        return probs_from_loss(bumped, noisy)

    figures = walk_queue(probs_from_loss(loss, noisy), noisy, flipped, np.arange(8), refit, refit_every=2)
    assert seen == [[0, 1]]                        # refits after 2 decisions; none after the last
    assert figures["R@2k"] == 1.0 and figures["AP@2k"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_checks_decide_rows_further_down_and_no_row_twice():
    # 40 rows, flips at rows 0-3 (top of the queue) and 30-33 (bottom, where no top-only walk of
    # 2k = 16 decisions goes); every 2nd decision is a check drawn by p (1 - p).
    noisy = np.zeros(40, dtype=np.int64)
    flipped = np.zeros(40, dtype=bool)
    flipped[[0, 1, 2, 3, 30, 31, 32, 33]] = True
    loss = np.linspace(3.0, 0.05, 40)
    probs = probs_from_loss(loss, noisy)
    decided_rows = []
    import losslens.review.simulated_review as simulated

    real = simulated._estimate_figures

    def spy(checkpoint, probs, noisy, flipped, decided, reviewed, queue):
        decided_rows.append(reviewed.tolist())
        assert not decided[queue].any()                      # the queue handed on holds no checked row
        return real(checkpoint, probs, noisy, flipped, decided, reviewed, queue)

    simulated._estimate_figures = spy
    try:
        static = walk_queue(probs, noisy, flipped, np.arange(40))
        checked = walk_queue(probs, noisy, flipped, np.arange(40), check_every=2, rng=np.random.default_rng(0))
    finally:
        simulated._estimate_figures = real
    assert static["R@2k"] == 0.5                             # top-only: rows 0-15
    last = decided_rows[-1]                                  # the checked walk at k = 8 decisions
    assert len(last) == len(set(last)) == 8
    assert last[0::2] == [0, 1, 2, 3] and max(last[1::2]) > 15   # top rows, and checks further down
    assert set(checked) == set(METRICS)


def test_trusted_labels_relabel_the_flips_to_their_clean_label():
    trusted = trusted_labels(np.array([2, 0]), clean=np.array([1, 0, 2]), noisy=np.array([1, 2, 0]))
    assert trusted.labels.tolist() == [2, 1] and trusted.statuses.tolist() == ["relabeled", "confirmed"]


def test_evaluate_simulate_review_prints_both_walks_and_writes_json(tmp_path, tiny_encoder_dir, capsys):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=60, labels=("neg", "pos", "mixed"))
    args = ["evaluate", *review_args(csv, tiny_encoder_dir), "--noise", "0.1", "--seeds", "2", "--simulate-review",
            "--refit-every", "3", "--check-every", "4"]
    assert cli.main([*args, "--out", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "reviews.csv: 60 examples, 10% uniform flips (k=6), simulated review of 2k decisions, refit every 3, every 4th a check further down" in out
    assert "static" in out and "re-ranked" in out and "refits: 6," in out   # 12 decisions: refits at 3, 6, 9
    result = json.loads((tmp_path / "a.json").read_text())
    assert set(result["runs"]) == {"static", "re-ranked"} and (result["refit_every"], result["check_every"]) == (3, 4)
    assert all(len(v) == 2 for walk in result["runs"].values() for v in walk.values())
    assert all(0 <= v <= 1 for walk in result["runs"].values() for m in ("R@k", "R@2k", "AP@2k") for v in walk[m])


@pytest.mark.parametrize("extra, message", [
    (["--simulate-review", "--refit-every", "0"], "--refit-every must be at least 1 decision (got 0)"),
    (["--refit-every", "5"], "--refit-every is only used with --simulate-review"),
    (["--check-every", "5"], "--check-every is only used with --simulate-review"),
    (["--simulate-review", "--check-every", "1"], "--check-every must be 0 (no checks) or at least 2 decisions (got 1)"),
    (["--simulate-review", "--check-every", "-3"], "--check-every must be 0 (no checks) or at least 2 decisions"),
    (["--simulate-review", "--noise", "0.6"], "a review of 2k decisions needs a noise rate of at most 0.5"),
])
def test_bad_simulate_review_values_exit_2_with_one_line(tmp_path, tiny_encoder_dir, capsys, extra, message):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=30)
    assert cli.main(["evaluate", *review_args(csv, tiny_encoder_dir), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("losslens: error:") and message in err[0]
