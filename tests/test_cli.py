"""`losslens score | export` as a user runs them: subprocesses, exit codes, files, cache hits."""

import re

import numpy as np
import pandas as pd
import pytest

from cli_runner import SUMMARY, losslens, losslens_killed_after_first_chunk
from losslens.scoring.inference import CHUNK_ROWS
from review_data import review_args, write_reviews_csv

def test_score_writes_results_and_second_run_hits_cache(tmp_path, tiny_classifier_dir, losslens_home):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=30)
    out = tmp_path / "results.csv"
    first = losslens("score", *review_args(csv, tiny_classifier_dir), "--out", str(out), env_home=losslens_home)
    assert first.returncode == 0, first.stderr
    rows, accuracy, issues, _, cache, probs, truncated = SUMMARY.match(first.stdout).groups()
    assert (rows, cache, probs, truncated) == ("30", "miss", "in-sample", "0")
    table = pd.read_csv(out)
    assert len(table) == 30 and list(table["id"][:2]) == ["r000", "r001"]
    assert float(accuracy) == pytest.approx((table["predicted_label"] == table["label"]).mean(), abs=1e-4)
    assert int(issues) == int(table["is_issue"].sum())
    assert "30/30" in first.stderr  # progress bar

    second = losslens("score", *review_args(csv, tiny_classifier_dir), "--out", str(tmp_path / "r.parquet"),
                      env_home=losslens_home)
    assert SUMMARY.match(second.stdout).group(5) == "hit"
    again = pd.read_parquet(tmp_path / "r.parquet")
    np.testing.assert_allclose(again["loss"], table["loss"], rtol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--text-col", "body"], "body"),
        (["--model", "/nonexistent/model"], "/nonexistent/model"),
        (["--out", "results.xlsx"], "give a .csv or .parquet file name"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, tiny_classifier_dir, losslens_home, args, message):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=12)
    base = review_args(csv, tiny_classifier_dir)
    for flag in ("--text-col", "--model"):
        if flag in args:
            i = base.index(flag)
            del base[i:i + 2]
    result = losslens("score", *base, *args, env_home=losslens_home)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("losslens: error:") and message in lines[-1]
    assert "Traceback" not in result.stderr


def test_killed_scoring_run_resumes_with_identical_results(tmp_path, tiny_classifier_dir, losslens_home):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=3 * CHUNK_ROWS - 100)
    args = ["score", *review_args(csv, tiny_classifier_dir), "--batch-size", "16", "--max-length", "64"]
    losslens_killed_after_first_chunk(*args, env_home=losslens_home)
    stored = list((losslens_home / "chunks").glob("*/chunk_*.npy"))
    assert len(stored) == 1, "exactly the first chunk is on disk after the kill"

    resumed = losslens(*args, "--out", str(tmp_path / "resumed.csv"), env_home=losslens_home)
    assert resumed.returncode == 0, resumed.stderr
    first_progress = re.search(r"(\d+)/\d+", resumed.stderr).group(1)
    assert first_progress == str(CHUNK_ROWS)   # the stored chunk was not computed again
    fresh = losslens(*args, "--out", str(tmp_path / "fresh.csv"), env_home=tmp_path / "fresh_home")
    assert fresh.returncode == 0, fresh.stderr
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "resumed.csv"), pd.read_csv(tmp_path / "fresh.csv"), rtol=1e-5
    )


def test_export_writes_reviewer_decisions(tmp_path, tiny_classifier_dir, losslens_home):
    from losslens.store.decisions import DecisionStore

    from losslens.sources.datasets import text_hash

    csv = write_reviews_csv(tmp_path / "reviews.csv", n=10)
    texts = pd.read_csv(csv).set_index("id")["review"].map(text_hash)
    store = DecisionStore()
    store.record("reviews.csv", "r001", "pos", "neg", "relabeled", "ana", text_hash=texts["r001"])
    store.record("reviews.csv", "r002", "neg", "neg", "confirmed", "ben", text_hash=texts["r002"])
    store.record("reviews.csv", "r003", "pos", "pos", "removed", "ana", text_hash=texts["r003"])
    store.record("reviews.csv", "r999", "pos", "neg", "relabeled", "ana", text_hash="h")   # not in this file: stale
    out = tmp_path / "corrected.csv"
    result = losslens("export", *review_args(csv, tiny_classifier_dir), "--out", str(out),
                      "--drop-removed", env_home=losslens_home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rows=9 decisions=3 stale=1")
    frame = pd.read_csv(out).set_index("id")
    assert "r003" not in frame.index and len(frame) == 9
    assert frame.loc["r001", ["sentiment", "corrected_label", "status", "reviewer"]].tolist() == [
        "pos", "neg", "relabeled", "ana"]
    assert frame.loc["r002", ["corrected_label", "status", "reviewer"]].tolist() == ["neg", "confirmed", "ben"]
    assert frame.loc["r000", ["corrected_label", "status"]].tolist() == ["neg", "unreviewed"]

    changed = tmp_path / "changed.csv"
    losslens("export", *review_args(csv, tiny_classifier_dir), "--out", str(changed), "--changed-only",
             env_home=losslens_home)
    assert sorted(pd.read_csv(changed)["id"]) == ["r001", "r002", "r003"]


def test_evaluate_prints_every_ranking_and_is_reproducible(tmp_path, tiny_encoder_dir, capsys):
    import json

    from losslens import cli

    csv = write_reviews_csv(tmp_path / "reviews.csv", n=60, labels=("neg", "pos", "mixed"))
    args = ["evaluate", *review_args(csv, tiny_encoder_dir), "--noise", "0.1", "--seeds", "2"]
    assert cli.main([*args, "--out", str(tmp_path / "a.json")]) == 0
    table = capsys.readouterr().out
    assert "reviews.csv: 60 examples, 10% uniform flips (k=6), seeds 0, 1" in table
    for ranking in ("ensemble: loss", "ensemble: cleanlab rank", "ensemble: margin", "embedding: loss",
                    "tfidf: loss", "knn: loss"):
        assert ranking in table
    assert cli.main([*args, "--out", str(tmp_path / "b.json")]) == 0
    first, second = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert first["runs"] == second["runs"]                         # to the digit, per seed
    assert all(0 <= v <= 1 for r in first["runs"].values() for vs in r.values() for v in vs)
    assert cli.main(["evaluate", *review_args(csv, tiny_encoder_dir), "--noise", "2"]) == 2
    assert "the noise rate must be between 0 and 1" in capsys.readouterr().err
