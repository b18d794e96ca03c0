"""losslens.review.queue: sort / filter / page values checked by hand on a six-row table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from losslens.review.queue import ReviewIndex, ReviewQuery, query_results, queue_positions, stable_argsort
from losslens.store.decisions import DecisionStore

NAN = float("nan")


@pytest.fixture
def table() -> pd.DataFrame:
    rows = [
        # id, text, label, predicted, loss, quality, margin, p_given, rank, is_issue
        ("a", "Stock markets rally", 0, 0, 0.1, 0.9, 0.8, 0.9, 6, False),
        ("b", "Goal! <b>late</b>", 1, 0, 2.0, 0.1, -0.7, 0.13, 1, True),
        ("c", "Election day", 2, 2, 0.5, 0.6, 0.2, 0.6, 4, False),
        ("d", "GOAL scored", 1, 1, 0.5, 0.6, 0.3, 0.6, 5, False),
        ("e", "chips and stocks", 0, 2, 1.2, 0.3, -0.4, 0.3, 2, True),
        ("f", "no loss here", 2, 1, NAN, 0.4, -0.1, 0.4, 3, False),
    ]
    columns = ["id", "text", "label", "predicted_label", "loss", "quality", "margin", "p_given",
               "rank", "is_issue"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["p_predicted"] = 0.5
    return frame


def ids(table, status=None, **query) -> list[str]:
    page = query_results(table, ReviewQuery(page_size=100, **query), status)
    assert page.total == len(page.rows)
    return page.rows["id"].tolist()


@pytest.mark.parametrize(
    ("sort_by", "suspicious_first", "flipped"),
    [
        ("loss", "becdaf", "acdebf"),      # ties c/d keep row order; NaN last both ways
        ("rank", "befcda", "adcfeb"),
        ("margin", "befcda", "adcfeb"),
    ],
)
def test_sort_orders(table, sort_by, suspicious_first, flipped):
    assert ids(table, sort_by=sort_by) == list(suspicious_first)
    assert ids(table, sort_by=sort_by, descending=False) == list(flipped)


def test_label_flag_and_cell_filters(table):
    assert ids(table, given_labels=(1,)) == ["b", "d"]
    assert ids(table, given_labels=(0, 2)) == ["e", "c", "a", "f"]
    assert ids(table, predicted_labels=(0,)) == ["b", "a"]
    assert ids(table, cell=(0, 2)) == ["e"]
    assert ids(table, cell=(1, 2)) == []
    assert ids(table, flagged_only=True) == ["b", "e"]
    assert ids(table, flagged_only=True, given_labels=(0,)) == ["e"]


def test_text_search_is_case_insensitive_substring(table):
    assert ids(table, search="goal") == ["b", "d"]
    assert ids(table, search="STOCK") == ["e", "a"]
    assert ids(table, search="<b>") == ["b"]
    assert ids(table, search="zebra") == []
    assert ids(table, search="goal", sort_by="rank", descending=False) == ["d", "b"]


def test_status_filter_uses_store_decisions(table, tmp_path):
    store = DecisionStore(tmp_path / "d.sqlite")
    store.record("k", "b", "sport", "business", "relabeled", "ann", text_hash=None)
    store.record("k", "c", "politics", None, "confirmed", "ann", text_hash=None)
    store.record("k", "gone", "tech", None, "removed", "ann", text_hash=None)  # orphan id: ignored
    store.record("k", "d", "sport", None, "removed", "ann", text_hash=None)
    store.reset("k", "d", "ann")
    decisions = store.in_force("k")
    assert ids(table, decisions, statuses=("unreviewed",)) == ["e", "d", "a", "f"]
    assert ids(table, decisions, statuses=("relabeled", "confirmed")) == ["b", "c"]
    assert ids(table, decisions, statuses=("removed",)) == []
    page = query_results(table, ReviewQuery(), decisions)
    assert page.rows["status"].tolist() == [
        "relabeled", "unreviewed", "confirmed", "unreviewed", "unreviewed", "unreviewed"
    ]
    # a plain mapping and a Series work the same
    mapping = {"b": "relabeled", "c": "confirmed"}
    assert ids(table, mapping, statuses=("confirmed",)) == ["c"]
    assert ids(table, pd.Series(mapping), statuses=("relabeled",)) == ["b"]


def test_hide_decided_keeps_the_undecided_but_not_in_a_chosen_list(table):
    statuses = {"b": "relabeled", "c": "confirmed", "f": "ambiguous"}
    assert ids(table, statuses, hide_decided=True) == ["e", "d", "a"]
    assert ids(table, statuses, hide_decided=True, given_labels=(1,)) == ["d"]
    assert ids(table, None, hide_decided=True) == list("becdaf")             # nothing decided yet
    assert ids(table, statuses, hide_decided=True, ids=("c", "e", "b")) == ["c", "e", "b"]   # shown whole


def test_paging(table):
    first = query_results(table, ReviewQuery(page_size=4))
    assert (first.total, first.page, first.n_pages) == (6, 0, 2)
    assert first.rows["id"].tolist() == ["b", "e", "c", "d"]
    assert first.rows.index.tolist() == [1, 4, 2, 3]  # the table's own index is kept
    second = query_results(table, ReviewQuery(page_size=4, page=1))
    assert second.rows["id"].tolist() == ["a", "f"]
    assert second.rows["loss"].iloc[0] == 0.1 and np.isnan(second.rows["loss"].iloc[1])
    clamped = query_results(table, ReviewQuery(page_size=4, page=9))
    assert clamped.page == 1 and clamped.rows["id"].tolist() == ["a", "f"]
    empty = query_results(table, ReviewQuery(search="zebra", page=3))
    assert (empty.total, empty.page, empty.n_pages, len(empty.rows)) == (0, 0, 1, 0)
    assert "status" in empty.rows.columns


def test_a_built_index_is_reused_and_a_table_gets_a_one_off_index(table, monkeypatch):
    built, orders, order = ReviewIndex(table), [], ReviewIndex.order
    monkeypatch.setattr(ReviewIndex, "order", lambda self, *args: orders.append(self) or order(self, *args))
    assert query_results(built, ReviewQuery(sort_by="rank")).rows["id"].tolist()[:2] == ["b", "e"]
    assert queue_positions(built, ReviewQuery(sort_by="rank")).tolist()[:2] == [1, 4]
    assert orders == [built, built]                                  # both answered from the index passed in
    assert query_results(table, ReviewQuery(sort_by="rank")).rows["id"].tolist()[:2] == ["b", "e"]
    assert len(orders) == 3 and orders[2] is not built               # a table: a one-off index of its own


def test_bad_queries_get_a_clear_error(table):
    with pytest.raises(ValueError, match="cannot sort by 'date'"):
        query_results(table, ReviewQuery(sort_by="date"))
    with pytest.raises(ValueError, match="unknown review status"):
        query_results(table, ReviewQuery(statuses=("done",)))
    with pytest.raises(ValueError, match="page_size"):
        query_results(table, ReviewQuery(page_size=0))
    with pytest.raises(ValueError, match="lacks column"):
        ReviewIndex(table.drop(columns=["margin"]))


def test_stable_argsort_matches_numpy_stable_sort():
    rng = np.random.default_rng(0)
    for values in (
        rng.integers(0, 5, size=1000).astype(np.float64),  # many ties
        np.where(rng.random(1000) < 0.1, np.nan, rng.random(1000)),  # NaNs
        rng.random(1000),  # no ties
        -rng.integers(0, 3, size=1000),  # negated ints
        np.array([], dtype=np.float64),
    ):
        assert stable_argsort(values).tolist() == np.argsort(values, kind="stable").tolist()


def test_search_within_a_few_rows_matches_the_full_search(table):
    index = ReviewIndex(table)
    within = np.array([False, False, False, True, False, False])
    assert index.text_contains("GOAL", within=within).tolist() == [False, False, False, True, False, False]
    assert index.text_contains("goal").tolist() == [False, True, False, True, False, False]
    assert ids(index, search="goal", given_labels=(1,), predicted_labels=(1,)) == ["d"]


def test_a_table_read_from_parquet_in_chunks_pages_the_same(table, tmp_path):
    path = tmp_path / "results.parquet"
    table.to_parquet(path, index=False, row_group_size=2)  # three row groups -> chunked strings
    loaded = pd.read_parquet(path)
    for query in (ReviewQuery(page_size=4, page=1), ReviewQuery(search="goal"), ReviewQuery(sort_by="rank")):
        expected = query_results(table, query, {"b": "removed"}).rows
        got = query_results(loaded, query, {"b": "removed"}).rows
        assert got["id"].tolist() == expected["id"].tolist()
        assert got["text"].tolist() == expected["text"].tolist()
        assert got["status"].tolist() == expected["status"].tolist()


def test_positions_of_ids(table):
    index = ReviewIndex(table)
    assert index.positions_of(["e", "zzz", "a"]).tolist() == [4, -1, 0]
    assert index.positions_of([]).tolist() == []


def test_ids_keep_their_own_order_and_other_filters_still_apply(table):
    assert ids(table, ids=("e", "a", "zzz", "b")) == ["e", "a", "b"]       # unknown ids dropped
    assert ids(table, ids=("e", "a", "b"), flagged_only=True) == ["e", "b"]


def test_conflicts_only_keeps_each_group_together(table):
    table = table.assign(conflict_group=[1, 0, -1, 0, 1, -1])
    # loss order b e c d a f: group 0 first appears with b, group 1 with e; members follow their group
    assert ids(table, conflicts_only=True) == ["b", "d", "e", "a"]
    assert ids(table) == list("becdaf")


def test_reasons_filter_keeps_rows_any_chosen_reason_fires_for(table):
    masks = {"prefers_other": np.array([0, 1, 0, 0, 1, 0], dtype=bool),
             "low_given": np.array([0, 1, 0, 0, 0, 1], dtype=bool),
             "cleanlab": table["is_issue"].to_numpy(), "neighbours": np.zeros(6, dtype=bool),
             "duplicate": np.array([0, 0, 1, 0, 0, 0], dtype=bool)}
    index = ReviewIndex(table, reasons=masks)
    assert ids(index, reasons=("prefers_other",)) == ["b", "e"]              # loss order
    assert ids(index, reasons=("low_given", "duplicate")) == ["b", "c", "f"]  # any of them; NaN loss last
    assert ids(index, reasons=("low_given",), given_labels=(2,)) == ["f"]
    assert ids(index, reasons=("neighbours",)) == []
    with pytest.raises(ValueError, match="unknown reason"):
        ids(index, reasons=("vibes",))
    with pytest.raises(ValueError, match="needs the evidence"):
        ids(table, reasons=("cleanlab",))


def test_query_round_trips_through_url_parameters():
    names = ("business", "sport", "tech")
    query = ReviewQuery(sort_by="margin", descending=False, given_labels=(0, 2), predicted_labels=(1,),
                        flagged_only=True, statuses=("relabeled", "unreviewed"), search="goal & stocks",
                        cell=(0, 1), conflicts_only=True, reasons=("low_given", "duplicate"), ids=("a,b", "c"),
                        page=3, page_size=25)
    params = query.to_params(names)
    assert params["given"] == ["business", "tech"] and params["cell"] == ["business", "sport"]
    assert ReviewQuery.from_params(params, names) == (query, [])
    assert ReviewQuery().to_params(names) == {}
    back, ignored = ReviewQuery.from_params({"sort": "evil", "given": ["nope", "tech"], "page": "-4",
                                             "size": "7", "status": ["bogus"], "cell": ["tech"],
                                             "why": ["cleanlab", "vibes"]}, names)
    assert back == ReviewQuery(given_labels=(2,), reasons=("cleanlab",))
    assert sorted(ignored) == ["cell", "given", "page", "size", "sort", "status", "why"]


def test_hide_decided_in_the_link_is_written_only_where_it_differs_from_the_default():
    names = ("business", "sport")
    hiding, showing = ReviewQuery(hide_decided=True), ReviewQuery()
    assert hiding.to_params(names) == {"decided": "hide"} and showing.to_params(names) == {}
    assert hiding.to_params(names, hide_decided_by_default=True) == {}
    assert showing.to_params(names, hide_decided_by_default=True) == {"decided": "show"}
    for query in (hiding, showing):
        for default in (False, True):
            params = query.to_params(names, hide_decided_by_default=default)
            assert ReviewQuery.from_params(params, names, hide_decided_by_default=default) == (query, [])
    assert ReviewQuery.from_params({"decided": "maybe"}, names, hide_decided_by_default=True) == (hiding, ["decided"])


def test_progress_counts_the_disagreements_reviewed_first(table):
    from losslens.review.binding import BoundDecisions
    from losslens.review.queue import review_progress

    applied = pd.DataFrame({"example_id": ["b", "c", "f"], "position": [1, 2, 5],
                            "status": ["relabeled", "confirmed", "ambiguous"]})
    done = review_progress(ReviewIndex(table), BoundDecisions(applied, pd.DataFrame()))
    # disagreements: b, e, f (predicted != label); flagged: b, e
    assert (done.n_disagree, done.disagree_reviewed, done.n_flagged, done.flagged_reviewed) == (3, 2, 2, 1)
    assert done.fraction == pytest.approx(2 / 3) and done.n_decisions == 3
