"""Review, the table view (not a page): the same queue as compact rows to scan, sort and select,
and one decision for the selected rows or for everything that matches, recorded as one undoable
group."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from losslens.review.binding import decide
from losslens.review.queue import ReviewQuery, query_results, queue_positions
from pages import reviewer, session
from pages.markup import md
from pages.review_screen import ReviewScreen
from pages.review_state import ReviewWidget, view

ACTIONS = {"Confirm the given label": ("confirmed", None), "Ambiguous": ("ambiguous", None),
           "Remove": ("removed", None)}


def on_bulk(screen: ReviewScreen, positions: list[int], action: str) -> None:
    status, label = ACTIONS.get(action) or ("relabeled", action.removeprefix("Relabel as "))
    decide(session.decision_store(), screen.data, positions, status, label, reviewer.reviewer_name(),
           st.session_state.get(ReviewWidget.BULK_NOTE), session=reviewer.tab_id())
    st.session_state[ReviewWidget.BULK_NOTE] = ""
    view().toast = f"{status.capitalize()}: {len(positions):,} example(s); one Undo takes them all back."


def on_undo(screen: ReviewScreen) -> None:
    undone = session.decision_store().undo_last(screen.data.name, reviewer=reviewer.reviewer_name(),
                                                      session=reviewer.tab_id())
    view().toast = (f"Undid {undone[0].status} of {len(undone)} example(s)." if undone
                    else "Nothing of yours to undo.")


def turn_page(page: int) -> None:
    view().table_page = page


def open_in_focus_view(example_id: str) -> None:
    """Open the example in the focus view, where it is shown even if that view hides it (decided)."""
    view().open(example_id, outside_queue=True)
    st.session_state[ReviewWidget.VIEW] = "Focus"


def show(screen: ReviewScreen, query: ReviewQuery) -> None:
    decisions = screen.decisions
    page = query_results(screen.index, replace(query, page=view().table_page), decisions.status_by_id)
    st.caption(f"{page.total:,} matching examples · page {page.page + 1} of {page.n_pages} · select rows to "
               "decide on them together")
    rows, applied = page.rows, decisions.bound.applied
    decided = applied.set_index("example_id")["new_label"] if len(applied) else pd.Series(dtype=object)
    shown = pd.DataFrame({
        "cleanlab rank": rows["rank"].to_numpy(), "id": rows["id"].astype(str).to_numpy(),
        "given": [screen.names[int(k)] for k in rows["label"]],
        "predicted": [screen.names[int(k)] for k in rows["predicted_label"]],
        "p(predicted)": rows["p_predicted"].to_numpy(), "loss": rows["loss"].to_numpy(),
        "flagged": rows["is_issue"].to_numpy(), "status": rows["status"].to_numpy(),
        "new label": decided.reindex(rows["id"].astype(str)).fillna("").to_numpy(dtype=object),
        "text": [" ".join(str(t).split())[:160] for t in rows["text"]],
    })
    picked = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key="rv_table",
                          column_config={"p(predicted)": st.column_config.ProgressColumn(format="percent"),
                                         "loss": st.column_config.NumberColumn(format="%.2f")})
    selected = [int(rows.index[i]) for i in picked.selection.rows] if picked else []
    bulk_bar(screen, query, selected, page.total)
    c1, c2, c3, c4 = st.columns([1, 1, 3, 1])
    c1.button("← Previous", key="rv_page_prev", disabled=page.page == 0, on_click=turn_page, args=(page.page - 1,))
    c2.button("Next →", key="rv_page_next", disabled=page.page >= page.n_pages - 1, on_click=turn_page,
              args=(page.page + 1,))
    c4.button("Undo last", key="rv_table_undo", on_click=on_undo, args=(screen,), help="Undo your latest decision "
              "(a bulk decision as a whole)")
    if selected:
        c3.button(f"Open {md(shown['id'].iloc[picked.selection.rows[0]])} in focus mode", key="rv_open_in_focus",
                  on_click=open_in_focus_view, args=(str(screen.data.ids[selected[0]]),))


def bulk_bar(screen: ReviewScreen, query: ReviewQuery, selected: list[int], total: int) -> None:
    """Decide for the selected rows, or for every example the filters match."""
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([2, 2, 2, 1.4])
        scope = c1.radio("Apply to", ["Selected rows", "Everything that matches"], key="rv_bulk_scope",
                         horizontal=False, label_visibility="collapsed")
        actions = list(ACTIONS) + [f"Relabel as {name}" for name in screen.names]
        action = c2.selectbox("Decision", actions, key="rv_bulk_action", label_visibility="collapsed")
        c3.text_input("Note", key=ReviewWidget.BULK_NOTE, placeholder="note (optional)", label_visibility="collapsed")
        if scope == "Selected rows":
            positions = selected
        else:
            positions = queue_positions(screen.index, query, screen.decisions.status_by_id).tolist()
        c4.button(f"Apply to {len(positions):,}", key="rv_bulk_apply", type="primary", disabled=not positions,
                  on_click=on_bulk, args=(screen, positions, action), width="stretch")
        if scope != "Selected rows" and total > 500:
            st.caption(f"This decides {total:,} examples at once; one Undo takes them all back.")
