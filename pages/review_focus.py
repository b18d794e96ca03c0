"""Review, focus mode (not a page): one example large, its evidence beside it (pages.review_evidence), the
queue below.

Keys (Streamlit's native button shortcuts; it reserves C and R for itself, so confirm is Y and
remove is D): 1-9 relabel to that class, A accept the suggestion, Y confirm, X ambiguous,
D remove, U undo my last decision, J / K next / previous, H help. Every decision moves on to the
next example. The view is a fragment: a key press reruns it alone, never the whole page.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from losslens.sources.datasets import LabeledTexts
from losslens.review.binding import decide
from losslens.review.evidence import Evidence, percent
from losslens.scoring.results import ScoredResults
from losslens.review.queue import ReviewIndex, ReviewQuery, queue_positions, review_progress
from losslens.store.records import DECIDED_STATUSES
from pages import review_evidence, review_shared, reviewer, session
from pages.markup import code, md

KEYS = (("1–9", "relabel to the class with that number"), ("A", "accept the model's suggestion"),
        ("Y", "confirm the given label"), ("X", "ambiguous"), ("D", "remove"), ("U", "undo my last decision"),
        ("J / K", "next / previous example"), ("H", "show or hide this help"))
QUEUE_SHOWN = 8


@dataclass(frozen=True)
class Context:
    """What both review views work on: the dataset, its results, the queue index and evidence."""

    data: LabeledTexts
    results: ScoredResults
    index: ReviewIndex
    evidence: Evidence
    names: list[str]


def focus_on(example_id: str, at: int | None = None) -> None:
    st.session_state["rv_focus_id"] = example_id
    if at is not None:
        st.session_state["rv_focus_at"] = at


def focus_outside(example_id: str) -> None:
    """Open an example that need not be in the queue (a neighbour)."""
    focus_on(example_id)
    st.session_state["rv_focus_outside"] = True


def on_decide(ctx: Context, positions: list[int], status: str, new_label: str | None, following: tuple) -> None:
    """Record the decision (with the note, on the whole group when asked), then move on."""
    if st.session_state.get("rv_apply_group"):
        positions = positions + ctx.evidence.group_members(positions[0]).tolist()
    decide(session.decision_store(), ctx.data, positions, status, new_label, reviewer.reviewer_name(),
           st.session_state.get("rv_note"))
    st.session_state["rv_note"], st.session_state["rv_apply_group"] = "", False
    if following[0] is not None:
        focus_on(*following)


def on_undo(ctx: Context) -> None:
    undone = session.decision_store().undo_last(ctx.data.name, reviewer=reviewer.reviewer_name())
    if undone:
        focus_on(undone[0].example_id)
        if st.session_state.get("rv_shared"):   # the shared queue hands the undone example back first
            review_shared.hand_back(ctx, undone[0].example_id)
    st.session_state["review_toast"] = (f"Undid {undone[0].status} of {len(undone)} example(s)." if undone
                                        else "Nothing of yours to undo.")


def show(ctx: Context, query: ReviewQuery) -> None:
    focus_view(ctx, query)


@st.fragment
def focus_view(ctx: Context, query: ReviewQuery) -> None:
    if st.session_state.pop("rv_rerun_app", False):
        st.rerun()
    if toast := st.session_state.pop("review_toast", None):   # a key's message, in the run it caused
        st.toast(toast)
    if st.session_state.get("rv_help"):
        st.info("**Keys** · " + " · ".join(f"**{key}** {what}" for key, what in KEYS))
    if st.session_state.get("rv_shared"):   # its progress here, where each decision updates it
        review_shared.progress_caption(ctx)
        if (query := review_shared.leased_query(ctx, query)) is None:
            return
    bound = session.bound_decisions(ctx.data)
    queue = queue_positions(ctx.index, query, bound.status_by_id())
    done, mine = review_progress(ctx.index, bound), session.my_decided_ids(ctx.data)
    st.progress(done.fraction, text=f"Flagged reviewed: {done.flagged_reviewed} / {done.n_flagged} · decisions: "
                f"{done.n_decisions} · " + " · ".join(f"{s} {done.by_status[s]}" for s in DECIDED_STATUSES) +
                f" · yours: {len(mine)}")
    if not len(queue):
        st.info("No example matches these filters.")
        return
    position, at = current(ctx, queue)
    nxt = (str(ctx.data.ids[queue[at + 1]]), at + 1) if at is not None and at + 1 < len(queue) else (None,)
    prv = (str(ctx.data.ids[queue[at - 1]]), at - 1) if at is not None and at > 0 else (None,)
    if st.session_state.get("rv_link_id") != st.session_state["rv_focus_id"]:   # the URL follows the focus
        st.session_state["rv_link_id"] = st.query_params["id"] = st.session_state["rv_focus_id"]
    status = bound.status_by_id().get(str(ctx.data.ids[position]), "unreviewed")
    main, side = st.columns([5, 3], gap="medium")
    with main:
        example_card(ctx, position, at, len(queue), status)
        decision_keys(ctx, position, nxt, prv)
        queue_list(ctx, queue, at)
    with side:
        review_evidence.evidence_panel(ctx, position, focus_outside)


def current(ctx: Context, queue: np.ndarray) -> tuple[int, int | None]:
    """(row position, index in the queue or None) of the focused example; the queue position it
    had when it is no longer in the queue (e.g. decided under an 'unreviewed' filter)."""
    found = ctx.data.id_index.get_indexer([st.session_state.get("rv_focus_id")])[0]
    if found >= 0:
        where = np.flatnonzero(queue == found)
        if len(where) or st.session_state.get("rv_focus_outside"):
            return found, (int(where[0]) if len(where) else None)
    at = min(int(st.session_state.get("rv_focus_at", 0)), len(queue) - 1)
    focus_on(str(ctx.data.ids[queue[at]]), at)
    return int(queue[at]), at


def example_card(ctx: Context, position: int, at: int | None, total: int, status: str) -> None:
    row, names = ctx.results.table.iloc[position], ctx.names
    given, predicted = names[int(row["label"])], names[int(row["predicted_label"])]
    where = ("handed to you from the shared queue" if st.session_state.get("rv_shared") else
             f"{at + 1:,} of {total:,}" if at is not None else "outside the queue")
    with st.container(key="rv_card"):
        st.markdown(f"**{where}** · id {code(ctx.data.ids[position])} · cleanlab rank {int(row['rank']):,} · loss "
                    f"{float(row['loss']):.2f}{' · ⚑ flagged' if row['is_issue'] else ''} · **{md(status)}**")
        st.markdown(f"Given **{md(given)}** · model: **{md(predicted)}** {percent(float(row['p_predicted']))}")
    with st.container(height=260, key="rv_text"):
        st.text(str(ctx.data.texts[position]))


def decision_keys(ctx: Context, position: int, nxt: tuple, prv: tuple) -> None:
    names, given = ctx.names, ctx.names[int(ctx.data.labels[position])]
    predicted = names[int(ctx.evidence.predicted[position])]
    args = lambda status, label=None: (ctx, [position], status, label, nxt)  # noqa: E731
    with st.container(horizontal=True, key="rv_classes"):
        for k, name in enumerate(names[:9]):
            st.button(md(name) + (" (given)" if name == given else ""), key=f"rv_class_{k}", shortcut=str(k + 1),
                      on_click=on_decide, args=args("relabeled", name),
                      help="The given label: confirms it" if name == given else f"Relabel as {md(name)}")
    with st.container(horizontal=True, key="rv_decisions"):
        st.button(f"Accept {md(predicted)}", key="rv_accept", shortcut="a", on_click=on_decide, type="primary",
                  args=args("relabeled", predicted), help="Relabel to the model's suggestion")
        st.button("Confirm", key="rv_confirm", shortcut="y", on_click=on_decide, args=args("confirmed", given),
                  help="The given label is right")
        st.button("Ambiguous", key="rv_ambiguous", shortcut="x", on_click=on_decide, args=args("ambiguous"))
        st.button("Remove", key="rv_remove", shortcut="d", on_click=on_decide, args=args("removed"))
        st.button("Undo", key="rv_undo", shortcut="u", on_click=on_undo, args=(ctx,), help="Undo my last decision")
    with st.container(horizontal=True, key="rv_moves", vertical_alignment="center"):
        st.text_input("Note", key="rv_note", placeholder="note for the next decision (optional)",
                      label_visibility="collapsed", width=300)
        st.button("Prev", key="rv_prev", shortcut="k", disabled=prv[0] is None, on_click=focus_on,
                  args=prv if prv[0] is not None else ("",))
        st.button("Next", key="rv_next", shortcut="j", disabled=nxt[0] is None, on_click=focus_on,
                  args=nxt if nxt[0] is not None else ("",))
        st.button("Keys", key="rv_help_button", shortcut="h",
                  on_click=lambda: st.session_state.update(rv_help=not st.session_state.get("rv_help")))
    members = ctx.evidence.group_members(position)
    if len(members):
        st.checkbox(f"Also apply my decision to its {len(members)} conflicting duplicate(s)", key="rv_apply_group")


def queue_list(ctx: Context, queue: np.ndarray, at: int | None) -> None:
    start = max(0, (at or 0) - 1)
    st.markdown(f"**Queue** · {len(queue):,} example{'s' * (len(queue) != 1)}")
    for i in range(start, min(start + QUEUE_SHOWN, len(queue))):
        row = ctx.results.table.iloc[int(queue[i])]
        excerpt = " ".join(str(row["text"]).split())[:90]
        label = (f"{i + 1}. given {ctx.names[int(row['label'])]}, model {ctx.names[int(row['predicted_label'])]}"
                 f" · {excerpt}")
        st.button(md(label), key=f"rv_queue_{i - start}", width="stretch", type="primary" if i == at else "tertiary",
                  on_click=lambda pos=int(queue[i]), j=i: (focus_on(str(ctx.data.ids[pos]), j),
                                                           st.session_state.update(rv_focus_outside=False)))
