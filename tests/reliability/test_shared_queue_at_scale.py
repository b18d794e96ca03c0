"""Issue 22 item 11 (speed): a shared queue's hand-out and progress read indexes, not the history
of every item of the plan (before schema v7 a 100,000-item plan with 40,000 decisions took 1.2 s
per hand-out and 1.0 s for progress). Checked without a clock, on SQLite: the query plan of every
statement they run (EXPLAIN QUERY PLAN: no full scan, no sort of the plan; progress reads one row
of the plan), and the work SQLite does (virtual-machine steps), the same on a plan ten times
larger, also for a reviewer far ahead of the others; on PostgreSQL, with the statistics as a plan's
start leaves them, the history is read only by index lookups of one example (no anti-join that
compares every item with every decision of the reviewer). Figures: bench/shared_queue_scale.py."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from losslens.review.shared_queue import SharedQueue, queue_progress, release, start_shared_queue, take_next
from losslens.store.decisions import DecisionStore
from losslens.store.importing import ImportedDecision
from losslens.store.records import ExampleRef

DATASET = "news.csv"


def plan_with_decisions(place: Path | str, n_items: int) -> tuple[DecisionStore, SharedQueue]:
    """In a store at `place` (a folder: a SQLite file in it), a plan of n_items examples for two
    reviewers each, the first fifth complete (ann and bob), the next twentieth decided by ann
    alone: 45% as many decisions as items."""
    store = DecisionStore(place / f"{n_items}.sqlite" if isinstance(place, Path) else place)
    ids = [f"e{k:06d}" for k in range(n_items)]
    complete, ahead = n_items // 5, n_items // 20
    rows = [ImportedDecision(DATASET, ExampleRef(ids[k], None, "a"), None, "confirmed", reviewer,
                             f"2024-01-01T00:00:00.{k:06d}+00:00")
            for k in range(complete + ahead) for reviewer in (("ann", "bob") if k < complete else ("ann",))]
    store.import_decisions(rows)
    return store, start_shared_queue(store, DATASET, "fp", ids, 2, "lead")


def statements(store: DecisionStore, call: Callable[[], object]) -> list[tuple[str, tuple]]:
    """The SELECT statements (with their parameters) that call() sends to the database."""
    sent: list[tuple[str, tuple]] = []

    def grab(_connection, _cursor, statement, parameters, _context, _executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", grab)
    try:
        call()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", grab)
    return sent


def query_plan(store: DecisionStore, statement: str, parameters: tuple) -> list[str]:
    with store.connection() as db:
        return [row[3] for row in db.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]


def vm_steps(store: DecisionStore, call: Callable[[], object]) -> int:
    """SQLite virtual-machine instructions that call() runs (a count of work, not of time)."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.set_progress_handler(count, 1)

    sa.event.listen(store.engine, "connect", on_connect)
    try:
        call()
    finally:
        sa.event.remove(store.engine, "connect", on_connect)
    return steps[0]


def hand_outs(store: DecisionStore, queue: SharedQueue) -> list[Callable[[], object]]:
    """A search for a reviewer holding nothing, the same reviewer again (the held one), an example
    preferred after an undo, progress; and ann (ahead by a twentieth of the plan) once her first
    hand-out has moved her cursor past the examples she decided."""
    take_next(store, queue, "ann", now=0.0)
    return [lambda: (release(store, DATASET, "eve"), take_next(store, queue, "eve", now=1.0)),
            lambda: take_next(store, queue, "eve", now=2.0),
            lambda: take_next(store, queue, "cy", now=3.0, prefer="e000050"),
            lambda: queue_progress(store, queue),
            lambda: (release(store, DATASET, "ann"), take_next(store, queue, "ann", now=4.0))]


def test_hand_out_and_progress_use_indexes_and_never_sort_or_scan_the_plan(tmp_path):
    store, queue = plan_with_decisions(tmp_path, 2_000)
    for call in hand_outs(store, queue):
        for statement, parameters in statements(store, call):
            plan = query_plan(store, statement, parameters)
            assert not [step for step in plan if step.startswith("SCAN") or "TEMP B-TREE" in step], (statement, plan)
    (progress, parameters), = statements(store, lambda: queue_progress(store, queue))
    assert query_plan(store, progress, parameters) == ["SEARCH queue_plans USING INTEGER PRIMARY KEY (rowid=?)"]


