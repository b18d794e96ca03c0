"""Review, the focus view (not a page): the current example large, its evidence beside it
(pages.review_evidence), the queue below.

Keys (Streamlit's native button shortcuts; it reserves C and R for itself, so confirm is Y and
remove is D): 1-9 relabel to that class, A accept the suggestion, Y confirm, X ambiguous,
D remove, U undo my last decision, J / K next / previous, H help. Every decision moves on to the
next example; with Hide decided (on by default here) the decided one leaves the queue, so that is
the next undecided one, and Undo brings the undone example back on screen. The view is a
fragment: a key press reruns it alone (with one fresh snapshot of the decisions), never the whole
page. Its queue list is pages.review_queue_list.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from losslens.review.binding import decide
from losslens.review.evidence import percent
from losslens.review.queue import ReviewQuery, queue_positions, review_progress
from losslens.store.records import DECIDED_STATUSES
from pages import review_evidence, review_learning, review_queue_list, review_shared, reviewer, session
from pages.markup import code, md
from pages.review_screen import ReviewScreen
from pages.review_state import ReviewWidget, view

KEYS = (("1–9", "relabel to the class with that number (the given class's number confirms it)"), ("A", "accept the model's suggestion"),
        ("Y", "confirm the given label"), ("X", "ambiguous"), ("D", "remove"), ("U", "undo my last decision"),
        ("J / K", "next / previous example"), ("H", "show or hide this help"))
Following = tuple[str, int] | tuple[None]   # (id, place in the queue) of the example a move opens, or (None,)


def open_outside(example_id: str) -> None:
    """Open an example that need not be in the queue (a neighbour)."""
    view().open(example_id, outside_queue=True)


def on_decide(screen: ReviewScreen, positions: list[int], status: str, new_label: str | None,
              following: Following) -> None:
    """Record the decision (with the note, on the whole group when asked), then move on."""
    if not review_shared.may_record(screen, positions[0]):
        return
    if st.session_state.get(ReviewWidget.APPLY_TO_GROUP):
        positions = positions + screen.evidence.group_members(positions[0]).tolist()
    decide(session.decision_store(), screen.data, positions, status, new_label, reviewer.reviewer_name(),
           st.session_state.get(ReviewWidget.NOTE), session=reviewer.tab_id())
    st.session_state[ReviewWidget.NOTE], st.session_state[ReviewWidget.APPLY_TO_GROUP] = "", False
    if following[0] is not None:
        view().open(*following, outside_queue=False)


def on_pick_class(screen: ReviewScreen, position: int, following: Following) -> None:
    """A class picked in the "more classes" box: relabel to it (the given class confirms), like its key."""
    name = st.session_state.get(ReviewWidget.MORE_CLASSES)
    st.session_state[ReviewWidget.MORE_CLASSES] = None
    if name is not None:
        on_decide(screen, [position], "relabeled", name, following)


def on_undo(screen: ReviewScreen) -> None:
    undone = session.decision_store().undo_last(screen.data.name, reviewer=reviewer.reviewer_name(),
                                                      session=reviewer.tab_id())
    if undone:   # shown even where the queue leaves it out (another reviewer's decision, Hide decided)
        view().open(undone[0].example_id, outside_queue=True)
        if st.session_state.get(ReviewWidget.SHARED):   # the shared queue hands the undone example back first
            review_shared.hand_back(screen, undone[0].example_id)
    view().toast = (f"Undid {undone[0].status} of {len(undone)} example(s)." if undone
                    else "Nothing of yours to undo.")


def show(screen: ReviewScreen, query: ReviewQuery) -> None:
    focus_view(screen, query)


@st.fragment
def focus_view(screen: ReviewScreen, query: ReviewQuery) -> None:
    state = view()
    if state.rerun_page:
        state.rerun_page = False
        st.rerun()
    if toast := state.take_toast():   # a key's message, in the run it caused
        st.toast(toast)
    if state.show_keys:
        st.info("**Keys** · " + " · ".join(f"**{key}** {what}" for key, what in KEYS))
    decisions = screen.decisions_for_fragment()
    if st.session_state.get(ReviewWidget.SHARED):   # its progress here, where each decision updates it
        review_shared.progress_caption(decisions)
        if (query := review_shared.leased_query(screen, decisions)) is None:
            return
    queue = queue_positions(screen.index, query, decisions.status_by_id)
    learning = review_learning.learns(screen) and not st.session_state.get(ReviewWidget.SHARED)
    if learning:   # the undecided part in the order the decisions taught (the shared queue chooses its own)
        review_learning.keep_learning(screen, decisions)
        on_screen = screen.data.id_index.get_indexer([state.current_id])[0]
        queue = review_learning.ordered(screen, query, queue, int(on_screen) if on_screen >= 0 else None)
    done, mine = review_progress(screen.index, decisions.bound), decisions.decided_by(reviewer.reviewer_name())
    st.progress(done.fraction, text=f"Disagreements reviewed: {done.disagree_reviewed:,} / {done.n_disagree:,} · "
                f"flagged by cleanlab: {done.flagged_reviewed:,} / {done.n_flagged:,} · decisions: "
                f"{done.n_decisions} · " + " · ".join(f"{s} {done.by_status[s]}" for s in DECIDED_STATUSES) +
                f" · yours: {len(mine)}")
    if learning:
        review_learning.caption(screen)
    if not len(queue):
        review_queue_list.nothing_left(screen, query, decisions)
        return
    position, at = current_example(screen, queue)
    nxt = (str(screen.data.ids[queue[at + 1]]), at + 1) if at is not None and at + 1 < len(queue) else (None,)
    prv = (str(screen.data.ids[queue[at - 1]]), at - 1) if at is not None and at > 0 else (None,)
    if state.linked_id != state.current_id:   # the URL follows the current example
        state.linked_id = st.query_params["id"] = state.current_id
    status = decisions.status_by_id.get(str(screen.data.ids[position]), "unreviewed")
    of_what = f"{len(queue):,} undecided" if query.hide_decided and not query.ids else f"{len(queue):,}"
    main, side = st.columns([5, 3], gap="medium")
    with main:
        example_card(screen, position, at, of_what, status)
        decision_keys(screen, position, nxt, prv)
        review_queue_list.queue_list(screen, queue, at, decisions.status_by_id, of_what)
    with side:
        review_evidence.evidence_panel(screen, decisions, position, open_outside)


def current_example(screen: ReviewScreen, queue: np.ndarray) -> tuple[int, int | None]:
    """(row position, index in the queue or None) of the current example; the queue position it
    had when it is no longer in the queue (e.g. decided under an 'unreviewed' filter)."""
    state = view()
    found = screen.data.id_index.get_indexer([state.current_id])[0]
    if found >= 0:
        where = np.flatnonzero(queue == found)
        if len(where) or state.current_outside_queue:
            return found, (int(where[0]) if len(where) else None)
    at = min(int(state.current_at), len(queue) - 1)
    state.open(str(screen.data.ids[queue[at]]), at)
    return int(queue[at]), at


def example_card(screen: ReviewScreen, position: int, at: int | None, total: str, status: str) -> None:
    """The example's place ("3 of 19 undecided": `total` says of what), id, scores, status and labels."""
    row, names = screen.results.table.iloc[position], screen.names
    given, predicted = names[int(row["label"])], names[int(row["predicted_label"])]
    where = ("handed to you from the shared queue" if st.session_state.get(ReviewWidget.SHARED) else
             f"{at + 1:,} of {total}" if at is not None else "outside the queue")
    with st.container(key="rv_card"):
        st.markdown(f"**{where}** · id {code(screen.data.ids[position])} · cleanlab rank {int(row['rank']):,} · loss "
                    f"{float(row['loss']):.2f}{' · ⚑ flagged' if row['is_issue'] else ''} · **{md(status)}**")
        st.markdown(f"Given **{md(given)}** · model: **{md(predicted)}** {percent(float(row['p_predicted']))}")
    with st.container(height=260, key="rv_text"):
        st.text(str(screen.data.texts[position]))


