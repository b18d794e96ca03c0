"""Real browser: three named reviewers decided the same examples; the Active learning page shows
their consensus, agreement and the next batch, and the export carries the consensus columns."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from browser_app import start_app, wait_idle
from losslens.sources.datasets import DatasetSource, load_dataset
from losslens.review.binding import decide
from losslens.store.decisions import DecisionStore

pytestmark = pytest.mark.browser


def test_reviewers_consensus_agreement_next_batch_and_export(page, tmp_path, tiny_classifier_dir, artifacts):
    csv = tmp_path / "reviews.csv"
    pd.DataFrame({"text": [f"review {i} of a film with a plot" for i in range(20)],
                  "label": ["neg", "pos"] * 10}).to_csv(csv, index=False)
    data = load_dataset(DatasetSource.parse(str(csv)))
    home = tmp_path / "home"
    store = DecisionStore(home / "decisions.sqlite")
    for position in range(6):   # ann and bob agree (flip the label); carl keeps it on the first two
        given = data.label_names[data.labels[position]]
        flipped = "neg" if given == "pos" else "pos"
        decide(store, data, [position], "relabeled", flipped, "ann")
        decide(store, data, [position], "relabeled", flipped, "bob")
        decide(store, data, [position], "confirmed" if position < 2 else "relabeled",
               given if position < 2 else flipped, "carl")
    page.set_default_timeout(60_000)
    with start_app(home, str(csv), str(tiny_classifier_dir), tmp_path / "app.log") as url:
        page.goto(url)
        page.get_by_text("Labels the model disputes").wait_for()
        page.get_by_test_id("stSidebarNav").get_by_text("Active learning", exact=True).click()
        page.get_by_role("heading", name="Active learning").wait_for()
        page.get_by_role("tab", name="Reviewers").click()
        page.get_by_text("Examples with reviewer labels").wait_for()
        wait_idle(page)
        metrics = {m.split("\n")[0]: m.split("\n")[-1] for m in page.get_by_test_id("stMetric").all_inner_texts()}
        assert metrics["Examples with reviewer labels"] == "6" and metrics["Seen by 2+ reviewers"] == "6"
        alpha = metrics["Agreement (Krippendorff's alpha)"]
        assert 0 < float(alpha) < 1                      # carl disagrees twice: agreement, not complete
        assert page.get_by_text("CROWDLAB (cleanlab.multiannotator) weighs 3 reviewer(s)").count() == 1
        page.screenshot(path=str(artifacts / "reviewers.png"), full_page=True)
        page.get_by_role("tab", name="Next batch").click()
        page.get_by_role("button", name="Review these examples").wait_for()

        page.get_by_test_id("stSidebarNav").get_by_text("Export", exact=True).click()
        page.get_by_role("heading", name="Export").wait_for()
        page.get_by_text("Reviewer consensus").click()
        page.wait_for_timeout(1000)
        wait_idle(page)
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        exported = pd.read_csv(io.BytesIO(Path(download.value.path()).read_bytes()), dtype=str, keep_default_na=False)
    decided = exported.iloc[:6]
    flipped = decided["label"].map({"neg": "pos", "pos": "neg"})
    assert (decided["consensus_label"].iloc[2:] == flipped.iloc[2:]).all()   # all three reviewers agree there
    assert (exported.iloc[6:]["consensus_label"] == "").all()           # nobody reviewed the rest
    assert decided["consensus_quality"].astype(float).between(0, 1).all()
