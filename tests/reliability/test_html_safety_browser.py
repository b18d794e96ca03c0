"""Real browser: texts with <script> and <b> markup are shown literally, never run or rendered."""
from __future__ import annotations

import pandas as pd
import pytest

import browser_app
from losslens.sources.datasets import text_hash

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__xss=1</script> breaking news"
BOLD = "<b>bold</b> claims about the <i>market</i>"
IMG = '<img src=x onerror="window.__xss=2"> picture caption'


def test_markup_in_texts_is_shown_literally(page, tmp_path, tiny_classifier_dir, artifacts):
    rows = [(SCRIPT, "pos"), (BOLD, "neg"), (IMG, "pos")] + [
        (f"plain text number {i}", "neg" if i % 2 else "pos") for i in range(9)]
    csv = tmp_path / "markup.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(csv, index=False)
    with browser_app.start_app(tmp_path / "home", str(csv), str(tiny_classifier_dir),
                                    tmp_path / "app.log") as url:
        page.goto(url)
        page.get_by_text("Labels the model disputes").wait_for()
        for literal in (SCRIPT, BOLD, IMG):   # each one focused in turn, by its link
            page.goto(f"{url}/review?id={text_hash(literal)}")
            page.get_by_text("Why it is here").wait_for()
            browser_app.wait_idle(page)
            main = page.locator("[data-testid='stMain']")
            assert main.locator(".st-key-rv_text").get_by_text(literal, exact=True).count() == 1, literal
            assert page.evaluate("window.__xss") is None
            assert main.locator("b", has_text="bold").count() == 0
            assert main.locator("i", has_text="market").count() == 0
            assert main.locator("img[src='x']").count() == 0
        page.screenshot(path=str(artifacts / "html_safety.png"), full_page=True)