def decision_keys(screen: ReviewScreen, position: int, nxt: Following, prv: Following) -> None:
    names, given = screen.names, screen.names[int(screen.data.labels[position])]
    predicted = names[int(screen.evidence.predicted[position])]
    args = lambda status, label=None: (screen, [position], status, label, nxt)  # noqa: E731
    with st.container(horizontal=True, key="rv_classes"):
        for k, name in enumerate(names[:9]):
            st.button(md(name) + (" (given)" if name == given else ""), key=f"rv_class_{k}", shortcut=str(k + 1),
                      on_click=on_decide, args=args("relabeled", name),
                      help="The given label: confirms it" if name == given else f"Relabel as {md(name)}")
        if len(names) > 9:   # no key left for them: type to pick
            st.selectbox("More classes", names[9:], index=None, key=ReviewWidget.MORE_CLASSES,
                         placeholder=f"{len(names) - 9} more classes: type to pick", label_visibility="collapsed",
                         on_change=on_pick_class, args=(screen, position, nxt), width=260)
    with st.container(horizontal=True, key="rv_decisions"):
        st.button(f"Accept {md(predicted)}", key="rv_accept", shortcut="a", on_click=on_decide, type="primary",
                  args=args("relabeled", predicted), help="Relabel to the model's suggestion")
        st.button("Confirm", key="rv_confirm", shortcut="y", on_click=on_decide, args=args("confirmed", given),
                  help="The given label is right")
        st.button("Ambiguous", key="rv_ambiguous", shortcut="x", on_click=on_decide, args=args("ambiguous"))
        st.button("Remove", key="rv_remove", shortcut="d", on_click=on_decide, args=args("removed"))
        st.button("Undo", key="rv_undo", shortcut="u", on_click=on_undo, args=(screen,), help="Undo my last decision")
    with st.container(horizontal=True, key="rv_moves", vertical_alignment="center"):
        st.text_input("Note", key=ReviewWidget.NOTE, placeholder="note for the next decision (optional)",
                      label_visibility="collapsed", width=300)
        st.button("Prev", key="rv_prev", shortcut="k", disabled=prv[0] is None, on_click=review_queue_list.open_in_queue, args=prv)
        st.button("Next", key="rv_next", shortcut="j", disabled=nxt[0] is None, on_click=review_queue_list.open_in_queue, args=nxt)
        st.button("Keys", key="rv_help_button", shortcut="h", on_click=toggle_keys)
    members = screen.evidence.group_members(position)
    if len(members):
        st.checkbox(f"Also apply my decision to its {len(members)} conflicting duplicate(s)",
                    key=ReviewWidget.APPLY_TO_GROUP)


def toggle_keys() -> None:
    view().show_keys = not view().show_keys
