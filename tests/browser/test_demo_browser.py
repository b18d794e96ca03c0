"""Real browser on the real offline demo: the app scores BBC News with the bundled encoder by itself
on first load and the Review page's focus mode shows its top loss, with its evidence."""
import re

import pytest

from browser_app import start_app, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_demo_scores_on_first_load_and_shows_top_losses(page, tmp_path, artifacts):
    with start_app(tmp_path / "home", "demo:bbc", "bundled:minilm", tmp_path / "app.log", warm=False) as url:
        page.goto(url)
        # The first scoring of 2,225 articles takes minutes on a slow or busy machine: wait for the
        # job's own completion (an hour at most, a hang guard), not for a guess at its speed.
        page.get_by_text("Labels the model disputes").wait_for(timeout=3_600_000)
        wait_idle(page)
        assert page.get_by_text("out-of-sample", exact=True).first.is_visible()
        page.locator("[data-testid='stSidebarNav'] a", has_text="Review").click()
        page.get_by_text("Why it is here").wait_for(timeout=60_000)
        wait_idle(page)
        card = page.locator(".st-key-rv_card").inner_text()
        header = re.search(r"1 of 2,225 undecided · id (\w+/\d{3}) · cleanlab rank \d+ · loss ([\d.]+).*Given (\w+) · model: (\w+)", card, re.S)
        assert header, card
        _id, loss, given, predicted = header.groups()
        assert given != predicted and float(loss) > 2.0  # the top loss is a disagreement
        assert "Nearest neighbours" in page.inner_text("body") and page.locator(".st-key-rv_near_4").count() == 1
        page.screenshot(path=str(artifacts / "demo_review.png"), full_page=False)
