"""Real browser: open Active learning, point it at a small wide multi-annotator file, run a tiny
simulation in the background and see both curves (ActiveLab and Random), the line of the accuracy
with every annotation, and the round table."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from browser_app import start_app, wait_idle

from losslens.activelab.annotations import simulate_annotators

pytestmark = pytest.mark.browser
POLITE = ["Thanks a lot, could you please check this?", "Would you mind having a look? Thank you!",
          "Hi, great work here. Could you help me with the references please?"]
RUDE = ["Stop reverting my edits.", "Why did you delete this? Fix it now.", "This is wrong, undo it."]


def write_crowd(path: Path, n: int = 120) -> Path:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, n)
    labels, _ = simulate_annotators(truth, 2, n_annotators=6, per_example=4, error_range=(0.05, 0.3))
    frame = pd.DataFrame({f"ann{m}": [None if np.isnan(v) else ("polite" if v else "impolite") for v in labels[:, m]]
                          for m in range(6)})
    frame.insert(0, "text", [f"{(POLITE if y else RUDE)[i % 3]} (#{i})" for i, y in enumerate(truth)])
    frame.insert(0, "id", [f"q{i}" for i in range(n)])
    frame.to_csv(path, index=False)
    return path


def test_active_learning_page_shows_both_curves(page, tmp_path, tiny_classifier_dir, artifacts):
    crowd = write_crowd(tmp_path / "crowd.csv")
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["fine", "bad", "good", "awful"] * 3, "label": ["pos", "neg"] * 6}).to_csv(reviews, index=False)
    with start_app(tmp_path / "home", str(reviews), str(tiny_classifier_dir), artifacts / "active_app.log") as url:
        page.goto(url)
        wait_idle(page)
        # let the default scoring job finish first: two threads importing transformers at once can
        # fail ("cannot import name 'AutoModel'"), see the report on losslens.scoring.models' lazy import
        page.locator("[data-testid='stSidebar']").get_by_text("Dataset:").wait_for()
        page.locator("[data-testid='stSidebarNav'] a", has_text="Active learning").click()
        page.get_by_role("heading", name="Active learning").wait_for()
        wait_idle(page)
        page.get_by_test_id("stRadioGroup").get_by_text("A multi-annotator file").click()
        wait_idle(page)
        path_box = page.get_by_label("…or a local path")
        path_box.fill(str(crowd))
        path_box.press("Enter")
        page.get_by_text("120 examples").wait_for()
        for name, value in {"Rounds": 3, "Batch": 5, "Seeds": 2, "Initial": 20, "Pool": 50, "Test": 30}.items():
            box = page.get_by_label(name, exact=True)
            box.fill(str(value))
        page.get_by_role("button", name="Run simulation").click()
        page.get_by_text("Mean error ratio").wait_for(timeout=120_000)
        wait_idle(page)
        charts = page.locator("[data-testid='stPlotlyChart']")
        assert charts.count() == 2
        legend = charts.first.locator(".legendtext").all_text_contents()
        assert "ActiveLab" in legend and "Random" in legend
        assert charts.first.locator(".scatterlayer .trace").count() >= 4      # 2 lines + 2 std bands
        notes = charts.first.locator(".annotation-text").all_text_contents()
        assert "target 90%" in notes and any(n.startswith("every annotation ") for n in notes)   # the ceiling line
        page.set_viewport_size({"width": 1440, "height": 2400})              # the whole page, to look at
        wait_idle(page)
        page.screenshot(path=str(artifacts / "active_learning.png"))
