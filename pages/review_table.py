"""Review, table view (not a page): the same queue as compact rows to scan, sort and select, and
one decision for the selected rows or for everything that matches, recorded as one undoable
group."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from losslens.review.binding import decide
from losslens.review.queue import ReviewQuery, query_results, queue_positions
from pages import reviewer, session
from pages.markup import md
from pages.review_focus import Context, focus_on

ACTIONS = {"Confirm the given label": ("confirmed", None), "Ambiguous": ("ambiguous", None),
           "Remove": ("removed", None)}


def on_bulk(ctx: Context, positions: list[int], action: str) -> None:
    status, label = ACTIONS.get(action) or ("relabeled", action.removeprefix("Relabel as "))
    undone_hint = "one Undo takes them all back"
    decide(session.decision_store(), ctx.data, positions, status, label, reviewer.reviewer_name(),
           st.session_state.get("rv_bulk_note"))
    st.session_state["rv_bulk_note"] = ""
    st.session_state["review_toast"] = f"{status.capitalize()}: {len(positions):,} example(s); {undone_hint}."


def on_undo(ctx: Context) -> None:
    undone = session.decision_store().undo_last(ctx.data.name, reviewer=reviewer.reviewer_name())
    st.session_state["review_toast"] = (f"Undid {undone[0].status} of {len(undone)} example(s)." if undone
                                        else "Nothing of yours to undo.")


def show(ctx: Context, query: ReviewQuery) -> None:
    bound = session.bound_decisions(ctx.data)
    statuses = bound.status_by_id()
    page = query_results(ctx.index, ReviewQuery(**{**query.__dict__, "page": st.session_state.get("rv_page", 0)}),
                         statuses)
    st.caption(f"{page.total:,} matching examples · page {page.page + 1} of {page.n_pages} · select rows to "
               "decide on them together")
    rows = page.rows
    decided = bound.applied.set_index("example_id")["new_label"] if len(bound.applied) else pd.Series(dtype=object)
    shown = pd.DataFrame({
        "cleanlab rank": rows["rank"].to_numpy(), "id": rows["id"].astype(str).to_numpy(),
        "given": [ctx.names[int(k)] for k in rows["label"]],
        "predicted": [ctx.names[int(k)] for k in rows["predicted_label"]],
        "p(predicted)": rows["p_predicted"].to_numpy(), "loss": rows["loss"].to_numpy(),
        "flagged": rows["is_issue"].to_numpy(), "status": rows["status"].to_numpy(),
        "new label": decided.reindex(rows["id"].astype(str)).fillna("").to_numpy(dtype=object),
        "text": [" ".join(str(t).split())[:160] for t in rows["text"]],
    })
    picked = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key="rv_table",
                          column_config={"p(predicted)": st.column_config.ProgressColumn(format="percent"),
                                         "loss": st.column_config.NumberColumn(format="%.2f")})
    selected = [int(rows.index[i]) for i in picked.selection.rows] if picked else []
    bulk_bar(ctx, query, selected, page.total)
    c1, c2, c3, c4 = st.columns([1, 1, 3, 1])
    c1.button("← Previous", disabled=page.page == 0, on_click=lambda: st.session_state.update(rv_page=page.page - 1))
    c2.button("Next →", disabled=page.page >= page.n_pages - 1,
              on_click=lambda: st.session_state.update(rv_page=page.page + 1))
    c4.button("Undo last", key="rv_table_undo", on_click=on_undo, args=(ctx,), help="Undo your latest decision "
              "(a bulk decision as a whole)")
    if selected:
        c3.button(f"Open {md(shown['id'].iloc[picked.selection.rows[0]])} in focus mode",
                  on_click=lambda: (focus_on(str(ctx.data.ids[selected[0]])), st.session_state.update(rv_view="Focus")))


def bulk_bar(ctx: Context, query: ReviewQuery, selected: list[int], total: int) -> None:
    """Decide for the selected rows, or for every example the filters match."""
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([2, 2, 2, 1.4])
        scope = c1.radio("Apply to", ["Selected rows", "Everything that matches"], key="rv_bulk_scope",
                         horizontal=False, label_visibility="collapsed")
        actions = list(ACTIONS) + [f"Relabel as {name}" for name in ctx.names]
        action = c2.selectbox("Decision", actions, key="rv_bulk_action", label_visibility="collapsed")
        c3.text_input("Note", key="rv_bulk_note", placeholder="note (optional)", label_visibility="collapsed")
        if scope == "Selected rows":
            positions = selected
        else:
            positions = queue_positions(ctx.index, query, session.bound_decisions(ctx.data).status_by_id()).tolist()
        c4.button(f"Apply to {len(positions):,}", key="rv_bulk_apply", type="primary", disabled=not positions,
                  on_click=on_bulk, args=(ctx, positions, action), width="stretch")
        if scope != "Selected rows" and total > 500:
            st.caption(f"This decides {total:,} examples at once; one Undo takes them all back.")
