"""Review, the focus view's queue (not a page): the examples around the current one, decided ones
marked, each a click away; and what the view says when the queue is empty."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from losslens.review.queue import ReviewQuery, queue_positions
from losslens.review.snapshot import DecisionsSnapshot
from pages.markup import md
from pages.review_screen import ReviewScreen
from pages.review_state import view

QUEUE_SHOWN = 8


def open_in_queue(example_id: str | None, at: int | None = None, back_in_queue: bool = False) -> None:
    """Open the example at place `at` of the queue (Prev, Next; a click in the queue list also
    takes the view back into the queue)."""
    if example_id is not None:
        view().open(example_id, at, outside_queue=False if back_in_queue else None)


def queue_list(screen: ReviewScreen, queue: np.ndarray, at: int | None, status_by_id: pd.Series,
               of_what: str) -> None:
    """QUEUE_SHOWN examples of the queue from the one before the current; decided ones marked
    with ✓ and their status (status_by_id: id -> status of the decided examples); of_what: the
    count said above it ("19 undecided")."""
    start = max(0, (at or 0) - 1)
    st.markdown(f"**Queue** · {of_what} example{'s' * (len(queue) != 1)}")
    for i in range(start, min(start + QUEUE_SHOWN, len(queue))):
        row = screen.results.table.iloc[int(queue[i])]
        excerpt = " ".join(str(row["text"]).split())[:90]
        status = status_by_id.get(str(screen.data.ids[int(queue[i])]))
        label = (f"{i + 1}. {f'✓ {status} · ' if status else ''}given {screen.names[int(row['label'])]}, model "
                 f"{screen.names[int(row['predicted_label'])]} · {excerpt}")
        st.button(md(label), key=f"rv_queue_{i - start}", width="stretch", type="primary" if i == at else "tertiary",
                  on_click=open_in_queue, args=(str(screen.data.ids[int(queue[i])]), i, True))


def nothing_left(screen: ReviewScreen, query: ReviewQuery, decisions: DecisionsSnapshot) -> None:
    """Why the queue is empty: every example in it decided (Hide decided), or no match at all."""
    decided = len(queue_positions(screen.index, replace(query, hide_decided=False), decisions.status_by_id))
    if query.hide_decided and decided:
        st.success(f"Every example in this queue has a decision ({decided:,}). Untick **Hide decided** to see "
                   "them again.")
    else:
        st.info("No example matches these filters.")
