"""Review: the queue of suspicious examples, in focus mode (one at a time, keyboard) or as a table
(scan, select, decide in bulk). Sort, filters, view and focused example live in the URL.

Every piece of data is drawn as plain text (st.text, dataframes) or escaped markdown (md).
"""
from __future__ import annotations

import streamlit as st

from losslens.sources.datasets import LabeledTexts
from losslens.review.binding import REASONS, disagreements
from losslens.review.evidence import Evidence
from losslens.review.queue import PAGE_SIZES, SORT_KEYS, ReviewIndex, ReviewQuery
from losslens.store.decisions import STATUSES
from pages import review_focus, review_shared, review_table, reviewer, session
from pages.markup import md

SORT_NAMES = {"loss": "Loss", "rank": "cleanlab rank", "margin": "Margin"}
SORT_HELP = ("Loss: −ln p(given label), the model's surprise at the label (the best order measured: README "
             "'Detection quality'; cleanlab's label quality and p(given) sort the same way). cleanlab rank: the "
             "examples cleanlab flags first, then the rest by label quality. Margin: p(given) minus the best other "
             "class, lowest first.")
ORDERS = ("Most suspicious first", "Least suspicious first")
VIEWS = ("Focus", "Table")


@st.cache_resource(max_entries=2)
def evidence_of(key: str, _results) -> Evidence:
    """Evidence of one results table (thresholds, neighbours, groups), built once per results key."""
    return Evidence.of(_results)


@st.cache_resource(max_entries=2)
def review_index_of(key: str, _results) -> ReviewIndex:
    """The queue index of one results table with its evidence's reason masks, built once per results key."""
    return ReviewIndex(_results.table, reasons=evidence_of(key, _results).reason_masks())


def read_link(names: list[str], dataset: str) -> None:
    """Once per dataset and session: the URL's query, view and example become the widgets' state."""
    if st.session_state.get("rv_link_read") == dataset:
        return
    st.session_state["rv_link_read"] = dataset
    params = {key: st.query_params.get_all(key) for key in st.query_params if key != "reviewer"}
    params = {key: values[0] if len(values) == 1 and key not in ("given", "pred", "status", "cell", "ids") else values
              for key, values in params.items()}
    query, ignored = ReviewQuery.from_params(params, names)
    st.session_state.update(rv_sort=query.sort_by, rv_order=ORDERS[0] if query.descending else ORDERS[1],
                            rv_search=query.search, rv_size=query.page_size, rv_given=list(query.given_labels),
                            rv_pred=list(query.predicted_labels), rv_status=list(query.statuses),
                            rv_flagged=query.flagged_only, rv_conflicts=query.conflicts_only, rv_page=query.page,
                            rv_view="Table" if params.get("view") == "table" else "Focus")
    if query.ids:
        st.session_state["review_focus_ids"] = list(query.ids)
    if query.cell is not None:
        st.session_state["review_cell"] = query.cell
    if params.get("id"):
        st.session_state["rv_focus_id"] = str(params["id"])
    if ignored:
        st.warning(f"Some link parameters were not understood and were ignored: {md(', '.join(ignored))}.")


def filters(names: list[str]) -> ReviewQuery:
    """Sort, order, label/status/text filters and page size; returns the query (page set later)."""
    with st.expander(f"Sort and filters · {filter_summary(names)}"):
        return filter_widgets(names)


def filter_summary(names: list[str]) -> str:
    """One line saying what the queue is: its sort and the filters in force."""
    state = st.session_state
    parts = [f"{SORT_NAMES[state.get('rv_sort', 'loss')]}, {state.get('rv_order', ORDERS[0]).lower()}"]
    parts += [f"given {', '.join(names[k] for k in state['rv_given'])}"] if state.get("rv_given") else []
    parts += [f"predicted {', '.join(names[k] for k in state['rv_pred'])}"] if state.get("rv_pred") else []
    parts += [", ".join(state["rv_status"])] if state.get("rv_status") else []
    parts += ["flagged only"] if state.get("rv_flagged") else []
    parts += ["conflicting duplicates"] if state.get("rv_conflicts") else []
    parts += [f"text contains “{state['rv_search']}”"] if state.get("rv_search") else []
    return md(" · ".join(parts))


def filter_widgets(names: list[str]) -> ReviewQuery:
    c1, c2, c3, c4 = st.columns([2, 2, 3, 1])
    sort_by = c1.selectbox("Sort by", list(SORT_KEYS), format_func=SORT_NAMES.get, key="rv_sort", help=SORT_HELP)
    order = c2.selectbox("Order", ORDERS, key="rv_order",
                         help="Most suspicious: high loss, rank 1, low quality/margin/p(given) first.")
    search = c3.text_input("Search text", key="rv_search", placeholder="words in the text")
    page_size = c4.selectbox("Rows", PAGE_SIZES, key="rv_size", help="Rows per page in the table view.")
    c1, c2, c3, c4 = st.columns([3, 3, 3, 2])
    given = c1.multiselect("Given label", range(len(names)), format_func=names.__getitem__, key="rv_given")
    predicted = c2.multiselect("Predicted label", range(len(names)), format_func=names.__getitem__, key="rv_pred")
    statuses = c3.multiselect("Review status", STATUSES, key="rv_status")
    flagged = c4.checkbox("Flagged only", key="rv_flagged",
                          help="cleanlab's confident errors only. Real errors the model is unsure about can sit "
                               "outside them: review by loss or rank to see those too.")
    conflicts = c4.checkbox("Conflicting duplicates", key="rv_conflicts",
                            help="Identical or near-identical texts (cosine >= 0.95) that carry different labels, "
                                 "each group together.")
    return ReviewQuery(sort_by=sort_by, descending=order == ORDERS[0], given_labels=tuple(given),
                       predicted_labels=tuple(predicted), flagged_only=flagged, statuses=tuple(statuses),
                       search=search.strip(), cell=st.session_state.get("review_cell"), conflicts_only=conflicts,
                       ids=tuple(st.session_state.get("review_focus_ids") or ()), page_size=int(page_size))