def test_hand_out_and_progress_do_the_same_work_on_a_plan_ten_times_larger(tmp_path):
    small, large = plan_with_decisions(tmp_path, 500), plan_with_decisions(tmp_path, 5_000)
    for on_small, on_large in zip(hand_outs(*small), hand_outs(*large)):
        assert vm_steps(large[0], on_large) < 1.5 * vm_steps(small[0], on_small)


def decisions_read_beyond_one_example(plan: str) -> list[str]:
    """The nodes of a PostgreSQL plan (EXPLAIN's text) that read the decisions table other than by
    an index lookup of one example (dataset and example id, nothing ORed to them). An index scan
    states the lookup as its Index Cond; a bitmap heap scan (the planner's choice on some runs) as
    its Recheck Cond."""
    lines = plan.splitlines()

    def one_example(condition: str) -> bool:
        return (re.search(r"(Index|Recheck) Cond", condition) is not None and "dataset_key =" in condition
                and "example_id =" in condition and not re.search(r" OR |ANY \(", condition))
    return [line.strip() for k, line in enumerate(lines)
            if re.search(r"Scan.* on decisions ", line) and not one_example(lines[k + 1])]


def test_on_postgresql_a_hand_out_reads_the_history_by_index_lookups_only(postgres_server):
    from postgres_server import fresh_database

    store, queue = plan_with_decisions(fresh_database(postgres_server, "at_scale"), 2_000)
    for call in hand_outs(store, queue):
        for statement, parameters in statements(store, call):
            with store.connection() as db:
                plan = "\n".join(db.exec_driver_sql("EXPLAIN " + statement, parameters).scalars())
            assert decisions_read_beyond_one_example(plan) == [], plan
            assert not re.search(r"Seq Scan on queue_items|Sort", plan), plan


def test_the_plan_reader_accepts_lookups_of_one_example_and_flags_scans():
    lookups = """->  Bitmap Heap Scan on decisions decisions_1  (cost=4.30..9.89 rows=1 width=25)
      Recheck Cond: ((dataset_key = 'news.csv'::text) AND (example_id = queue_items.example_id))
      ->  Bitmap Index Scan on decisions_by_example  (cost=0.00..4.29 rows=2 width=0)
            Index Cond: ((dataset_key = 'news.csv'::text) AND (example_id = queue_items.example_id))
->  Index Scan using decisions_by_example on decisions decisions_2  (cost=0.28..8.31 rows=1 width=25)
      Index Cond: ((dataset_key = decisions_1.dataset_key) AND (example_id = decisions_1.example_id))"""
    assert decisions_read_beyond_one_example(lookups) == []
    scans = """->  Seq Scan on decisions decisions_1  (cost=0.00..40.00 rows=1 width=25)
      Filter: ((undone_at IS NULL) AND (reviewer = 'eve'::text))
->  Bitmap Heap Scan on decisions decisions_3  (cost=4.30..9.89 rows=1 width=25)
      Recheck Cond: (dataset_key = 'news.csv'::text)
->  Bitmap Heap Scan on decisions decisions_5  (cost=4.30..9.89 rows=1 width=25)
      Recheck Cond: (((dataset_key = 'news.csv'::text) AND (example_id = queue_items.example_id)) OR (reviewer = 'eve'::text))
->  Index Scan using decisions_by_example on decisions decisions_6  (cost=0.28..8.31 rows=1 width=25)
      Index Cond: ((dataset_key = 'news.csv'::text) AND (example_id = ANY ('{a,b}'::text[])))"""
    assert [line.split("  (")[0] for line in decisions_read_beyond_one_example(scans)] == [
        "->  Seq Scan on decisions decisions_1", "->  Bitmap Heap Scan on decisions decisions_3",
        "->  Bitmap Heap Scan on decisions decisions_5",
        "->  Index Scan using decisions_by_example on decisions decisions_6"]
