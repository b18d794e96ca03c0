"""Every st.session_state key of the app, in one place (not a page).

Each page area keeps ONE typed state object under ONE key, defined where that area lives:
  "scoring"     pages.session.ScoringSession   the request shown, its scoring job, the data and
                                               results it gave (or results retrained on them)
  "retraining"  pages.summary.Retraining       the retraining job and the report on the results it made
  "review"      pages.review_state.ReviewView  the Review page's queue restrictions, the example open
                                               in the focus view, the table page, one-run messages
  "simulation"  pages.simulation.SimulationRun the ActiveLab simulation's settings and its job
  "relearning"  pages.review_learning.Relearning the refit on the decisions (re-ranked order, errors
                                               left) and its job
Background jobs are watched through pages.background.WatchedJob, one inside each state that has
a job.

The only other keys are widget keys (Streamlit keeps a widget's value under its key). Those the
code reads or sets are named by constants next to the state of their area:
pages.review_state.ReviewWidget, pages.simulation.SimulationWidget, pages.reviewer.REVIEWER_WIDGET.
Keys given only to find a widget (buttons, tables, inputs the code never reads back; the tests
find widgets by them) are written at the widget, prefixed by page: dm_ Data & model, ex_ Export,
al_ Active learning, rv_ Review.
"""
from __future__ import annotations

from typing import TypeVar

import streamlit as st

State = TypeVar("State")


def area_state(key: str, kind: type[State]) -> State:
    """The state object of one page area (a dataclass made with no arguments on first use)."""
    found = st.session_state.get(key)
    if not isinstance(found, kind):
        found = st.session_state[key] = kind()
    return found
