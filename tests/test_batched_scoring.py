"""losslens.scoring.batched: per-row columns equal the in-memory path, flags equal cleanlab's
find_label_issues_batched, rank equals review_rank of those flags (several batches and sort
buckets on small data); the pipeline switches to it at LOSSLENS_BATCHED_SCORING_ROWS; its
working memory does not grow with the number of rows."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cleanlab.count import _reduce_issues
from cleanlab.experimental.label_issues_batched import LabelInspector, find_label_issues_batched

from losslens.scoring.batched import ISSUE, QUALITY, RANK, score_examples_batched
from losslens.errors import ConfigError
from losslens.scoring.models import ModelSpec
from losslens.scoring.pipeline import score_dataset
from losslens.scoring.scores import review_rank, score_examples
from review_data import load_reviews

BATCH, SORT = 1_000, 2_500   # small, so a few thousand rows span many batches and sort buckets


def synthetic(folder: Path, n: int, k: int, seed: int = 0, distinct_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probs (n, k) float64, labels (n,)) saved as probs.npy / labels.npy; distinct_rows repeats
    that many probability rows (exact ties everywhere)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(distinct_rows or n, k)) * 2.0
    logits = logits[rng.integers(0, len(logits), n)] if distinct_rows else logits
    logits[np.arange(n), labels] += 3.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    np.save(folder / "probs.npy", probs)
    np.save(folder / "labels.npy", labels)
    return probs, labels


def batched(folder: Path, method: str = "self_confidence") -> np.ndarray:
    return np.load(score_examples_batched(folder / "probs.npy", folder / "labels.npy", folder / "scores.npy",
                                          method, batch_rows=BATCH, sort_rows=SORT))


@pytest.mark.parametrize("method", ["self_confidence", "normalized_margin"])
def test_columns_flags_and_rank_match_their_references(tmp_path, method):
    probs, labels = synthetic(tmp_path, 12_345, 4)
    scores = batched(tmp_path, method)
    in_memory = score_examples(probs, labels, method).to_array()
    np.testing.assert_array_equal(scores[:, :QUALITY + 1], in_memory[:, :QUALITY + 1])   # to the last bit
    flags = scores[:, ISSUE].astype(bool)
    expected = find_label_issues_batched(labels=labels, pred_probs=probs, batch_size=BATCH, verbose=False,
                                         return_mask=True, quality_score_kwargs={"method": method})
    np.testing.assert_array_equal(flags, expected)
    assert 1_000 < flags.sum() < 4_000
    np.testing.assert_array_equal(scores[:, RANK], review_rank(flags, scores[:, QUALITY], scores[:, 1]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.npy", "probs.npy", "scores.npy"]   # scratch gone


def test_ties_at_the_cut_flag_the_earlier_rows(tmp_path):
    probs, labels = synthetic(tmp_path, 9_000, 3, seed=1, distinct_rows=30)
    scores = batched(tmp_path)
    inspector = LabelInspector(num_class=3, verbose=False, n_jobs=1)
    for start in range(0, len(labels), BATCH):
        inspector.update_confident_thresholds(labels[start:start + BATCH], probs[start:start + BATCH])
    for start in range(0, len(labels), BATCH):
        inspector.score_label_quality(labels[start:start + BATCH], probs[start:start + BATCH])
    lowest = np.argsort(inspector.get_quality_scores(), kind="stable")[:inspector.get_num_issues()]
    expected = np.zeros(len(labels), dtype=bool)
    expected[lowest] = True
    expected &= ~_reduce_issues(probs, labels)
    flags = scores[:, ISSUE].astype(bool)
    np.testing.assert_array_equal(flags, expected)
    np.testing.assert_array_equal(scores[:, RANK], review_rank(flags, scores[:, QUALITY], scores[:, 1]))


def test_the_pipeline_scores_in_bounded_memory_from_the_threshold(tmp_path, monkeypatch, tiny_classifier_dir,
                                                                 losslens_home):
    data = load_reviews(tmp_path, n=300)
    spec = ModelSpec(str(tiny_classifier_dir), precision="fp32")
    in_memory = score_dataset(data, spec).table
    monkeypatch.setenv("LOSSLENS_HOME", str(tmp_path / "batched_home"))
    monkeypatch.setenv("LOSSLENS_BATCHED_SCORING_ROWS", "300")
    results = score_dataset(data, spec)
    table = results.table
    for column in ("predicted_label", "loss", "p_given", "margin", "quality"):
        np.testing.assert_array_equal(table[column], in_memory[column])
    expected = find_label_issues_batched(labels=data.labels, pred_probs=results.probs(), verbose=False,
                                         return_mask=True)
    np.testing.assert_array_equal(table["is_issue"], expected)
    assert 0 < expected.sum() < 300
    np.testing.assert_array_equal(table["rank"], review_rank(expected, table["quality"].to_numpy(),
                                                             table["loss"].to_numpy()))
    assert not any((tmp_path / "batched_home" / "scratch").iterdir())


def test_a_bad_threshold_setting_is_one_line(tmp_path, monkeypatch, tiny_classifier_dir):
    monkeypatch.setenv("LOSSLENS_BATCHED_SCORING_ROWS", "1e6")
    with pytest.raises(ConfigError, match="LOSSLENS_BATCHED_SCORING_ROWS must be a whole number of rows"):
        score_dataset(load_reviews(tmp_path, n=20), ModelSpec(str(tiny_classifier_dir), precision="fp32"))


MEASURE = """
import json, sys
from pathlib import Path
import numpy as np
import cleanlab.experimental.label_issues_batched, cleanlab.rank   # imported before the measure starts
from losslens.scoring.batched import score_examples_batched
def status(key):
    return int(next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key)).split()[1])
folder = Path(sys.argv[1])
before = status("VmRSS:")
score_examples_batched(folder / "probs.npy", folder / "labels.npy", folder / "scores.npy", batch_rows=20_000,
                       sort_rows=50_000)
print(json.dumps({"peak_kib": status("VmHWM:") - before}))
"""


def test_working_memory_does_not_grow_with_the_rows(tmp_path):
    """Peak resident memory above the start, for 10x the rows: the same within 16 MiB (the
    probabilities alone grow by 29 MiB, the output table by 58 MiB)."""
    peaks = []
    for n in (100_000, 1_000_000):
        folder = tmp_path / str(n)
        folder.mkdir()
        synthetic(folder, n, 4)
        child = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, check=True)
        peaks.append(json.loads(child.stdout)["peak_kib"] / 1024)
    assert peaks[1] - peaks[0] < 16, peaks
