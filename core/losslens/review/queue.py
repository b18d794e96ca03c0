"""The review queue: server-side sort / filter / page over a results table, fast at 1M rows
(numpy + pyarrow), plus the counts the pages show (confusion matrix, review progress).

Build a `ReviewIndex` once per results table (the Review page keeps one per results key, with
the evidence's reason masks) and pass it to `query_results` on every rerun; only the requested
page of rows leaves this module. A DataFrame passed instead gets a one-off index.

Sort order. `ReviewQuery.descending=True` (the default) means "most suspicious first" for every
key (HIGHER_IS_SUSPICIOUS):
    loss     high -> low        rank     1 -> N        margin   low -> high
`descending=False` flips the key's order. Ties keep the table's row order (the dataset order) in
both directions (stable sorts), and NaN values always go last. cleanlab's label quality and
p(given) are not sort keys: they sort as loss does.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from losslens.review.binding import BoundDecisions
from losslens.review.evidence import REASON_TITLES
from losslens.store.records import DECIDED_STATUSES, STATUSES

HIGHER_IS_SUSPICIOUS: dict[str, bool] = {"loss": True, "rank": False, "margin": False}   # per sort key
SORT_KEYS: tuple[str, ...] = tuple(HIGHER_IS_SUSPICIOUS)
PAGE_SIZES = (25, 50, 100)
REQUIRED_COLUMNS = ("id", "text", "label", "predicted_label", "is_issue", *SORT_KEYS)
StatusSource = Mapping[str, str] | pd.Series | pd.DataFrame | None


@dataclass(frozen=True)
class ReviewQuery:
    """What the reviewer asked for. Label filters are class indices 0..K-1.

    sort_by: loss | rank | margin (SORT_KEYS).
    descending: True = most suspicious first (see module docstring); False flips it.
    given_labels / predicted_labels: keep rows whose label is any of these (empty = all).
    flagged_only: keep rows with is_issue.
    statuses: keep rows whose review status is any of these (empty = all).
    search: case-insensitive substring of the text ("" = all).
    cell: (given, predicted) confusion-matrix cell, or None.
    conflicts_only: keep rows of conflict groups (identical or near-identical texts with
        different labels), each group's rows together, groups in the order of their first row.
    reasons: keep rows for which any of these evidence reasons fires (names of
        losslens.review.evidence.REASON_TYPES; the index needs their masks); () = all.
    ids: keep only these examples, in this order (the sort does not apply); () = all.
    hide_decided: keep only examples without a decision in force (status "unreviewed"). A
        chosen list (`ids`) is shown whole: its examples were picked, decided or not.
    page: 0-based page number (clamped to the last page); page_size: rows per page.
    """

    sort_by: str = "loss"
    descending: bool = True
    given_labels: tuple[int, ...] = ()
    predicted_labels: tuple[int, ...] = ()
    flagged_only: bool = False
    statuses: tuple[str, ...] = ()
    search: str = ""
    cell: tuple[int, int] | None = None
    conflicts_only: bool = False
    reasons: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    hide_decided: bool = False
    page: int = 0
    page_size: int = 50

    def to_params(self, label_names: Sequence[str],
                  hide_decided_by_default: bool = False) -> dict[str, str | list[str]]:
        """The query as URL parameters (labels by name); defaults are left out.

        hide_decided_by_default: what a link without `decided` means where it is opened (a page
        may hide decided examples by default); `decided=hide|show` is written only otherwise.
        """
        default, params = ReviewQuery(), {}
        if self.sort_by != default.sort_by:
            params["sort"] = self.sort_by
        if not self.descending:
            params["order"] = "least"
        for key, labels in (("given", self.given_labels), ("pred", self.predicted_labels)):
            if labels:
                params[key] = [label_names[k] for k in labels]
        if self.flagged_only:
            params["flagged"] = "1"
        if self.statuses:
            params["status"] = list(self.statuses)
        if self.search:
            params["q"] = self.search
        if self.cell is not None:
            params["cell"] = [label_names[self.cell[0]], label_names[self.cell[1]]]
        if self.conflicts_only:
            params["conflicts"] = "1"
        if self.reasons:
            params["why"] = list(self.reasons)
        if self.ids:
            params["ids"] = list(self.ids)
        if self.hide_decided != hide_decided_by_default:
            params["decided"] = "hide" if self.hide_decided else "show"
        if self.page:
            params["page"] = str(self.page + 1)
        if self.page_size != default.page_size:
            params["size"] = str(self.page_size)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str | list[str]], label_names: Sequence[str],
                    hide_decided_by_default: bool = False) -> tuple[ReviewQuery, list[str]]:
        """The query a link describes, and the parameters that could not be used (ignored);
        without `decided`, hide_decided is `hide_decided_by_default` (as in to_params)."""
        ignored: list[str] = []
        names = {name: k for k, name in enumerate(label_names)}

        def many(key: str) -> list[str]:
            value = params.get(key, [])
            return [value] if isinstance(value, str) else list(value)

        def labels(key: str) -> tuple[int, ...]:
            found = tuple(names[v] for v in many(key) if v in names)
            if len(found) != len(many(key)):
                ignored.append(key)
            return found

        def choice(key: str, allowed, default):
            value = params.get(key, default)
            value = value[-1] if isinstance(value, list) and value else value
            if value not in allowed:
                ignored.append(key)
                return default
            return value

        cell = many("cell")
        if cell and not (len(cell) == 2 and all(c in names for c in cell)):
            ignored.append("cell")
        page = choice("page", {str(n) for n in range(1, 1_000_001)}, "1")
        statuses = tuple(s for s in many("status") if s in STATUSES)
        if len(statuses) != len(many("status")):
            ignored.append("status")
        reasons = tuple(r for r in many("why") if r in REASON_TITLES)
        if len(reasons) != len(many("why")):
            ignored.append("why")
        query = cls(sort_by=choice("sort", SORT_KEYS, "loss"),
                    descending=choice("order", ("most", "least"), "most") == "most",
                    given_labels=labels("given"), predicted_labels=labels("pred"),
                    flagged_only=choice("flagged", ("0", "1"), "0") == "1", statuses=statuses,
                    search=str(params.get("q", "")), conflicts_only=choice("conflicts", ("0", "1"), "0") == "1",
                    reasons=reasons,
                    cell=(names[cell[0]], names[cell[1]]) if "cell" not in ignored and cell else None,
                    ids=tuple(many("ids")), page=int(page) - 1,
                    hide_decided=choice("decided", ("hide", "show"),
                                        "hide" if hide_decided_by_default else "show") == "hide",
                    page_size=int(choice("size", {str(n) for n in PAGE_SIZES}, str(cls.page_size))))
        return query, ignored


@dataclass
class ReviewPage:
    """One page: `rows` are the table's rows of that page (original index kept) plus a `status`
    column; `total` counts every matching row; `page` is the page actually shown (0-based)."""

    rows: pd.DataFrame
    total: int
    page: int
    n_pages: int


class ReviewIndex:
    """Arrays of one results table and its lowercased texts, built once; sort orders made lazily.

    reasons: reason name -> (N,) bool, the examples each evidence reason fires for
    (Evidence.reason_masks()); without them the queue cannot be filtered by reason.
    The table is treated as immutable: build a new index for a new table. One index may serve
    several threads (Streamlit sessions): its caches are guarded by a lock.
    """

    def __init__(self, table: pd.DataFrame, reasons: Mapping[str, np.ndarray] | None = None) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"results table lacks column(s) {', '.join(missing)}; rescore the dataset")
        self.table = table
        self.rows_source = _contiguous_strings(table)  # what pages are cut from
        self.n_rows = len(table)
        self.labels = table["label"].to_numpy(dtype=np.int64)
        self.predicted = table["predicted_label"].to_numpy(dtype=np.int64)
        self.is_issue = table["is_issue"].to_numpy(dtype=bool)
        self.conflict_group = (table["conflict_group"].to_numpy(dtype=np.int64) if "conflict_group" in table
                               else np.full(len(table), -1, dtype=np.int64))
        self.reasons = None if reasons is None else {name: np.asarray(m, dtype=bool) for name, m in reasons.items()}
        self._keys = {key: table[key].to_numpy() for key in SORT_KEYS}
        self._orders: dict[tuple[str, bool], np.ndarray] = {}
        self.lower_texts = pc.utf8_lower(pa.array(self.rows_source["text"], from_pandas=True))
        self._searches: OrderedDict[str, np.ndarray] = OrderedDict()
        self._arrow_ids: pa.Array | pa.ChunkedArray | None = None
        self._lock = threading.Lock()

    def order(self, sort_by: str, descending: bool = True) -> np.ndarray:
        """(N,) int64 row positions in the requested order (cached per key and direction)."""
        if sort_by not in SORT_KEYS:
            raise ValueError(f"cannot sort by {sort_by!r}; choose one of {', '.join(SORT_KEYS)}")
        cache_key = (sort_by, bool(descending))
        order = self._orders.get(cache_key)
        if order is None:
            values = self._keys[sort_by]
            if values.dtype.kind == "f":
                values = values.astype(np.float64)
            if HIGHER_IS_SUSPICIOUS[sort_by] == bool(descending):  # high first: negate (NaN stays NaN, last)
                values = -values
            order = self._orders[cache_key] = stable_argsort(values)
        return order

    def text_contains(self, needle: str, within: np.ndarray | None = None) -> np.ndarray:
        """(N,) bool: case-insensitive substring match on the text column.

        within: (N,) bool of rows still in play; when few, only those texts are searched (rows
        outside it come back False). Full-table results are cached for the last few needles.
        """
        lowered = pc.utf8_lower(pa.scalar(needle, pa.large_string())).as_py()
        with self._lock:
            cached = self._searches.get(lowered)
            if cached is not None:
                self._searches.move_to_end(lowered)
                return cached
        if within is not None and within.sum() * 4 < self.n_rows:
            rows = np.flatnonzero(within)
            found = np.zeros(self.n_rows, dtype=bool)
            found[rows] = _as_bool(pc.match_substring(self.lower_texts.take(rows), lowered))
            return found
        found = _as_bool(pc.match_substring(self.lower_texts, lowered))
        with self._lock:
            self._searches[lowered] = found
            while len(self._searches) > _SEARCH_CACHE_SIZE:
                self._searches.popitem(last=False)
        return found

    def positions_of(self, ids: list[str]) -> np.ndarray:
        """(len(ids),) int64 row positions of `ids` in the table (-1 for ids not in it)."""
        positions = np.full(len(ids), -1, dtype=np.int64)
        if len(ids):
            which = self._which(pa.array([str(i) for i in ids], pa.large_string()))
            rows = np.flatnonzero(which >= 0)
            positions[which[rows]] = rows
        return positions

    def status_codes(self, status_by_id: pd.Series) -> np.ndarray:
        """(N,) int8 index into STATUSES of each row's review status (0 = unreviewed)."""
        if not len(status_by_id):
            return np.zeros(self.n_rows, dtype=np.int8)
        which = self._which(pa.array(status_by_id.index.to_numpy(dtype=object), pa.large_string()))
        codes = np.append(pd.Categorical(status_by_id.to_numpy(), categories=STATUSES).codes, 0)
        return codes.astype(np.int8)[which]  # which == -1 picks the appended 0 (unreviewed)

    def _which(self, wanted: pa.Array) -> np.ndarray:
        """(N,) int64: for each table row, the index of its id in `wanted` (-1 when absent).

        One hash pass over the table's ids (Arrow index_in with the small set as the value set).
        """
        if self._arrow_ids is None:
            ids = self.rows_source["id"]
            self._arrow_ids = pa.array(ids if pd.api.types.is_string_dtype(ids) else ids.astype(str))
        which = pc.index_in(self._arrow_ids, value_set=wanted).fill_null(-1)
        return np.asarray(which.to_numpy(zero_copy_only=False), dtype=np.int64)


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """(N,) int64 positions sorting `values` ascending, NaN last, ties in position order.

    Same result as np.argsort(kind="stable"), faster: an unstable (SIMD) argsort, then only when
    there are ties, one int64 sort of (tie group, position).
    """
    n = values.size
    order = np.argsort(values)
    ordered = values[order]
    tied = ordered[1:] == ordered[:-1]
    if values.dtype.kind == "f":
        nan = np.isnan(ordered)
        tied |= nan[1:] & nan[:-1]
    if not tied.any():
        return order
    group = np.concatenate([[0], np.cumsum(~tied)])
    return np.sort(group * n + order) % n


