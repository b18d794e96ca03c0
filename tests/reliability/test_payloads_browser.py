"""Real browser: markdown and HTML payloads in label names, ids and the file name are shown as
text on every page: no request leaves for another host, no image or link is created, no script
runs."""
from __future__ import annotations

import pandas as pd
import pytest

import browser_app

pytestmark = pytest.mark.browser

LABELS = ["![pixel](http://attacker.invalid/pixel.png)", "[click](javascript:window.__xss=1)"]
IDS = ["<img src=x onerror=\"window.__xss=2\">", "**bold** _id_ $x^2$"]
FILE = "![f](x.png)<b>file <i>name.csv"


def test_payloads_in_labels_ids_and_file_names_stay_text(page, tmp_path, tiny_classifier_dir, artifacts):
    from tiny_models import build_tiny_classifier

    model = build_tiny_classifier(tmp_path / "model", LABELS)
    rows = [{"id": IDS[i % 2] + f" {i}", "text": f"review number {i}", "label": LABELS[i % 2]} for i in range(12)]
    csv = tmp_path / FILE
    pd.DataFrame(rows).to_csv(csv, index=False)
    outside = []
    page.route("**/*", lambda route: (outside.append(route.request.url)
                                      if not route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1",
                                                                           "data:", "blob:"))
                                      else None, route.continue_())[1])
    with browser_app.start_app(tmp_path / "home", str(csv), str(model), tmp_path / "app.log") as url:
        page.goto(url)
        page.get_by_text("Labels the model disputes").wait_for()
        browser_app.wait_idle(page)
        for path in ("/review", f"/review?id={IDS[0]} 0", "/export", "/active_learning"):
            page.goto(url + path)
            page.get_by_role("heading").first.wait_for()
            browser_app.wait_idle(page)
            page.wait_for_timeout(500)
            main = page.locator("[data-testid='stMain']")
            assert main.locator("img[src='x'], img[src*='attacker'], img[src='x.png']").count() == 0, path
            assert main.locator("a[href^='javascript'], a[href*='attacker']").count() == 0, path
            assert main.locator("b", has_text="file").count() == 0 and main.locator("strong", has_text="bold").count() == 0
            assert page.evaluate("window.__xss") is None
        page.screenshot(path=str(artifacts / "payloads.png"), full_page=True)
        page.goto(url)                                   # score it again with its id column
        page.get_by_text("Local file").click()
        page.locator(".st-key-dm_path input").fill(str(csv))
        page.locator(".st-key-dm_path input").press("Enter")
        page.get_by_text("Preview: first rows of 12").wait_for()
        page.get_by_test_id("stSelectbox").filter(has_text="Id column").click()
        page.get_by_role("option", name="id", exact=True).click()
        browser_app.wait_idle(page)
        page.get_by_role("button", name="Score", exact=True).click()
        page.get_by_text("Scored in").wait_for()
        page.get_by_test_id("stSidebarNav").get_by_text("Review", exact=True).click()   # same session
        page.get_by_text("Why it is here").wait_for()
        browser_app.wait_idle(page)
        card = page.locator(".st-key-rv_card").inner_text()
        assert any(f"{i} " in card for i in IDS), card          # the id, shown literally
        assert LABELS[0] in card or LABELS[1] in card
        assert page.locator("img[src='x'], img[src*='attacker']").count() == 0
        assert page.evaluate("window.__xss") is None
    assert outside == [], outside
