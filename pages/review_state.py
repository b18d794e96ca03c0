"""The Review page's session state (not a page): one ReviewView under st.session_state["review"]
(pages.state lists every key), and the keys of the widgets whose values make the view.

Three things are kept apart: the *chosen examples* (the queue restricted to a list of ids), the
*current example* (the one open in the focus view) and the *focus view* itself (one example at a
time, pages.review_focus, beside the table view).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from losslens.review.queue import ReviewQuery
from pages.state import area_state

REVIEW = "review"


class ReviewWidget:
    """Keys of the Review page's widgets whose values the code reads or sets."""

    SORT, ORDER, SEARCH, PAGE_SIZE = "rv_sort", "rv_order", "rv_search", "rv_size"
    GIVEN, PREDICTED, STATUSES, REASONS = "rv_given", "rv_pred", "rv_status", "rv_why"
    FLAGGED, CONFLICTS = "rv_flagged", "rv_conflicts"
    VIEW, SIMILARITY, SHARED = "rv_view", "rv_similarity", "rv_shared"
    NOTE, APPLY_TO_GROUP, BULK_NOTE = "rv_note", "rv_apply_group", "rv_bulk_note"
    MORE_CLASSES = "rv_more_class"   # the focus view's type-to-pick box for classes beyond the nine keys
    HIDE_DECIDED = {"Focus": "rv_hide_focus", "Table": "rv_hide_table"}   # "Hide decided", one per view
    KEPT = (SORT, ORDER, SEARCH, PAGE_SIZE, GIVEN, PREDICTED, STATUSES, REASONS, FLAGGED, CONFLICTS, VIEW,
            SIMILARITY, SHARED, *HIDE_DECIDED.values())   # the view's settings, kept while on another page


ORIGINS = ("activelab", "similar", "disagreements", "mine", "checks", "link")
"""Where a chosen list comes from: an Active learning batch, Show similar, the examples reviewers
disagree on, my decisions, examples drawn further down the queue to check the errors-left
estimate, or a link that lists ids (nothing else known about them)."""


@dataclass(frozen=True)
class ChosenExamples:
    """The queue restricted to these examples, in this order. origin: where they were chosen
    (ORIGINS); similarity: Show similar's cosine threshold (0..1) around ids[0], else None.
    Origin and threshold travel in the link (?chosen=, ?similarity=) beside the ids, so the banner
    that says what the examples are stays true after a reload."""

    ids: tuple[str, ...]
    origin: str = "link"
    similarity: float | None = None

    def to_params(self) -> dict[str, str]:
        """The origin (and threshold) as link parameters; a plain list of ids needs none."""
        params = {} if self.origin == "link" else {"chosen": self.origin}
        return params | ({} if self.similarity is None else {"similarity": f"{self.similarity:.2f}"})

    @classmethod
    def from_params(cls, ids: tuple[str, ...], params: dict) -> tuple[ChosenExamples, list[str]]:
        """The chosen list a link describes (its `ids` read by ReviewQuery), and the parameters
        that could not be used (ignored)."""
        origin, similarity, ignored = params.get("chosen", "link"), None, []
        if origin not in ORIGINS:
            origin, ignored = "link", ["chosen"]
        if origin == "similar":
            try:
                similarity = float(params.get("similarity", ""))
            except ValueError:
                similarity = None
            if similarity is None or not 0 <= similarity <= 1:
                origin, similarity, ignored = "link", None, [*ignored, "similarity"]
        return cls(ids, origin, similarity), ignored


@dataclass
class ReviewView:
    """linked_dataset: the dataset whose link (URL) has been read into the view (once per dataset);
    chosen: the chosen examples, or None for the whole queue; cell: (given, predicted) label
    indices of the confusion cell shown, or None.
    current_id: the example open in the focus view; current_at: its place in the queue when it
    was opened from there; current_outside_queue: opened by name (a neighbour, Undo, a link, the
    table), so it stays on screen even where the queue leaves it out, until the queue changes;
    linked_id: the example id last written to the URL.
    table_page: the table view's page (0-based); paged_query: the query it is a page of; table_ids:
    the ids of the table rows last drawn, in order (their selection is dropped when they change).
    toast: a message for the next run; rerun_page: the focus view asks for a whole-page run;
    show_keys: the focus view's key help is open."""

    linked_dataset: str | None = None
    chosen: ChosenExamples | None = None
    cell: tuple[int, int] | None = None
    current_id: str | None = None
    current_at: int = 0
    current_outside_queue: bool = False
    linked_id: str | None = None
    table_page: int = 0
    paged_query: ReviewQuery | None = None
    table_ids: tuple[str, ...] = ()
    toast: str | None = None
    rerun_page: bool = False
    show_keys: bool = False

    def open(self, example_id: str, at: int | None = None, outside_queue: bool | None = None) -> None:
        """Make `example_id` the current example (`at`: its place in the queue, when known)."""
        self.current_id = example_id
        if at is not None:
            self.current_at = at
        if outside_queue is not None:
            self.current_outside_queue = outside_queue

    def choose(self, ids: list[str], origin: str, similarity: float | None = None) -> None:
        """Make these examples the queue; `origin` (ORIGINS) says where they were chosen."""
        self.chosen = ChosenExamples(tuple(ids), origin, similarity)

    def forget_dataset(self) -> None:
        """Another dataset is loaded: chosen examples and the confusion cell were about the last one."""
        self.chosen = self.cell = None

    def follow_queue(self, query: ReviewQuery) -> None:
        """Each run, with the page's query: a changed query starts the table on page 1, and a
        new selection (anything but Hide decided or the page size) takes the focus view back into
        the queue, letting go of an example opened outside it."""
        before, self.paged_query = self.paged_query, query
        if before in (None, query):
            return
        self.table_page = 0
        if replace(before, hide_decided=query.hide_decided, page_size=query.page_size) != query:
            self.current_outside_queue = False

    def take_toast(self) -> str | None:
        toast, self.toast = self.toast, None
        return toast


def view() -> ReviewView:
    return area_state(REVIEW, ReviewView)


def keep_widget_values() -> None:
    """Streamlit forgets a widget's value on a page where it is not drawn; writing the Review
    page's view settings back on every run keeps them when the reviewer comes back."""
    for key in ReviewWidget.KEPT:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
