"""Review, the table view (not a page): the same queue as readable rows to scan and select (the text
wraps; every row of the page is on screen, so the pager is the only paging), the first selected
row in full, and one decision for the selected rows or for everything that matches, recorded as one
undoable group."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from losslens.review.binding import decide
from losslens.review.queue import ReviewQuery, query_results, queue_positions
from losslens.review.table import SHOWN, row_lines, table_rows
from pages import reviewer, session
from pages.markup import md
from pages.review_screen import ReviewScreen
from pages.review_state import ReviewWidget, view

TABLE_KEY = "rv_table"
ROW_PX = 35                          # Streamlit's row (and header) height
ROW_PX_BY_LINES = {1: ROW_PX, 3: 72, 5: 92}   # Streamlit wraps text only in rows taller than 64 px
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
    """The decision bar, the page's rows (every one on screen: the pager below is the only paging),
    the whole text of the first selected row, the pager."""
    decisions = screen.decisions
    page = query_results(screen.index, replace(query, page=view().table_page), decisions.status_by_id)
    applied = decisions.bound.applied
    new_labels = applied.set_index("example_id")["new_label"] if len(applied) else pd.Series(dtype=object)
    shown = table_rows(page.rows, screen.names, new_labels)
    if view().table_ids != (ids := tuple(shown["id"])):   # another page, filter or order: an earlier
        view().table_ids = ids                               # selection would point at other examples
        st.session_state[TABLE_KEY] = {"selection": {"rows": []}}
    bar = st.container()   # above the table, filled once the table says which rows are selected
    st.caption(f"{page.total:,} matching · page {page.page + 1} of {page.n_pages} · select rows to decide on them "
               "together; the first selected shows in full below")
    row_height = ROW_PX_BY_LINES[row_lines(shown["text"].tolist())]
    picked = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key=TABLE_KEY,
                          column_order=SHOWN, row_height=row_height, height=ROW_PX + len(shown) * row_height + 3,
                          column_config={"given": st.column_config.TextColumn(width=90),
                                         "predicted": st.column_config.TextColumn("model says", width=120),
                                         "text": st.column_config.TextColumn(width=520),
                                         "status": st.column_config.TextColumn(width=130),
                                         "loss": st.column_config.NumberColumn(format="%.2f")})
    selected = [i for i in (picked.selection.rows if picked else []) if i < len(shown)]
    with bar:
        bulk_bar(screen, query, [int(page.rows.index[i]) for i in selected], page.total)
    if selected:
        full_text(page.rows.iloc[selected[0]], shown.iloc[selected[0]], len(selected))
    pager(page.page, page.n_pages)


def full_text(row: pd.Series, shown: pd.Series, n_selected: int) -> None:
    """The first selected row in full: its labels, status and whole text, and a way into the focus view."""
    with st.container(border=True, key="rv_table_preview"):
        more = f" · {n_selected - 1:,} more selected" if n_selected > 1 else ""
        st.markdown(f"Given **{md(shown['given'])}** · model says **{md(shown['predicted'])}** · "
                    f"{md(shown['status'])} · id {md(shown['id'])}{more}")
        st.text(str(row["text"]))
        st.button("Open in focus view", key="rv_open_in_focus", on_click=open_in_focus_view, args=(str(shown["id"]),))


def pager(page: int, n_pages: int) -> None:
    """Previous / page n of N / Next: the table view's one level of paging."""
    with st.container(horizontal=True, vertical_alignment="center", key="rv_pager"):
        st.button("← Previous", key="rv_page_prev", disabled=page == 0, on_click=turn_page, args=(page - 1,))
        st.caption(f"page {page + 1} of {n_pages}", width="content")
        st.button("Next →", key="rv_page_next", disabled=page >= n_pages - 1, on_click=turn_page, args=(page + 1,))


def bulk_bar(screen: ReviewScreen, query: ReviewQuery, selected: list[int], total: int) -> None:
    """Decide for the selected rows, or for every example the filters match; undo the last decision."""
    with st.container(border=True):
        c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 1.4, 1.2])
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
        c5.button("Undo last", key="rv_table_undo", on_click=on_undo, args=(screen,), width="stretch",
                  help="Undo your latest decision (a bulk decision as a whole)")
        if scope != "Selected rows" and total > 500:
            st.caption(f"This decides {total:,} examples at once; one Undo takes them all back.")
