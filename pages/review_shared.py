"""Review, the shared queue (not a page): a lead asks for the top N examples of the current queue
to be seen by R reviewers each; a reviewer who works it is handed one example at a time, leased to
them (losslens.review.shared_queue) so that no example gets more looks than asked for."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from losslens.errors import LossLensError
from losslens.review.queue import ReviewQuery, queue_positions
from losslens.review.shared_queue import (LEASE_SECONDS, holds_lease, release, shared_queue, start_shared_queue,
                                          stop_shared_queue, take_next)
from losslens.review.snapshot import DecisionsSnapshot
from pages import reviewer, session
from pages.markup import md
from pages.review_screen import ReviewScreen
from pages.review_state import ReviewWidget, view


def shared_queue_bar(screen: ReviewScreen, query: ReviewQuery) -> None:
    """The switch to work the dataset's shared queue (when there is one for this version of the
    data), and a lead's controls where a team works (reviewer.leads_a_team; not for a solo user)."""
    decisions, data = screen.decisions, screen.data
    queue = decisions.shared_queue
    if queue is not None and decisions.shared_queue_here is None:
        st.warning(f"{md(queue.created_by)} started a shared queue on another version of {md(data.name)} (its "
                   "texts or labels differ from the one loaded here): load that version, or ask a lead to start the "
                   "queue again on this one.")
        queue = None
    if queue is not None:
        if not st.session_state.get(ReviewWidget.SHARED):   # otherwise the focus view draws it after each decision
            progress_caption(decisions)
        if st.toggle("Work the shared queue", key=ReviewWidget.SHARED, on_change=on_toggle, args=(data.name,),
                     help="One example at a time, one you have not decided and that still needs a look; it is held "
                          f"for you for {LEASE_SECONDS / 60:.0f} minutes from each thing you do, so nobody else is "
                          "handed it meanwhile."):
            st.session_state[ReviewWidget.VIEW] = "Focus"
    elif st.session_state.get(ReviewWidget.SHARED):
        st.session_state[ReviewWidget.SHARED] = False
    if reviewer.leads_a_team(decisions):
        lead_controls(screen, query, queue is not None)


def progress_caption(decisions: DecisionsSnapshot) -> None:
    """The shared queue's progress: in the focus view while this reviewer works the queue (each
    decision updates it), above it otherwise (a key press that does not touch the queue never
    pays for counting it)."""
    if (done := decisions.shared_progress) is None:
        return
    queue = decisions.shared_queue_here
    st.caption(f"Shared queue from {md(queue.created_by)}: {done.n_examples:,} examples, each for "
               f"{queue.reviewers_per_example} reviewer(s) · {done.complete:,} complete · {done.started:,} started")


def on_toggle(dataset_key: str) -> None:
    """Leaving the shared queue gives up the example held for this reviewer."""
    if not st.session_state.get(ReviewWidget.SHARED):
        release(session.decision_store(), dataset_key, reviewer.reviewer_name())


def lead_controls(screen: ReviewScreen, query: ReviewQuery, running: bool) -> None:
    """Start (or replace) the shared queue from the top of the current queue; stop it."""
    with st.expander("Shared queue for the team (lead)"):
        with st.form("rv_shared_form", border=False):
            c1, c2, c3 = st.columns([2, 2, 2], vertical_alignment="bottom")
            top = c1.number_input("Top examples of this queue", 1, 100_000, 100, key="rv_shared_top",
                                  help="The first N examples of the queue below, in its current sort and filters.")
            per_example = c2.number_input("Reviewers per example", 1, 20, 2, key="rv_shared_r")
            start = c3.form_submit_button("Replace the shared queue" if running else "Start a shared queue",
                                          type="primary")
        if start:
            positions = queue_positions(screen.index, replace(query, page=0), screen.decisions.status_by_id)
            try:
                start_shared_queue(session.decision_store(), screen.data.name, screen.data.fingerprint,
                                   [str(screen.data.ids[p]) for p in positions[:int(top)]], int(per_example),
                                   reviewer.reviewer_name())
            except LossLensError as exc:
                st.error(md(exc))
                return
            st.rerun()
        if running and st.button("Stop the shared queue", key="rv_shared_stop",
                                 help="Reviewers are no longer handed its examples; every decision stays."):
            stop_shared_queue(session.decision_store(), screen.data.name)
            st.rerun()


def leased_query(screen: ReviewScreen, decisions: DecisionsSnapshot) -> ReviewQuery | None:
    """In shared mode: the query narrowed to the example leased to this reviewer (made current),
    or None (said on screen) when nothing is left for them."""
    queue = decisions.shared_queue
    example_id = take_next(session.decision_store(), queue, reviewer.reviewer_name()) if queue is not None else None
    if example_id is None:
        st.success("Nothing left for you in the shared queue: every example has its reviewers or your decision, "
                   "or someone is looking at it now.")
        st.button("Check again", key="rv_shared_again")   # a press reruns this view
        return None
    view().open(example_id, outside_queue=False)
    return ReviewQuery(ids=(example_id,))   # the sort and filters do not apply to a handed-out example


def may_record(screen: ReviewScreen, position: int) -> bool:
    """Whether a decision on the example at `position` may be recorded: always outside the shared
    queue; in it, only while this reviewer's lease holds (else the page says so: with one reviewer
    per example, a lapsed lease must never give a second review)."""
    if not st.session_state.get(ReviewWidget.SHARED):
        return True
    store = session.decision_store()
    queue = shared_queue(store, screen.data.name)
    if queue is None or holds_lease(store, queue, reviewer.reviewer_name(), str(screen.data.ids[position])):
        return True
    view().toast = ("Your hold on that example lapsed (5 minutes without a key) and it may be someone else's now: "
                    "not recorded.")
    return False


def hand_back(screen: ReviewScreen, example_id: str) -> None:
    """After an undo in the shared queue: lease the undone example to this reviewer again, so it
    is the one shown (when nobody else has taken its place meanwhile)."""
    store = session.decision_store()
    if (queue := shared_queue(store, screen.data.name)) is not None:
        take_next(store, queue, reviewer.reviewer_name(), prefer=example_id)
