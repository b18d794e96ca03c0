"""Real browser at 1440 px: the table view's rows are readable (the text wraps where the page's
texts need it, a long text shows in full for the selected row) and the pager is the only paging
(every row of a page is on screen, the table itself does not scroll); a page turn drops the
selection; "Open in focus view" opens the selected example."""
from __future__ import annotations

import pandas as pd
import pytest

from browser_app import LONG_REVIEWS, REVIEWS, card_id, start_app, wait_idle
from losslens.sources.datasets import text_hash

pytestmark = pytest.mark.browser
HEADER_PX = 35


def open_table(page, url: str, params: str) -> tuple[int, float]:
    """Open the table view with these URL parameters; (rows on screen, height of a row in px),
    after checking that the table shows every row of its page without scrolling."""
    page.goto(f"{url}/review?view=table&{params}")
    page.locator(".st-key-rv_table").wait_for()
    wait_idle(page)
    scroll_height, client_height = page.locator(".st-key-rv_table .dvn-scroller").evaluate(
        "e => [e.scrollHeight, e.clientHeight]")
    assert scroll_height <= client_height + 1                       # no scrolling inside the table
    rows = int(page.locator(".st-key-rv_table [role='grid']").get_attribute("aria-rowcount")) - 1
    assert page.get_by_role("button", name="← Previous").count() == 1    # one pager
    assert page.get_by_role("button", name="Next →").count() == 1
    return rows, (client_height - HEADER_PX) / rows


def tick_row(page, row: int, row_px: float) -> None:
    """Click the selection box of the table's row `row` (0-based; the table is drawn on a canvas)."""
    grid = page.locator(".st-key-rv_table [data-testid='stDataFrameResizable']").bounding_box()
    page.mouse.click(grid["x"] + 15, grid["y"] + HEADER_PX + (row + 0.5) * row_px)
    wait_idle(page)


def test_table_rows_are_readable_with_one_pager(page, tmp_path, artifacts):
    from playwright.sync_api import expect

    csv = tmp_path / "reviews.csv"
    pd.DataFrame(REVIEWS + LONG_REVIEWS, columns=["text", "label"]).to_csv(csv, index=False)
    long_text = LONG_REVIEWS[0][0]                      # 584 characters: more than a row carries
    page.set_viewport_size({"width": 1440, "height": 900})
    page.set_default_timeout(120_000)
    with start_app(tmp_path / "home", str(csv), "bundled:minilm", tmp_path / "app.log") as url:
        rows, row_px = open_table(page, url, "size=25")
        expect(page.get_by_text("26 matching · page 1 of 2")).to_be_visible()
        assert rows == 25 and row_px == pytest.approx(92, abs=1)    # 5+ of its 25 texts are long: 5-line rows
        tick_row(page, 0, row_px)
        expect(page.locator(".st-key-rv_bulk_apply")).to_have_text("Apply to 1")
        page.get_by_role("button", name="Next →").click()
        wait_idle(page)
        expect(page.locator(".st-key-rv_pager")).to_contain_text("page 2 of 2")
        expect(page.locator(".st-key-rv_bulk_apply")).to_have_text("Apply to 0")   # the tick was on page 1
        assert page.locator(".st-key-rv_table_preview").count() == 0

        rows, row_px = open_table(page, url, "q=film")   # four long reviews and a short one
        assert rows == 5 and row_px == pytest.approx(92, abs=1)
        tick_row(page, 0, row_px)
        films = [t for t, _ in REVIEWS + LONG_REVIEWS if "film" in t.lower()]
        assert page.locator(".st-key-rv_table_preview").get_by_test_id("stText").inner_text() in films
        page.set_viewport_size({"width": 1440, "height": 1300})         # the README's picture
        wait_idle(page)
        page.screenshot(path=str(artifacts / "review_table_1440.png"))
        page.set_viewport_size({"width": 1440, "height": 900})

        rows, row_px = open_table(page, url, "q=seaside")
        tick_row(page, 0, row_px)
        preview = page.locator(".st-key-rv_table_preview")
        expect(preview).to_contain_text("Given pos · model says")
        assert preview.get_by_test_id("stText").inner_text() == long_text   # whole, not the row's 350 characters
        preview.get_by_role("button", name="Open in focus view").click()
        page.get_by_text("Why it is here").wait_for()
        wait_idle(page)
        assert card_id(page) == text_hash(long_text)