def _contiguous_strings(table: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy whose Arrow-backed string columns are one chunk each.

    Parquet loads them in several chunks, and Arrow's take over a chunked string array copies
    every chunk first (~25 ms per column at 1M rows): one concatenation here keeps a page cheap.
    """
    out = table.copy(deep=False)
    for column in table.columns:
        dtype = table[column].dtype
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            values = pa.array(table[column])
            if isinstance(values, pa.ChunkedArray) and values.num_chunks > 1:
                out[column] = pd.array(values.combine_chunks(), dtype=dtype)
    return out


def _as_bool(found: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


_SEARCH_CACHE_SIZE = 4


def _as_index(table: pd.DataFrame | ReviewIndex) -> ReviewIndex:
    """`table` when it is an index already, else a one-off index of it."""
    return table if isinstance(table, ReviewIndex) else ReviewIndex(table)


def query_results(
    table: pd.DataFrame | ReviewIndex, query: ReviewQuery, status_by_id: StatusSource = None
) -> ReviewPage:
    """Filter, sort and cut one page of the results table.

    status_by_id: example id -> review status, as a mapping, a Series indexed by id, or the
    DataFrame of `DecisionStore.in_force` (example_id, status); ids absent are "unreviewed".
    """
    if query.page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {query.page_size}")
    index = _as_index(table)
    statuses = _status_series(status_by_id)
    selected = _queue(index, query, statuses)
    total = int(selected.size)
    n_pages = max(1, math.ceil(total / query.page_size))
    page = min(max(int(query.page), 0), n_pages - 1)
    positions = selected[page * query.page_size : (page + 1) * query.page_size]
    rows = index.rows_source.iloc[positions].copy()
    page_ids = rows["id"].astype(str)
    rows["status"] = statuses.reindex(page_ids.tolist()).fillna("unreviewed").to_numpy(dtype=object)
    return ReviewPage(rows=rows, total=total, page=page, n_pages=n_pages)


def queue_positions(table: pd.DataFrame | ReviewIndex, query: ReviewQuery,
                    status_by_id: StatusSource = None) -> np.ndarray:
    """(M,) int64 row positions of every example the query keeps, in queue order (no paging)."""
    return _queue(_as_index(table), query, _status_series(status_by_id))


def _queue(index: ReviewIndex, query: ReviewQuery, statuses: pd.Series) -> np.ndarray:
    mask = _filter_mask(index, query, statuses)
    if query.ids:
        positions = index.positions_of(list(query.ids))
        selected = positions[positions >= 0]
        return selected if mask is None else selected[mask[selected]]
    order = index.order(query.sort_by, query.descending)
    selected = order if mask is None else order[mask[order]]
    if query.conflicts_only:
        groups = index.conflict_group[selected]
        first = np.full(groups.max() + 1 if len(groups) else 0, len(selected), dtype=np.int64)
        np.minimum.at(first, groups, np.arange(len(selected)))   # a group sits where its first row would
        selected = selected[np.lexsort((np.arange(len(selected)), first[groups]))]
    return selected


def _status_series(status_by_id: StatusSource) -> pd.Series:
    if status_by_id is None:
        return pd.Series([], dtype=object)
    if isinstance(status_by_id, pd.DataFrame):
        series = pd.Series(
            status_by_id["status"].to_numpy(dtype=object),
            index=status_by_id["example_id"].astype(str).to_numpy(dtype=object),
        )
    elif isinstance(status_by_id, pd.Series):
        series = pd.Series(status_by_id.to_numpy(dtype=object), index=status_by_id.index.astype(str))
    else:
        series = pd.Series(dict(status_by_id), dtype=object)
    unknown = sorted(set(series.unique()) - set(STATUSES))
    if unknown:
        raise ValueError(f"unknown review status(es) {unknown}; expected {', '.join(STATUSES)}")
    return series[~series.index.duplicated(keep="last")]


def _filter_mask(index: ReviewIndex, query: ReviewQuery, statuses: pd.Series) -> np.ndarray | None:
    """(N,) bool of the rows every filter keeps, or None when no filter is set."""
    mask: np.ndarray | None = None

    def keep(rows: np.ndarray) -> None:
        nonlocal mask
        mask = rows if mask is None else mask & rows

    if query.given_labels:
        keep(np.isin(index.labels, np.asarray(query.given_labels, dtype=np.int64)))
    if query.predicted_labels:
        keep(np.isin(index.predicted, np.asarray(query.predicted_labels, dtype=np.int64)))
    if query.cell is not None:
        given, predicted = query.cell
        keep((index.labels == given) & (index.predicted == predicted))
    if query.flagged_only:
        keep(index.is_issue)
    if query.conflicts_only:
        keep(index.conflict_group >= 0)
    if query.statuses:
        unknown = sorted(set(query.statuses) - set(STATUSES))
        if unknown:
            raise ValueError(f"unknown review status(es) {unknown}; expected {', '.join(STATUSES)}")
        wanted = np.isin(np.arange(len(STATUSES)), [STATUSES.index(s) for s in query.statuses])
        keep(wanted[index.status_codes(statuses)])
    if query.reasons:
        keep(_reasons_mask(index, query.reasons))
    if query.hide_decided and not query.ids:
        keep(index.status_codes(statuses) == STATUSES.index("unreviewed"))
    if query.search:  # last: the other filters narrow the rows it has to scan
        keep(index.text_contains(query.search, within=mask))
    return mask


def _reasons_mask(index: ReviewIndex, reasons: Sequence[str]) -> np.ndarray:
    """(N,) bool: rows for which any of `reasons` fires."""
    unknown = sorted(set(reasons) - set(REASON_TITLES))
    if unknown:
        raise ValueError(f"unknown reason(s) {unknown}; expected {', '.join(REASON_TITLES)}")
    if index.reasons is None:
        raise ValueError("filtering by reason needs the evidence's masks: "
                         "ReviewIndex(table, Evidence.of(results).reason_masks())")
    return np.logical_or.reduce([index.reasons[name] for name in reasons])


def confusion_counts(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) int64 example counts, row = given label, column = predicted label."""
    k = n_classes
    cells = np.asarray(labels, dtype=np.int64) * k + np.asarray(predicted, dtype=np.int64)
    return np.bincount(cells, minlength=k * k).reshape(k, k)


def most_confused_cell(counts: np.ndarray) -> tuple[int, int]:
    """(given, predicted) of the largest off-diagonal count of a (K, K) confusion matrix."""
    off = counts - np.diag(np.diag(counts))
    given, predicted = np.unravel_index(int(off.argmax()), off.shape)
    return int(given), int(predicted)


@dataclass(frozen=True)
class ReviewProgress:
    """Counts for the progress line: examples whose given label the model disagrees with and how
    many of them have a decision (what a reviewer works through), the same for cleanlab's flagged
    ones, decisions in force per status, and stale decisions (kept, not applied)."""

    n_disagree: int
    disagree_reviewed: int
    n_flagged: int
    flagged_reviewed: int
    by_status: dict[str, int]
    n_stale: int

    @property
    def n_decisions(self) -> int:
        return sum(self.by_status.values())

    @property
    def fraction(self) -> float:
        """Share of the disagreements reviewed, 0..1 (0 when the model agrees with every label)."""
        return self.disagree_reviewed / self.n_disagree if self.n_disagree else 0.0


def review_progress(index: ReviewIndex, bound: BoundDecisions) -> ReviewProgress:
    """Progress of the review of `index`'s table under the decisions `bound` to its dataset."""
    positions = bound.applied["position"].to_numpy(dtype=np.int64)
    counts = bound.applied["status"].value_counts()
    disagree = index.predicted != index.labels
    return ReviewProgress(
        n_disagree=int(disagree.sum()),
        disagree_reviewed=int(disagree[positions].sum()),
        n_flagged=int(index.is_issue.sum()),
        flagged_reviewed=int(index.is_issue[positions].sum()),
        by_status={status: int(counts.get(status, 0)) for status in DECIDED_STATUSES},
        n_stale=len(bound.stale),
    )
