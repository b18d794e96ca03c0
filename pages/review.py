"""Review: the queue of suspicious examples, in the focus view (one at a time, keyboard) or the
table view (scan, select, decide in bulk). Sort, filters, view and current example live in the URL.

One snapshot of the decisions per run (pages.review_screen) serves every part of the page.
Every piece of data is drawn as plain text (st.text, dataframes) or escaped markdown (md).
"""
from __future__ import annotations

import streamlit as st

from losslens.review.binding import REASONS as STALE_REASONS
from losslens.review.evidence import Evidence
from losslens.review.queue import ReviewIndex
from losslens.scoring.results import ScoredResults
from pages import review_filters, review_focus, review_shared, review_state, review_table, reviewer, session
from pages.markup import md
from pages.review_screen import ReviewScreen
from pages.review_state import ChosenExamples, ReviewView, ReviewWidget

VIEWS = ("Focus", "Table")


@st.cache_resource(max_entries=2)
def evidence_of(key: str, _results: ScoredResults) -> Evidence:
    """Evidence of one results table (thresholds, neighbours, groups), built once per results key."""
    return Evidence.of(_results)


@st.cache_resource(max_entries=2)
def review_index_of(key: str, _results: ScoredResults) -> ReviewIndex:
    """The queue index of one results table with its evidence's reason masks, built once per results key."""
    return ReviewIndex(_results.table, reasons=evidence_of(key, _results).reason_masks())


def stale_decisions(screen: ReviewScreen) -> None:
    """Stored decisions that no longer match an example: listed with the reason, never applied."""
    stale = screen.decisions.bound.stale
    if len(stale):
        with st.expander(f"{len(stale)} earlier decision(s) do not apply to this dataset (kept, not applied)"):
            st.caption("A decision applies only to the example with the same id, text and given label. These are "
                       "kept in the store and never exported onto another row.")
            st.dataframe(stale.assign(reason=stale["reason"].map(STALE_REASONS))[
                ["example_id", "status", "new_label", "reviewer", "decided_at", "reason"]], hide_index=True)


def banners(screen: ReviewScreen, view: ReviewView) -> None:
    """Queues set elsewhere (Active learning batch, show similar, confusion cell), each with
    Clear; otherwise the examples reviewers disagree on, a click away."""
    if view.chosen:
        c1, c2 = st.columns([5, 1])
        c1.info(chosen_banner(view.chosen))
        if c2.button("Clear", key="clear_chosen"):
            view.chosen = None
            st.rerun()
    else:
        ids = screen.decisions.disagreements()
        c1, c2, c3 = st.columns([4, 1, 1])
        if ids:
            c1.caption(f"Reviewers disagree on {len(ids):,} example(s): their latest decisions leave different labels.")
        if ids and c2.button("Show them", key="show_disagreements"):
            show_only(view, ids, "disagreements")
        if c3.button("Mine", key="show_mine", help="The examples you have decided (your latest decision on each)"):
            if not (mine := screen.decisions.decided_by(reviewer.reviewer_name())):
                st.toast("You have not decided any example of this dataset yet.")
            else:
                show_only(view, mine, "mine")
    if view.cell:
        c1, c2 = st.columns([5, 1])
        c1.info(f"Showing the confusion cell given {md(screen.names[view.cell[0]])} × predicted "
                f"{md(screen.names[view.cell[1]])}.")
        if c2.button("Clear", key="clear_cell"):
            view.cell = None
            st.rerun()


def show_only(view: ReviewView, ids: list[str], origin: str) -> None:
    """Make these examples the queue; `origin` (review_state.ORIGINS) says what they are."""
    view.choose(ids, origin)
    st.rerun()


def chosen_banner(chosen: ChosenExamples) -> str:
    """What the chosen examples are, from their origin (kept in the link: true after a reload too)."""
    n = len(chosen.ids)
    examples = f"{n:,} example{'s' * (n != 1)}"
    return {"activelab": f"Showing the {examples} chosen on the Active learning page.",
            "similar": f"Showing {examples}: {md(chosen.ids[0])} and those at least {chosen.similarity or 0:.2f} "
                       "similar to it.",
            "disagreements": f"Showing the {examples} where reviewers' latest decisions differ.",
            "mine": f"Showing the {examples} you decided (your latest decision on each).",
            "checks": f"Showing {examples} drawn from further down the queue: your verdicts on them tell the "
                      "errors-left estimate how fast errors thin out there.",
            }.get(chosen.origin, f"Showing the {examples} this link lists.")


st.title("Review")
scoring = session.state()
results, data = scoring.results, scoring.data
if results is None or data is None:
    st.info("No results yet. Score a dataset on the **Data & model** page; the demo scores by itself.")
    session.show_job_progress()
    st.stop()
view = review_state.view()
if toast := view.take_toast():   # the table view's messages (focus view: its fragment)
    st.toast(toast)
names = list(results.label_names)
review_filters.read_link(view, names, data.name)
screen = ReviewScreen(data, results, review_index_of(results.key, results), evidence_of(results.key, results), names,
                      session.decisions(data))
banners(screen, view)
query = review_filters.filters(view, names)
review_shared.shared_queue_bar(screen, query)
view.follow_queue(query)
mode = st.segmented_control("View", VIEWS, key=ReviewWidget.VIEW, label_visibility="collapsed",
                            disabled=bool(st.session_state.get(ReviewWidget.SHARED))) or "Focus"
stale_decisions(screen)
if mode == "Focus":
    review_focus.show(screen, query)
else:
    review_table.show(screen, query)
review_filters.write_link(view, query, names)
