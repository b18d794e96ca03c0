"""Real browser: a bookmarked /review opened as the very first request after the server starts
goes through app.py (its navigation and shared state), not Streamlit's legacy pages/ mode."""
import pandas as pd
import pytest

from browser_app import start_app, wait_idle

pytestmark = pytest.mark.browser


def test_review_deep_link_on_a_fresh_server(page, tmp_path, tiny_classifier_dir):
    csv = tmp_path / "tiny.csv"
    pd.DataFrame({"text": [f"review number {i}" for i in range(12)],
                  "label": ["neg", "pos"] * 6}).to_csv(csv, index=False)
    with start_app(tmp_path / "home", str(csv), str(tiny_classifier_dir), tmp_path / "app.log") as url:
        page.goto(f"{url}/review")
        wait_idle(page)
        nav = page.get_by_test_id("stSidebarNav").inner_text()
        assert "Data & model" in nav and "session" not in nav.lower()
        page.get_by_text("Disagreements reviewed", exact=False).wait_for(timeout=60_000)
        assert page.get_by_role("heading", name="Review").is_visible()
