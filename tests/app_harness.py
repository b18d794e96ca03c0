"""AppTest helpers shared by the page tests: a small scoring fixture, the app's defaults pointed
at it, and an app whose default scoring job has finished."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from warm_cache import warm_home

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `pages` (the app's UI package) is not installed, core is
WORDS = "good great fine bad awful poor movie plot actor scene".split()
MARKUP = "<script>window.__xss=1</script> and <b>bold</b>"


def write_review_fixture(path: Path, n: int = 24, markup: bool = False) -> Path:
    """text,label CSV with neg/pos labels (the tiny classifier's); row 0 holds MARKUP if asked."""
    rows = [{"text": " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(3 + i % 5)),
             "label": "neg" if i % 2 else "pos"} for i in range(n)]
    if markup:
        rows[0]["text"] = MARKUP
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def use_app_defaults(monkeypatch, dataset: Path, model_dir: Path, warm: bool = True) -> None:
    """Point the app's first-load defaults at `dataset` + `model_dir` (with `warm`, its scores
    already in the test's LOSSLENS_HOME: tests/warm_cache.py), run from the repo root, and
    keep Streamlit's legacy pages/ mode off (AppTest re-detects it before every run; the server
    started by `losslens app` has it off), so each run goes through app.py's st.navigation."""
    from streamlit.runtime.pages_manager import PagesManager

    original_init = PagesManager.__init__

    def init_without_legacy_pages(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init_without_legacy_pages)
    monkeypatch.setenv("LOSSLENS_DEMO_SOURCE", str(dataset))
    monkeypatch.setenv("LOSSLENS_DEFAULT_MODEL", str(model_dir))
    monkeypatch.chdir(ROOT)
    if warm:
        warm_home(Path(os.environ["LOSSLENS_HOME"]), dataset, model_dir)


def wait_for_jobs(hang_guard: float = 1800.0) -> None:
    """Block until no background job of the app waits in line or runs (worker processes may take
    minutes on a busy machine: `hang_guard` seconds only stop a hung test)."""
    from pages.background import job_registry

    deadline = time.monotonic() + hang_guard
    busy = lambda: job_registry().running() or job_registry().queued()  # noqa: E731
    while busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not busy(), "background job still running"


def scored_app(page: str | None = None) -> AppTest:
    """The app after its default scoring job finished, switched to `page` when given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    wait_for_jobs()
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def scoring(at: AppTest):
    """The app's scoring session state (pages.session.ScoringSession): request, job, data, results."""
    from pages.session import SCORING

    return at.session_state[SCORING]


def review_view(at: AppTest):
    """The Review page's state (pages.review_state.ReviewView): chosen examples, current example..."""
    from pages.review_state import REVIEW

    return at.session_state[REVIEW]


def second_reviewer_decides(at: AppTest, position: int = -1) -> str:
    """Another reviewer ("bob") confirms the example at `position` of the dataset, so a team works
    on it (pages.reviewer.leads_a_team: the lead's shared-queue tools show); reruns; its id."""
    from losslens.sources.datasets import text_hash
    from pages.session import decision_store

    data = scoring(at).data
    example_id, label = str(data.ids[position]), data.label_names[int(data.labels[position])]
    decision_store().record(data.name, example_id, label, None, "confirmed", "bob",
                            text_hash=text_hash(data.texts[position]))
    at.run()
    return example_id
