"""Review: the top-losses table with in-page relabeling saved at once to the decision store.

Every piece of data (texts, ids, label names) is drawn as plain text (st.text) or as
escaped markdown; nothing from the dataset ever reaches unsafe_allow_html.
"""
from __future__ import annotations

import streamlit as st

from losslens.data import text_hash
from losslens.decisions import REASONS, BoundDecisions
from losslens.review import (PAGE_SIZES, SORT_KEYS, ReviewIndex, ReviewQuery, query_results, review_index,
                             review_progress)
from losslens.store import DECIDED_STATUSES, STATUSES
from pages import session
from pages.markup import md

SORT_NAMES = {"loss": "Loss", "rank": "cleanlab rank", "quality": "Label quality", "margin": "Margin",
              "p_given": "p(given label)"}
PREVIEW_CHARS = 400


def decide(example: tuple[str, str, str, str], new: str | None, status: str) -> None:
    """Record a decision on example = (dataset name, id, text hash, given label)."""
    dataset, example_id, digest, original = example
    session.decision_store().record(dataset, example_id, original, new, status, session.reviewer_name(),
                                    text_hash=digest)


def on_relabel(widget_key: str, example: tuple[str, str, str, str]) -> None:
    """The corrected-label selectbox: a different label is 'relabeled', the same one 'confirmed'."""
    new = st.session_state.get(widget_key)
    if new is not None:
        decide(example, new, "confirmed" if new == example[3] else "relabeled")


def on_reset(dataset_key: str, example_id: str) -> None:
    session.decision_store().reset(dataset_key, example_id, session.reviewer_name())


def on_undo(dataset_key: str) -> None:
    undone = session.decision_store().undo_last(dataset_key, reviewer=session.reviewer_name())
    st.session_state["review_toast"] = (f"Undid {undone.status} of {undone.example_id}" if undone
                                        else "Nothing of yours to undo.")


def go_to_page(number: int) -> None:
    """Previous/Next callback: set the page before the rerun (one script run per click, not two)."""
    st.session_state["rv_page"] = number


def filters(names: list[str]) -> ReviewQuery:
    """Sort, order, label/status/text filters and page size; returns the query (page set later)."""
    c1, c2, c3, c4 = st.columns([2, 2, 3, 1])
    sort_by = c1.selectbox("Sort by", list(SORT_KEYS), format_func=SORT_NAMES.get, key="rv_sort")
    order = c2.selectbox("Order", ["Most suspicious first", "Least suspicious first"], key="rv_order",
                         help="Most suspicious: high loss, rank 1, low quality/margin/p(given) first.")
    search = c3.text_input("Search text", key="rv_search", placeholder="words in the text")
    page_size = c4.selectbox("Rows", PAGE_SIZES, index=1, key="rv_size")
    c1, c2, c3, c4 = st.columns([3, 3, 3, 2])
    given = c1.multiselect("Given label", range(len(names)), format_func=names.__getitem__, key="rv_given")
    predicted = c2.multiselect("Predicted label", range(len(names)), format_func=names.__getitem__,
                               key="rv_pred")
    statuses = c3.multiselect("Review status", STATUSES, key="rv_status")
    c4.write("")
    flagged = c4.checkbox("Flagged only", key="rv_flagged", help="cleanlab find_label_issues flags")
    return ReviewQuery(sort_by=sort_by, descending=order == "Most suspicious first",
                       given_labels=tuple(given), predicted_labels=tuple(predicted),
                       flagged_only=flagged, statuses=tuple(statuses), search=search.strip(),
                       cell=st.session_state.get("review_cell"), page_size=int(page_size))


def progress(index: ReviewIndex, bound: BoundDecisions) -> None:
    """Reviewed / flagged, counts per status, and stale decisions (kept, not applied) with reasons."""
    done = review_progress(index, bound)
    text = (f"Flagged examples reviewed: {done.flagged_reviewed} / {done.n_flagged} · decisions: "
            f"{done.n_decisions} · " + " · ".join(f"{s} {done.by_status[s]}" for s in DECIDED_STATUSES))
    st.progress(done.fraction, text=text)
    if done.n_stale:
        with st.expander(f"{done.n_stale} earlier decision(s) do not apply to this dataset (kept, not applied)"):
            st.caption("A decision applies only to the example with the same id and the same text. "
                       "These are kept in the store and never exported onto another row.")
            st.dataframe(bound.stale.assign(reason=bound.stale["reason"].map(REASONS))[
                ["example_id", "status", "new_label", "reviewer", "decided_at", "reason"]], hide_index=True)


