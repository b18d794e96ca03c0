"""Issue 22 item 11 (speed): the counts a shared queue keeps per item (losslens.store.queue_counts)
always equal the counts recomputed from the decisions in force (losslens.store.in_force), and a
hand-out that reads them is the one a plain reading of the history and the leases gives, through
a seeded interleaving of decisions, supersedes, group decisions, resets, undos (by reviewer, by
tab, by anyone), imports (new rows, rows without times, a stored row marked undone), lease
expiries, releases, a replaced plan and decisions in another dataset with the same ids; on SQLite
and PostgreSQL. And no writer of the history can leave the counts behind."""
from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from losslens.review.shared_queue import (LEASE_SECONDS, QueueProgress, SharedQueue, queue_examples, queue_progress,
                                          release, start_shared_queue, take_next)
from losslens.store.decisions import DecisionStore
from losslens.store.importing import ImportedDecision
from losslens.store.records import ExampleRef, LabelDecision, insert_decisions, utc_now
from losslens.store.schema import leases, queue_cursors, queue_items

DATASET, OTHER = "news.csv", "other.csv"
EXAMPLES = [f"e{k}" for k in range(8)]
REVIEWERS = ["ann", "bob", "cy", "dan"]
CORE = Path(__file__).resolve().parents[2] / "core" / "losslens"


def recomputed(store: DecisionStore) -> dict[str, set[str]]:
    """Per example, the reviewers with a decision in force (the store's one reading of the history)."""
    each = store.in_force(DATASET, per_reviewer=True)
    return {e: set(each.loc[each["example_id"] == e, "reviewer"]) for e in EXAMPLES}


def kept(store: DecisionStore, queue: SharedQueue) -> dict[str, tuple[int, bool]]:
    with store.connection() as db:
        rows = db.execute(sa.select(queue_items.c.example_id, queue_items.c.reviews, queue_items.c.complete)
                          .where(queue_items.c.plan_id == queue.plan_id)).all()
    return {example: (reviews, bool(complete)) for example, reviews, complete in rows}


def plain_hand_out(store: DecisionStore, queue: SharedQueue, reviewer: str, now: float,
                   prefer: str | None) -> str | None:
    """What take_next must answer, from the decisions in force and the leases, in Python."""
    deciders = recomputed(store)
    with store.connection() as db:
        live = db.execute(sa.select(leases).where(leases.c.dataset_key == DATASET, leases.c.expires_at > now)).all()
    held = next((lease.example_id for lease in live if lease.reviewer == reviewer), None)

    def open_to_them(example: str | None) -> bool:
        looking = sum(1 for lease in live if lease.example_id == example and lease.reviewer != reviewer
                      and lease.reviewer not in deciders[example])
        return (example in deciders and reviewer not in deciders[example]
                and len(deciders[example]) + looking < queue.reviewers_per_example)

    plan = queue_examples(store, queue)
    return next((e for e in (prefer, held, *plan) if e in plan and open_to_them(e)), None)


def assert_counts_agree(store: DecisionStore, queue: SharedQueue) -> None:
    """Items, progress and cursors as kept equal what the decisions in force give."""
    deciders, per_example, plan = recomputed(store), queue.reviewers_per_example, queue_examples(store, queue)
    seen = [len(deciders[e]) for e in plan]
    assert kept(store, queue) == {e: (len(deciders[e]), len(deciders[e]) >= per_example) for e in plan}
    assert queue_progress(store, queue) == QueueProgress(len(seen), sum(n >= per_example for n in seen),
                                                         sum(0 < n < per_example for n in seen),
                                                         sum(min(n, per_example) for n in seen))
    with store.connection() as db:
        cursors = db.execute(sa.select(queue_cursors.c.reviewer, queue_cursors.c.position)
                             .where(queue_cursors.c.plan_id == queue.plan_id)).all()
    for reviewer, position in cursors:   # before it, every item is complete or theirs
        assert all(len(deciders[e]) >= per_example or reviewer in deciders[e] for e in plan[:position]), reviewer


