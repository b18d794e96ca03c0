"""Shared queues on SQLite and on PostgreSQL: each example of a lead's plan reaches R reviewers,
leases keep two people off one example, undo puts an example back, and concurrent reviewers
never push an example past R."""
from __future__ import annotations

import threading

import pytest

from losslens.errors import StoreError
from losslens.review.shared_queue import (QueueProgress, queue_examples, queue_progress, release, shared_queue,
                                          start_shared_queue, stop_shared_queue, take_next)
from losslens.store.decisions import DecisionStore

DATASET = "news.csv"


def decide(store: DecisionStore, example_id: str, reviewer: str, label: str = "b") -> None:
    store.record(DATASET, example_id, "a", label, "relabeled", reviewer, text_hash=None)


def test_each_example_reaches_r_reviewers_and_leases_keep_people_apart(store_place):
    store = DecisionStore(store_place)
    queue = start_shared_queue(store, DATASET, "fp", ["e1", "e2", "e3", "e1"], 2, "lead")
    assert shared_queue(store, DATASET) == queue and queue_examples(store, queue) == ("e1", "e2", "e3")
    t = 1000.0
    assert take_next(store, queue, "ann", now=t) == "e1"
    assert take_next(store, queue, "ann", now=t + 1) == "e1"          # the lease follows ann
    assert take_next(store, queue, "bob", now=t) == "e1"              # e1 needs two looks
    assert take_next(store, queue, "cat", now=t) == "e2"              # e1 has two people on it
    decide(store, "e1", "ann")
    assert take_next(store, queue, "ann", now=t + 2) == "e2"          # cat on e2, one more look allowed
    assert [take_next(store, queue, name, now=t + 2) for name in ("dan", "eve", "fay")] == ["e3", "e3", None]
    assert take_next(store, queue, "fay", now=t + 400) == "e1"        # every lease lapsed; e1 has ann's only
    decide(store, "e1", "bob")
    decide(store, "e2", "cat")
    assert queue_progress(store, queue) == QueueProgress(3, 1, 1, 3)  # e1 complete, e2 started
    assert take_next(store, queue, "fay", now=t + 401) == "e2"        # e1 complete: fay moves on
    store.undo_last(DATASET, reviewer="bob")                          # an undo puts e1 back in play
    assert take_next(store, queue, "gus", now=t + 401) == "e1"
    release(store, DATASET, "gus")
    assert take_next(store, queue, "hal", now=t + 401) == "e1"
    assert [take_next(store, queue, name, now=t + 401) for name in ("ann", "bob", "cat")] == ["e3", "e3", None]


def test_a_reset_puts_the_example_back_and_a_closed_plan_hands_out_nothing(store_place):
    store = DecisionStore(store_place)
    queue = start_shared_queue(store, DATASET, "fp", ["e1", "e2"], 2, "lead")
    decide(store, "e1", "ann")
    decide(store, "e1", "bob", label="c")
    assert queue_progress(store, queue) == QueueProgress(2, 1, 0, 2)
    assert take_next(store, queue, "ann", now=0) == "e2"
    store.reset(DATASET, "e1", "ann")                                  # ann's row stays in history, not in force
    assert store.in_force(DATASET, per_reviewer=True)["reviewer"].tolist() == ["bob"]
    assert queue_progress(store, queue) == QueueProgress(2, 0, 1, 1)
    assert take_next(store, queue, "ann", now=1) == "e2"               # her lease first,
    release(store, DATASET, "ann")
    assert take_next(store, queue, "ann", now=2) == "e1"               # then e1 is hers again
    assert shared_queue(store, DATASET).data_fingerprint == "fp"
    decide(store, "e1", "ann")
    assert take_next(store, queue, "ann", now=3) == "e2"
    store.undo_last(DATASET, reviewer="ann")                           # an undo: she is handed e1 back
    assert take_next(store, queue, "ann", now=4, prefer="e1") == "e1"
    assert take_next(store, queue, "ann", now=5) == "e1"               # and holds it
    assert take_next(store, queue, "bob", now=5, prefer="e1") == "e2"  # bob decided e1: not his to take
    stop_shared_queue(store, DATASET)
    assert take_next(store, queue, "cat", now=6) is None               # a plan closed meanwhile


def test_a_new_plan_replaces_the_old_and_stop_closes_it(store_place):
    store = DecisionStore(store_place)
    first = start_shared_queue(store, DATASET, "fp", ["e1"], 1, "lead")
    take_next(store, first, "ann", now=0)
    second = start_shared_queue(store, DATASET, "fp", ["e9", "e8"], 1, "lead")
    assert shared_queue(store, DATASET) == second and second.plan_id != first.plan_id
    assert take_next(store, second, "bob", now=1) == "e9"             # ann's old lease went with the old plan
    assert shared_queue(store, "other.csv") is None
    stop_shared_queue(store, DATASET)
    assert shared_queue(store, DATASET) is None
    for ids, per_example, message in [([], 2, "at least one example"), (["e1"], 0, "1 to 20"),
                                      (["e1"], 21, "1 to 20")]:
        with pytest.raises(StoreError, match=message):
            start_shared_queue(store, DATASET, "fp", ids, per_example, "lead")


def test_concurrent_reviewers_never_push_an_example_past_r(store_place):
    store = DecisionStore(store_place)
    ids = [f"e{k}" for k in range(12)]
    queue = start_shared_queue(store, DATASET, "fp", ids, 2, "lead")
    handed: dict[str, list[str]] = {}

    def work(reviewer: str) -> None:
        mine = DecisionStore(store_place)   # each reviewer its own connections, as each server session
        while (example_id := take_next(mine, queue, reviewer)) is not None:
            handed.setdefault(reviewer, []).append(example_id)
            decide(mine, example_id, reviewer)

    threads = [threading.Thread(target=work, args=(f"r{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    each = store.in_force(DATASET, per_reviewer=True)
    per_example = each.groupby("example_id")["reviewer"].nunique()
    assert sorted(per_example.index) == sorted(ids) and set(per_example) == {2}
    assert sum(len(v) for v in handed.values()) == 24 and all(len(set(v)) == len(v) for v in handed.values())
    assert queue_progress(store, queue) == QueueProgress(12, 12, 0, 24)
