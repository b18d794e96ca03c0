"""Shared queues: a lead asks for each of a dataset's top-N examples to be seen by R reviewers.

Each reviewer is handed, one at a time, the first example of the plan that they have not decided
and that fewer than R reviewers have decided or are looking at; looking means holding a short
lease (LEASE_SECONDS), so two people are not given the same example at once when one more look is
all it needs. A lease is taken again on every request (it follows the reviewer) and lapses by
itself when a reviewer leaves. "Decided" means a decision in force (not undone) other than
unreviewed (losslens.store.in_force, as the store reads it), so an undo or a reset puts the
example back in play. A plan belongs to the dataset's content (its fingerprint): a reviewer who
loaded another version of the file is told so instead of being handed ids it does not have. The
tables live in the decision store's database (losslens.store.schema: queue_plans, queue_items,
leases, queue_cursors); each hand-out is one write transaction, serialised per dataset (SQLite:
BEGIN IMMEDIATE; PostgreSQL: the dataset's count lock, losslens.store.queue_counts.lock_counts).

Speed: neither a hand-out nor the progress reads the history of every item. Every write to the
history keeps, per item, how many reviewers have a decision in force on its example and whether
that completes it, and per plan its progress (losslens.store.queue_counts). A hand-out walks the
plan's open items in order by an index (queue_items_open) from the reviewer's cursor, before which
every item is complete or theirs, and stops at the first one open to them; progress is one row.
At 100,000 items and 40,000 decisions each takes milliseconds (bench/shared_queue_scale.py).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from losslens.errors import StoreError
from losslens.store.decisions import DecisionStore
from losslens.store.queue_counts import decided_by, lock_counts, recount
from losslens.store.schema import leases, queue_cursors, queue_items, queue_plans

LEASE_SECONDS = 300.0
MAX_REVIEWERS_PER_EXAMPLE = 20
PLAN_START_LOCK = 7151   # PostgreSQL advisory lock: two leads starting at once leave one plan open


@dataclass(frozen=True)
class SharedQueue:
    """A lead's plan of n_examples examples in review order (`queue_examples`), each to be decided
    by reviewers_per_example reviewers."""

    plan_id: int
    dataset_key: str
    n_examples: int
    reviewers_per_example: int
    created_by: str
    created_at: str
    data_fingerprint: str


@dataclass(frozen=True)
class QueueProgress:
    """How far a shared queue is: examples with >= R reviewers' decisions (complete), with some
    but fewer (started), and how many decisions in all count towards it."""

    n_examples: int
    complete: int
    started: int
    decisions: int


def start_shared_queue(store: DecisionStore, dataset_key: str, data_fingerprint: str, example_ids: Sequence[str],
                       reviewers_per_example: int, lead: str) -> SharedQueue:
    """Replace the dataset's shared queue (if any) by these examples of the dataset with this
    content fingerprint (losslens.sources.datasets.LabeledTexts.fingerprint), in this order."""
    ids = list(dict.fromkeys(str(i) for i in example_ids))
    if not ids:
        raise StoreError("a shared queue needs at least one example")
    if not 1 <= int(reviewers_per_example) <= MAX_REVIEWERS_PER_EXAMPLE:
        raise StoreError(f"reviewers per example must be 1 to {MAX_REVIEWERS_PER_EXAMPLE}, got {reviewers_per_example}")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with store.transaction() as db:
        if db.dialect.name != "sqlite":
            db.execute(sa.select(sa.func.pg_advisory_xact_lock(PLAN_START_LOCK)))
        lock_counts(db, dataset_key)
        _close(db, dataset_key, created)
        plan_id = db.execute(sa.insert(queue_plans).values(
            dataset_key=dataset_key, reviewers_per_example=int(reviewers_per_example), created_by=lead,
            created_at=created, data_fingerprint=data_fingerprint, n_examples=len(ids))
            .returning(queue_plans.c.id)).scalar_one()
        db.execute(sa.insert(queue_items), [{"plan_id": plan_id, "position": k, "example_id": example_id}
                                            for k, example_id in enumerate(ids)])
        recount(db, dataset_key)
    return SharedQueue(plan_id, dataset_key, len(ids), int(reviewers_per_example), lead, created, data_fingerprint)


def stop_shared_queue(store: DecisionStore, dataset_key: str) -> None:
    """Close the dataset's shared queue; its decisions stay."""
    with store.transaction() as db:
        _close(db, dataset_key, datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _close(db: sa.Connection, dataset_key: str, when: str) -> None:
    """Close the dataset's open plans; their leases and cursors go."""
    plans = sa.select(queue_plans.c.id).where(queue_plans.c.dataset_key == dataset_key, queue_plans.c.closed_at.is_(None))
    db.execute(sa.delete(queue_cursors).where(queue_cursors.c.plan_id.in_(plans)))
    db.execute(sa.update(queue_plans).where(queue_plans.c.id.in_(plans)).values(closed_at=when))
    db.execute(sa.delete(leases).where(leases.c.dataset_key == dataset_key))


def shared_queue(store: DecisionStore, dataset_key: str) -> SharedQueue | None:
    """The dataset's open shared queue, or None."""
    with store.connection() as db:
        plan = db.execute(sa.select(queue_plans).where(queue_plans.c.dataset_key == dataset_key,
                                                       queue_plans.c.closed_at.is_(None))
                          .order_by(queue_plans.c.id.desc()).limit(1)).first()
    if plan is None:
        return None
    return SharedQueue(plan.id, dataset_key, plan.n_examples, plan.reviewers_per_example, plan.created_by,
                       plan.created_at, plan.data_fingerprint)


def queue_examples(store: DecisionStore, queue: SharedQueue) -> tuple[str, ...]:
    """The plan's example ids in review order."""
    with store.connection() as db:
        return tuple(db.execute(sa.select(queue_items.c.example_id).where(queue_items.c.plan_id == queue.plan_id)
                                .order_by(queue_items.c.position)).scalars())


def take_next(store: DecisionStore, queue: SharedQueue, reviewer: str, now: float | None = None,
              lease_seconds: float = LEASE_SECONDS, prefer: str | None = None) -> str | None:
    """The example id this reviewer should look at next — `prefer` if it is still open to them
    (an example they just undid), else the one they hold while its lease lasts, else the first
    open one — leased to them for lease_seconds; None when nothing is left for them or the plan
    has been closed. now: epoch seconds (default: the clock)."""
    now = time.time() if now is None else now
    mine = sa.and_(leases.c.dataset_key == queue.dataset_key, leases.c.reviewer == reviewer)
    with store.transaction() as db:
        lock_counts(db, queue.dataset_key)   # one at a time per dataset, with its writes (SQLite: BEGIN IMMEDIATE)
        plan_open = db.execute(sa.select(queue_plans.c.closed_at.is_(None))
                               .where(queue_plans.c.id == queue.plan_id)).scalar()
        example_id = _next_example(db, queue, reviewer, now, prefer) if plan_open else None
        db.execute(sa.delete(leases).where(mine))
        if example_id is not None:
            db.execute(sa.insert(leases).values(dataset_key=queue.dataset_key, reviewer=reviewer, example_id=example_id,
                                                expires_at=now + lease_seconds))
    return example_id


def holds_lease(store: DecisionStore, queue: SharedQueue, reviewer: str, example_id: str,
                now: float | None = None) -> bool:
    """True while `reviewer`'s lease on `example_id` holds (now: epoch seconds, default the
    clock). The rule for a queue decision: it is recorded only while this holds; once a lease has
    lapsed the example may already be another reviewer's, so the page says so and hands out the
    next one instead (with R = 1, one example never gets two reviews through the queue)."""
    now = time.time() if now is None else now
    with store.connection() as db:
        return db.execute(sa.select(sa.func.count()).where(
            leases.c.dataset_key == queue.dataset_key, leases.c.reviewer == reviewer,
            leases.c.example_id == str(example_id), leases.c.expires_at > now)).scalar() > 0


def release(store: DecisionStore, dataset_key: str, reviewer: str) -> None:
    """Give up this reviewer's lease (they left the shared queue)."""
    with store.transaction() as db:
        db.execute(sa.delete(leases).where(leases.c.dataset_key == dataset_key, leases.c.reviewer == reviewer))


def queue_progress(store: DecisionStore, queue: SharedQueue) -> QueueProgress:
    """Reviewers with a decision in force per example of the queue, as the plan keeps them (one row)."""
    with store.connection() as db:
        plan = db.execute(sa.select(queue_plans).where(queue_plans.c.id == queue.plan_id)).one()
    return QueueProgress(plan.n_examples, plan.n_complete, plan.n_started, plan.n_reviews)


def _next_example(db: sa.Connection, queue: SharedQueue, reviewer: str, now: float, prefer: str | None) -> str | None:
    """The example of `queue` to hand `reviewer` next: `prefer` if it is open to them, else the
    one they hold a live lease on if it still is, else the first open to them in plan order."""
    held = sa.select(leases.c.example_id).where(leases.c.dataset_key == queue.dataset_key,
                                                leases.c.reviewer == reviewer, leases.c.expires_at > now)
    for lookup in ([prefer] if prefer is not None else []) + [held.scalar_subquery()]:   # queue_items_by_example
        found = db.execute(_open_to(queue, reviewer, now).where(queue_items.c.example_id == lookup)).scalar()
        if found is not None:
            return found
    start = _move_cursor(db, queue, reviewer)
    return db.execute(_open_to(queue, reviewer, now).where(queue_items.c.position >= start)   # queue_items_open
                      .order_by(queue_items.c.position).limit(1)).scalar()


def _move_cursor(db: sa.Connection, queue: SharedQueue, reviewer: str) -> int:
    """Move `reviewer`'s cursor on to the first item at or after it that is neither complete nor
    theirs (n_examples: none); return it. Only the items they decided since it last moved are
    walked; a recount that reopens an earlier item has moved it back (losslens.store.queue_counts)."""
    theirs = sa.and_(queue_cursors.c.plan_id == queue.plan_id, queue_cursors.c.reviewer == reviewer)
    cursor = db.execute(sa.select(queue_cursors.c.position).where(theirs)).scalar() or 0
    first = db.execute(sa.select(queue_items.c.position).where(
        queue_items.c.plan_id == queue.plan_id, queue_items.c.complete == sa.false(),
        queue_items.c.position >= cursor, ~decided_by(queue.dataset_key, queue_items.c.example_id, reviewer))
        .order_by(queue_items.c.position).limit(1)).scalar()
    moved = queue.n_examples if first is None else first
    if moved != cursor:
        db.execute(sa.delete(queue_cursors).where(theirs))
        db.execute(sa.insert(queue_cursors).values(plan_id=queue.plan_id, reviewer=reviewer, position=moved))
    return moved


def _open_to(queue: SharedQueue, reviewer: str, now: float) -> sa.Select:
    """SQL: the items of `queue` open to `reviewer`: not complete, not decided by them, and seen by
    fewer than R reviewers counting those who hold a live lease on it and have not decided it."""
    dataset = queue.dataset_key
    others = leases.alias()
    looking = (sa.select(sa.func.count()).where(
        others.c.dataset_key == dataset, others.c.example_id == queue_items.c.example_id,
        others.c.reviewer != reviewer, others.c.expires_at > now,
        ~decided_by(dataset, others.c.example_id, others.c.reviewer)).scalar_subquery())
    return (sa.select(queue_items.c.example_id)
            .where(queue_items.c.plan_id == queue.plan_id, queue_items.c.complete == sa.false(),
                   ~decided_by(dataset, queue_items.c.example_id, reviewer),
                   queue_items.c.reviews + looking < queue.reviewers_per_example))
