"""pages.review_screen: the focus view (a fragment) uses its page run's decisions snapshot, and
takes exactly one fresh snapshot on each of its own reruns."""
from __future__ import annotations

import app_harness  # noqa: F401 — puts the app's `pages` package on the path
from pages.review_screen import ReviewScreen


def test_the_run_snapshot_first_then_one_fresh_per_fragment_rerun(monkeypatch):
    taken = []
    monkeypatch.setattr("pages.session.decisions", lambda data: taken.append(data) or f"look {len(taken)}")
    screen = ReviewScreen(data="dataset", results=None, index=None, evidence=None, names=[],
                          decisions="page run's look")
    assert screen.decisions_for_fragment() == "page run's look" and taken == []   # drawn within the page run
    assert screen.decisions_for_fragment() == "look 1" and screen.decisions == "look 1"   # its own rerun
    assert screen.decisions_for_fragment() == "look 2" and taken == ["dataset", "dataset"]