def _import(store: DecisionStore, rng: random.Random, who: str) -> None:
    """A few rows made elsewhere: timed, timed and undone, untimed; or a stored row marked undone."""
    history = store.history_frame(DATASET)
    standing = history[history["undone_at"].isna()]
    if rng.random() < 0.4 and not standing.empty:
        row = standing.iloc[rng.randrange(len(standing))]
        store.import_decisions([ImportedDecision(
            DATASET, ExampleRef(row.example_id, row.text_hash, row.original_label), row.new_label, row.status,
            row.reviewer, row.decided_at, row.note, undone_at="2030-01-01T00:00:00+00:00", undone_by="lead")])
        return
    rows = []
    for k in range(rng.randint(1, 4)):
        undone = "2030-01-01T00:00:00+00:00" if rng.random() < 0.3 else None
        decided = None if rng.random() < 0.3 else f"2024-01-01T00:00:{rng.randrange(60):02d}.{k:06d}+00:00"
        rows.append(ImportedDecision(DATASET, ExampleRef(rng.choice(EXAMPLES), None, "a"), None,
                                     rng.choice(["confirmed", "removed", "unreviewed"]), rng.choice([who, "zed"]),
                                     decided, undone_at=undone if decided else None, undone_by="x" if undone else None))
    store.import_decisions(rows)


@pytest.mark.parametrize("seed", [11, 12])
def test_kept_counts_equal_the_in_force_counts_through_any_interleaving(store_place, seed, monkeypatch):
    monkeypatch.setattr("losslens.store.importing.IMPORT_PAUSE_SECONDS", 0.0)
    rng = random.Random(seed)
    store = DecisionStore(store_place)
    queue = start_shared_queue(store, DATASET, "fp", rng.sample(EXAMPLES, 6), 2, "lead")
    now = 1000.0
    for step in range(90):
        kind, who, example = rng.random(), rng.choice(REVIEWERS), rng.choice(EXAMPLES)
        session = rng.choice(["tab1", "tab2"])
        if kind < 0.25:                       # a decision; the same reviewer again supersedes theirs
            status = rng.choice(["relabeled", "confirmed", "ambiguous", "removed"])
            store.record(DATASET, example, "a", "b" if status == "relabeled" else None, status, who,
                         text_hash=None, session=session)
        elif kind < 0.32:
            store.record_group(DATASET, [ExampleRef(e, None, "a") for e in rng.sample(EXAMPLES, 3)], None,
                               "removed", who, session=session)
        elif kind < 0.39:
            store.reset(DATASET, example, who)
        elif kind < 0.49:
            store.undo_last(DATASET, rng.choice([who, None]), rng.choice([session, None]))
        elif kind < 0.57:
            _import(store, rng, who)
        elif kind < 0.62:                     # the same ids in another dataset count for nothing here
            store.record(OTHER, example, "a", None, "confirmed", who, text_hash=None)
        elif kind < 0.67:
            now += LEASE_SECONDS + 1          # every lease lapses
        elif kind < 0.70:
            release(store, DATASET, who)
        elif kind < 0.72:
            queue = start_shared_queue(store, DATASET, "fp", rng.sample(EXAMPLES, 5), rng.choice([1, 2, 3]), "lead")
        else:
            now += rng.choice([1.0, 60.0])
            prefer = rng.choice([None, example])
            expected = plain_hand_out(store, queue, who, now, prefer)
            assert take_next(store, queue, who, now=now, prefer=prefer) == expected, step
        assert_counts_agree(store, queue)


def test_a_decision_made_while_another_is_in_flight_on_the_same_example_is_counted(store_place):
    """Bob decides while ann's transaction on the same example is still open: his write waits
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: the dataset's count lock, without which his count would
    be taken from a view without ann's decision) and both are counted."""
    store = DecisionStore(store_place)
    queue = start_shared_queue(store, DATASET, "fp", ["e0"], 2, "lead")
    bob = threading.Thread(target=lambda: DecisionStore(store_place).record(DATASET, "e0", "a", None, "confirmed",
                                                                            "bob", text_hash=None))
    with store.transaction() as db:
        insert_decisions(db, [LabelDecision(0, DATASET, "e0", "a", None, "confirmed", "ann", utc_now())])
        bob.start()
        time.sleep(1.0)                       # bob reaches his wait (were he later, he would see ann's anyway)
    bob.join()
    assert kept(store, queue) == {"e0": (2, True)}
    assert_counts_agree(store, queue)


def test_every_write_to_the_history_goes_through_the_recounting_writers():
    """Only losslens.store.records writes the decisions table (insert_decisions, mark_undone, which
    recount); migrations rewrite it before any plan exists (v3)."""
    write = re.compile(r"sa\.(insert|update|delete)\(decisions\b")
    writers = sorted(p.relative_to(CORE).as_posix() for p in CORE.rglob("*.py") if write.search(p.read_text()))
    assert writers == ["store/migrations.py", "store/records.py"]