def stale_decisions(context: review_focus.Context) -> None:
    """Stored decisions that no longer match an example: listed with the reason, never applied."""
    stale = session.bound_decisions(context.data).stale
    if len(stale):
        with st.expander(f"{len(stale)} earlier decision(s) do not apply to this dataset (kept, not applied)"):
            st.caption("A decision applies only to the example with the same id, text and given label. These are "
                       "kept in the store and never exported onto another row.")
            st.dataframe(stale.assign(reason=stale["reason"].map(REASONS))[
                ["example_id", "status", "new_label", "reviewer", "decided_at", "reason"]], hide_index=True)


def banners(data: LabeledTexts, names: list[str]) -> None:
    """Queues set elsewhere (Active learning batch, show similar, confusion cell), each with
    Clear; otherwise the examples reviewers disagree on, a click away."""
    focus = st.session_state.get("review_focus_ids")
    if focus:
        c1, c2 = st.columns([5, 1])
        c1.info(st.session_state.get("review_focus_label") or f"Showing the {len(focus)} examples chosen on the "
                                                                 "Active learning page.")
        if c2.button("Clear", key="clear_focus"):
            st.session_state.pop("review_focus_ids")
            st.session_state.pop("review_focus_label", None)
            st.rerun()
    else:
        ids = disagreements(session.bound_decisions(data, per_reviewer=True).applied)
        c1, c2, c3 = st.columns([4, 1, 1])
        if ids:
            c1.caption(f"Reviewers disagree on {len(ids):,} example(s): their latest decisions leave different labels.")
        if ids and c2.button("Show them", key="show_disagreements"):
            show_only(ids, f"Showing the {len(ids):,} example{'s' * (len(ids) > 1)} where reviewers' latest decisions "
                           "differ.")
        if c3.button("Mine", key="show_mine", help="The examples you have decided (your latest decision on each)"):
            if not (mine := session.my_decided_ids(data)):
                st.toast("You have not decided any example of this dataset yet.")
            else:
                show_only(mine, f"Showing the {len(mine):,} example{'s' * (len(mine) > 1)} you decided (your latest "
                                "decision on each).")
    cell = st.session_state.get("review_cell")
    if cell:
        c1, c2 = st.columns([5, 1])
        c1.info(f"Showing the confusion cell given {md(names[cell[0]])} × predicted {md(names[cell[1]])}.")
        if c2.button("Clear", key="clear_cell"):
            st.session_state.pop("review_cell")
            st.rerun()


def show_only(ids: list[str], label: str) -> None:
    """Make these examples the queue, with a banner saying what they are."""
    st.session_state["review_focus_ids"], st.session_state["review_focus_label"] = ids, label
    st.rerun()


def write_link(query: ReviewQuery, names: list[str]) -> None:
    """The current view in the URL, so a reload or a shared link opens the same queue."""
    params = query.to_params(names)
    if st.session_state.get("rv_view") == "Table":
        params["view"] = "table"
    if st.session_state.get("rv_focus_id"):
        params["id"] = st.session_state["rv_focus_id"]
    st.query_params.from_dict({**params, **reviewer.reviewer_link()})


st.title("Review")
results, data = session.current_results(), session.current_dataset()
if results is None or data is None:
    st.info("No results yet. Score a dataset on the **Data & model** page; the demo scores by itself.")
    if session.active_job() is not None:
        session.job_progress()
    st.stop()
if toast := st.session_state.pop("review_toast", None):   # the table view's messages (focus: its fragment)
    st.toast(toast)
names = list(results.label_names)
read_link(names, data.name)
banners(data, names)
query = filters(names)
context = review_focus.Context(data, results, review_index_of(results.key, results), evidence_of(results.key, results), names)
review_shared.shared_queue_bar(context, query)
signature = (query.sort_by, query.descending, query.given_labels, query.predicted_labels, query.flagged_only,
             query.statuses, query.search, query.cell, query.conflicts_only, query.ids, query.page_size)
if st.session_state.get("rv_signature") not in (None, signature):   # new filters start on page 1
    st.session_state["rv_page"] = 0
st.session_state["rv_signature"] = signature
view = st.segmented_control("View", VIEWS, key="rv_view", label_visibility="collapsed",
                            disabled=bool(st.session_state.get("rv_shared"))) or "Focus"
stale_decisions(context)
if view == "Focus":
    review_focus.show(context, query)
else:
    review_table.show(context, query)
write_link(query, names)
