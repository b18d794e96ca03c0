"""Real browser on the real offline demo: the app scores BBC News with the bundled encoder by itself
on first load (about 30 s here) and the Review page shows its top losses."""
import re

import pytest

from browser_app import start_app, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_demo_scores_on_first_load_and_shows_top_losses(page, tmp_path, artifacts):
    with start_app(tmp_path / "home", "demo:bbc", "bundled:minilm", tmp_path / "app.log") as url:
        page.goto(url)
        page.get_by_text("Flagged as likely label issues").wait_for(timeout=300_000)
        wait_idle(page)
        assert page.get_by_text("out-of-sample", exact=True).first.is_visible()
        page.locator("[data-testid='stSidebarNav'] a", has_text="Review").click()
        page.get_by_text("matching examples").wait_for(timeout=60_000)
        wait_idle(page)
        assert "2,225 matching examples · page 1 of 45" in page.inner_text("body")
        first = page.locator("[class*='st-key-review_row_0']").inner_text()
        header = re.search(r"#(\d+) · id (\w+/\d{3}) · given (\w+) · predicted (\w+) \((\d+)%\) · loss ([\d.]+)", first)
        assert header, first
        _rank, _id, given, predicted, _p, loss = header.groups()
        assert given != predicted and float(loss) > 2.0  # the top loss is a disagreement
        page.screenshot(path=str(artifacts / "demo_review.png"), full_page=False)
