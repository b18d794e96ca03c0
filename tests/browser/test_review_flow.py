"""Real browser: score a fixture, sort by cleanlab rank, filter flagged, relabel two rows, confirm
one, reload and see all three decisions, download the CSV and check its labels and statuses."""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from browser_app import start_app, wait_idle
from losslens.data import text_hash

pytestmark = pytest.mark.browser

REVIEWS = [
    ("A moving story with wonderful acting.", "pos"), ("Dull plot and wooden dialogue.", "neg"),
    ("I laughed from start to finish.", "pos"), ("Two hours I will never get back.", "neg"),
    ("The soundtrack alone is worth it.", "pos"), ("Predictable, slow and far too long.", "neg"),
    ("A clever script and a great cast.", "pos"), ("The ending made no sense at all.", "neg"),
    ("Beautifully shot, I loved it.", "neg"), ("Terrible pacing, I fell asleep.", "pos"),
    ("Warm, funny and honest.", "pos"), ("The worst film of the year.", "neg"),
    ("An instant classic.", "pos"), ("Lazy writing everywhere.", "neg"),
    ("Stunning performances all round.", "pos"), ("I walked out halfway.", "neg"),
    ("Smart, tense and surprising.", "pos"), ("Boring characters, boring story.", "neg"),
    ("Heartfelt and well made.", "pos"), ("A mess from start to end.", "neg"),
]


def write_reviews(path: Path) -> Path:
    pd.DataFrame(REVIEWS, columns=["text", "label"]).to_csv(path, index=False)
    return path


def open_page(page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).click()
    page.get_by_role("heading", name=title).wait_for()
    wait_idle(page)


def choose(page, scope, label: str | None, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (or the only one) inside `scope`."""
    boxes = scope.get_by_test_id("stSelectbox")
    box = (boxes.filter(has_text=label) if label else boxes).first
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):   # a click during a rerun can be swallowed: open the list again
        wait_idle(page)
        box.click()
        try:
            choice.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 — playwright TimeoutError
            page.keyboard.press("Escape")
    choice.click()
    wait_idle(page)


def row_info(row) -> tuple[str, str]:
    """(example id, given label) from a row's header line."""
    found = re.search(r"id (\S+) · given (\S+) ·", row.inner_text())
    assert found, row.inner_text()
    return found.group(1), found.group(2)


def test_review_flow_survives_reload_and_exports(page, tmp_path, tiny_classifier_dir, artifacts):
    from playwright.sync_api import expect

    csv = write_reviews(tmp_path / "reviews.csv")
    page.set_default_timeout(20_000)
    with start_app(tmp_path / "home", str(csv), str(tiny_classifier_dir), tmp_path / "app.log") as url:
        page.goto(url)
        page.get_by_text("Flagged as likely label issues").wait_for()
        wait_idle(page)
        page.screenshot(path=str(artifacts / "data_model.png"), full_page=True)

        open_page(page, "Review")
        choose(page, page, "Sort by", "cleanlab rank")
        page.get_by_text("Flagged only").click()
        wait_idle(page)
        rows = [page.locator(f".st-key-review_row_{i}") for i in range(3)]
        decided = {}
        for row in rows[:2]:
            example_id, given = row_info(row)
            new = "neg" if given == "pos" else "pos"
            choose(page, row, None, new)
            expect(row).to_contain_text(f"relabeled → {new}", timeout=30_000)
            decided[example_id] = ("relabeled", new)
        example_id, given = row_info(rows[2])
        for _ in range(3):   # a click that lands mid-rerun can be swallowed: click again
            wait_idle(page)
            rows[2].get_by_role("button", name="Confirm").click()
            try:
                expect(rows[2]).to_contain_text("confirmed by", timeout=10_000)
                break
            except AssertionError:
                continue
        expect(rows[2]).to_contain_text("confirmed by")
        decided[example_id] = ("confirmed", given)
        page.screenshot(path=str(artifacts / "review.png"), full_page=True)

        page.reload()
        page.get_by_role("heading", name="Review").wait_for()
        page.get_by_text("Flagged examples reviewed").wait_for()
        wait_idle(page)
        progress = page.get_by_test_id("stProgress").inner_text()
        assert "relabeled 2" in progress and "confirmed 1" in progress, progress
        shown = page.locator("[class*='st-key-review_row_']").all_inner_texts()
        for example_id, (status, label) in decided.items():
            text = next(t for t in shown if f"id {example_id} ·" in t)
            assert status in text and (status != "relabeled" or f"→ {label}" in text), text
        page.screenshot(path=str(artifacts / "review_after_reload.png"), full_page=True)

        open_page(page, "Export")
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        exported = pd.read_csv(io.BytesIO(Path(download.value.path()).read_bytes()), dtype=str,
                               keep_default_na=False)
        page.screenshot(path=str(artifacts / "export.png"), full_page=True)
    assert len(exported) == len(REVIEWS)
    assert list(exported.columns[:2]) == ["text", "label"]
    by_row = exported.set_index(exported["text"].map(text_hash))   # no id column: ids come from the texts
    for example_id, (status, label) in decided.items():
        assert by_row.loc[example_id, "status"] == status
        assert by_row.loc[example_id, "corrected_label"] == label
    assert (exported["status"] == "unreviewed").sum() == len(REVIEWS) - 3