def banners() -> None:
    """Active filters set elsewhere (Active learning batch, confusion cell), each with Clear."""
    focus = st.session_state.get("review_focus_ids")
    if focus:
        c1, c2 = st.columns([5, 1])
        c1.info(f"Showing the {len(focus)} examples chosen on the Active learning page.")
        if c2.button("Clear", key="clear_focus"):
            st.session_state.pop("review_focus_ids")
            st.rerun()
    cell = st.session_state.get("review_cell")
    if cell:
        names = session.current_results().label_names
        c1, c2 = st.columns([5, 1])
        c1.info(f"Showing the confusion cell given {md(names[cell[0]])} × predicted {md(names[cell[1]])}.")
        if c2.button("Clear", key="clear_cell"):
            st.session_state.pop("review_cell")
            st.rerun()


def row(slot: int, r, names: list[str], dataset: str, decision) -> None:
    """One example: header line, literal text, corrected-label control and decision buttons."""
    example_id, given = str(r["id"]), names[int(r["label"])]
    example = (dataset, example_id, text_hash(str(r["text"])), given)
    predicted, status = names[int(r["predicted_label"])], r["status"]
    flag = " · ⚑ flagged" if bool(r["is_issue"]) else ""
    with st.container(border=True, key=f"review_row_{slot}"):
        st.markdown(f"**#{int(r['rank'])}** · id {md(example_id)} · given **{md(given)}** · predicted "
                    f"**{md(predicted)}** ({float(r['p_predicted']):.0%}) · loss {float(r['loss']):.2f}{flag}")
        text = str(r["text"])
        st.text(text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + " …")
        if len(text) > PREVIEW_CHARS:
            with st.expander(f"Full text ({len(text):,} characters)"):
                st.text(text)
        version = decision["decided_at"] if decision is not None else "none"
        current = decision["new_label"] if decision is not None and status == "relabeled" else None
        c1, c2, c3, c4, c5, c6 = st.columns([3, 1.1, 1.3, 1.1, 1, 2])
        widget_key = f"rl|{example_id}|{version}"
        c1.selectbox("Corrected label", names, index=names.index(current) if current in names else None,
                     placeholder="Relabel as…", key=widget_key, label_visibility="collapsed",
                     on_change=on_relabel, args=(widget_key, example))
        c2.button("Confirm", key=f"ok|{example_id}", on_click=decide, args=(example, given, "confirmed"),
                  help="The given label is right")
        c3.button("Ambiguous", key=f"amb|{example_id}", on_click=decide, args=(example, None, "ambiguous"))
        c4.button("Remove", key=f"rm|{example_id}", on_click=decide, args=(example, None, "removed"))
        c5.button("Reset", key=f"rs|{example_id}", on_click=on_reset, args=(dataset, example_id),
                  disabled=status == "unreviewed", help="Back to unreviewed")
        badge = f"**{status}**" + (f" → {md(current)}" if current else "")
        if decision is not None:
            badge += f" by {md(decision['reviewer'])}"
        c6.markdown(badge if status != "unreviewed" else "unreviewed")


st.title("Review")
results = session.current_results()
data = session.current_dataset()
if results is None or data is None:
    st.info("No results yet. Score a dataset on the **Data & model** page; the demo scores by itself.")
    if session.active_job() is not None:
        session.job_progress()
    st.stop()
if toast := st.session_state.pop("review_toast", None):
    st.toast(toast)
names, dataset_key = list(results.label_names), data.name
bound = session.bound_decisions(data)
index: ReviewIndex = review_index(results.table)   # built once per results table, shared
progress(index, bound)
banners()
query = filters(names)
if focus := st.session_state.get("review_focus_ids"):
    positions = index.positions_of([str(i) for i in focus])
    index = ReviewIndex(results.table.iloc[positions[positions >= 0]])
signature = (query.sort_by, query.descending, query.given_labels, query.predicted_labels, query.flagged_only,
             query.statuses, query.search, query.cell, query.page_size, bool(focus))
if st.session_state.get("rv_signature") != signature:   # new filters start on page 1
    st.session_state["rv_signature"], st.session_state["rv_page"] = signature, 0
page = query_results(index, ReviewQuery(**{**query.__dict__, "page": st.session_state.get("rv_page", 0)}),
                     bound.status_by_id())
c1, c2 = st.columns([5, 1])
c1.caption(f"{page.total:,} matching examples · page {page.page + 1} of {page.n_pages} · "
           f"reviewer: {md(session.reviewer_name())} (change it in the sidebar)")
c2.button("Undo last", on_click=on_undo, args=(dataset_key,), help="Undo your latest decision")
by_id = bound.applied.set_index("example_id") if len(bound.applied) else None
for slot, (_, r) in enumerate(page.rows.iterrows()):
    found = by_id is not None and str(r["id"]) in by_id.index
    row(slot, r, names, dataset_key, by_id.loc[str(r["id"])] if found else None)
c1, c2, c3 = st.columns([1, 2, 1])
c1.button("← Previous", disabled=page.page == 0, on_click=go_to_page, args=(page.page - 1,))
c2.caption(f"Page {page.page + 1} of {page.n_pages}")
c3.button("Next →", disabled=page.page >= page.n_pages - 1, on_click=go_to_page, args=(page.page + 1,))
