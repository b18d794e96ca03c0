"""The Review page's sort and filters, and the link that carries them (not a page): the URL's
query, view and example become the widgets' state once per dataset, and the view is written
back to the URL on every run, so a reload or a shared link opens the same queue.

"Hide decided" is one setting per view, on by default in the focus view (work through what is
left) and off in the table view (scan everything); a link carries it only where it differs.
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from losslens.review.evidence import REASON_TITLES
from losslens.review.queue import PAGE_SIZES, SORT_KEYS, ReviewQuery
from losslens.store.records import STATUSES
from pages import reviewer
from pages.markup import md
from pages.review_state import ChosenExamples, ReviewView, ReviewWidget as W

SORT_NAMES = {"loss": "Loss", "rank": "cleanlab rank", "margin": "Margin"}
SORT_HELP = ("Loss: −ln p(given label), the model's surprise at the label (the best order measured: README "
             "'Detection quality'; cleanlab's label quality and p(given) sort the same way). cleanlab rank: the "
             "examples cleanlab flags first, then the rest by label quality. Margin: p(given) minus the best other "
             "class, lowest first.")
ORDERS = ("Most suspicious first", "Least suspicious first")
MANY = ("given", "pred", "status", "cell", "ids", "why")   # link parameters that may repeat


def read_link(view: ReviewView, names: list[str], dataset: str) -> None:
    """Once per dataset and session: the URL's query, view and example become the widgets' state."""
    if view.linked_dataset == dataset:
        return
    view.linked_dataset = dataset
    params = {key: st.query_params.get_all(key) for key in st.query_params if key not in ("reviewer", "tab")}
    params = {key: values[0] if len(values) == 1 and key not in MANY else values for key, values in params.items()}
    mode = "Table" if params.get("view") == "table" else "Focus"
    query, ignored = ReviewQuery.from_params(params, names, hide_decided_by_default=hides_by_default(mode))
    st.session_state.update({W.SORT: query.sort_by, W.ORDER: ORDERS[0] if query.descending else ORDERS[1],
                             W.SEARCH: query.search, W.PAGE_SIZE: query.page_size, W.GIVEN: list(query.given_labels),
                             W.PREDICTED: list(query.predicted_labels), W.STATUSES: list(query.statuses),
                             W.REASONS: list(query.reasons), W.FLAGGED: query.flagged_only,
                             W.CONFLICTS: query.conflicts_only, W.VIEW: mode,
                             W.HIDE_DECIDED[mode]: query.hide_decided})
    view.table_page = query.page
    if query.ids:
        view.chosen, not_used = ChosenExamples.from_params(query.ids, params)
        ignored += not_used
    if query.cell is not None:
        view.cell = query.cell
    if params.get("id"):   # shown even where the queue now leaves it out (decided since, say)
        view.open(str(params["id"]), outside_queue=True)
    if ignored:
        st.warning(f"Some link parameters were not understood and were ignored: {md(', '.join(ignored))}.")


def view_mode() -> str:
    """The view shown: "Focus" or "Table"."""
    return st.session_state.get(W.VIEW) or "Focus"


def hides_by_default(mode: str) -> bool:
    """Whether `mode` hides decided examples until told otherwise: the focus view does."""
    return mode == "Focus"


def filters(view: ReviewView, names: list[str]) -> ReviewQuery:
    """The queue line with Hide decided beside it, then sort, order, label/status/reason/text
    filters and page size; returns the query (page set later)."""
    line, beside = st.columns([6, 1], vertical_alignment="center")
    hide = hide_decided(view, beside)
    line.caption(f"Queue: {filter_summary(names, hide and not view.chosen)}")
    with st.expander("Sort and filters"):   # a fixed label: a changed filter leaves it open
        return replace(filter_widgets(view, names), hide_decided=hide)


def hide_decided(view: ReviewView, where) -> bool:
    """The current view's Hide decided checkbox (in `where`); off while a chosen list is shown
    (it is shown whole)."""
    mode = view_mode()
    st.session_state.setdefault(W.HIDE_DECIDED[mode], hides_by_default(mode))
    return where.checkbox("Hide decided", key=W.HIDE_DECIDED[mode], disabled=bool(view.chosen),
                          help="Leave out the examples that have a decision, so the queue holds what is left to "
                               "review. On by default in the focus view. A chosen list is always shown whole.")


def filter_summary(names: list[str], hiding: bool) -> str:
    """One line saying what the queue is: its sort and the filters in force (`hiding`: decided
    examples are left out)."""
    state = st.session_state
    parts = [f"{SORT_NAMES[state.get(W.SORT, 'loss')]}, {state.get(W.ORDER, ORDERS[0]).lower()}"]
    parts += ["undecided only"] if hiding else []
    parts += [f"given {', '.join(names[k] for k in state[W.GIVEN])}"] if state.get(W.GIVEN) else []
    parts += [f"predicted {', '.join(names[k] for k in state[W.PREDICTED])}"] if state.get(W.PREDICTED) else []
    parts += [", ".join(state[W.STATUSES])] if state.get(W.STATUSES) else []
    parts += [" or ".join(REASON_TITLES[r].lower() for r in state[W.REASONS])] if state.get(W.REASONS) else []
    parts += ["flagged only"] if state.get(W.FLAGGED) else []
    parts += ["conflicting duplicates"] if state.get(W.CONFLICTS) else []
    parts += [f"text contains “{state[W.SEARCH]}”"] if state.get(W.SEARCH) else []
    return md(" · ".join(parts))


def filter_widgets(view: ReviewView, names: list[str]) -> ReviewQuery:
    c1, c2, c3, c4 = st.columns([2, 2, 3, 1])
    sort_by = c1.selectbox("Sort by", SORT_KEYS, format_func=SORT_NAMES.get, key=W.SORT, help=SORT_HELP)
    order = c2.selectbox("Order", ORDERS, key=W.ORDER,
                         help="Most suspicious: high loss, rank 1, low quality/margin/p(given) first.")
    search = c3.text_input("Search text", key=W.SEARCH, placeholder="words in the text")
    page_size = c4.selectbox("Rows", PAGE_SIZES, key=W.PAGE_SIZE, help="Rows per page in the table view.")
    c1, c2, c3, c4 = st.columns([3, 3, 3, 2])
    given = c1.multiselect("Given label", range(len(names)), format_func=names.__getitem__, key=W.GIVEN)
    predicted = c2.multiselect("Predicted label", range(len(names)), format_func=names.__getitem__, key=W.PREDICTED)
    statuses = c3.multiselect("Review status", STATUSES, key=W.STATUSES)
    flagged = c4.checkbox("Flagged only", key=W.FLAGGED,
                          help="cleanlab's confident errors only. Real errors the model is unsure about can sit "
                               "outside them: review by loss or rank to see those too.")
    conflicts = c4.checkbox("Conflicting duplicates", key=W.CONFLICTS,
                            help="Identical or near-identical texts (cosine >= 0.95) that carry different labels, "
                                 "each group together.")
    reasons = st.multiselect("Why in the queue", list(REASON_TITLES), format_func=REASON_TITLES.get, key=W.REASONS,
                             help="Keep the examples for which any of these reasons fires (the reasons beside each "
                                  "example in the focus view).")
    return ReviewQuery(sort_by=sort_by, descending=order == ORDERS[0], given_labels=tuple(given),
                       predicted_labels=tuple(predicted), flagged_only=flagged, statuses=tuple(statuses),
                       search=search.strip(), cell=view.cell, conflicts_only=conflicts, reasons=tuple(reasons),
                       ids=view.chosen.ids if view.chosen else (), page_size=int(page_size))


def write_link(view: ReviewView, query: ReviewQuery, names: list[str]) -> None:
    """The current view in the URL, so a reload or a shared link opens the same queue."""
    mode = view_mode()
    params = query.to_params(names, hide_decided_by_default=hides_by_default(mode))
    if mode == "Table":
        params["view"] = "table"
    if view.chosen:
        params.update(view.chosen.to_params())
    if view.current_id:
        params["id"] = view.current_id
    st.query_params.from_dict({**params, **reviewer.reviewer_link()})
