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
leases); each hand-out is one write transaction, serialised per dataset (SQLite: BEGIN IMMEDIATE;
PostgreSQL: a row lock on the plan).

Speed: each item keeps how many reviewers have a decision in force on its example and whether that
completes it (losslens.store.queue_counts, kept by every write to the history), so a hand-out walks
the plan's open items in order by an index (queue_items_open), stopping at the first one open to the
reviewer, and progress counts items by another (queue_items_by_reviews); neither reads every item's
history. At 100,000 items and 40,000 decisions both take milliseconds (bench/shared_queue_scale.py).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from losslens.errors import StoreError
from losslens.store.decisions import DecisionStore
from losslens.store.in_force import is_decision_in_force
from losslens.store.queue_counts import lock_counts, recount
from losslens.store.schema import decisions, leases, queue_items, queue_plans

LEASE_SECONDS = 300.0
MAX_REVIEWERS_PER_EXAMPLE = 20
PLAN_START_LOCK = 7151   # PostgreSQL advisory lock: two leads starting at once leave one plan open


@dataclass(frozen=True)
class SharedQueue:
    """A lead's plan of examples in review order (`queue_examples`), each to be decided by
    reviewers_per_example reviewers."""

    plan_id: int
    dataset_key: str
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
            created_at=created, data_fingerprint=data_fingerprint).returning(queue_plans.c.id)).scalar_one()
        db.execute(sa.insert(queue_items), [{"plan_id": plan_id, "position": k, "example_id": example_id}
                                            for k, example_id in enumerate(ids)])
        recount(db, dataset_key)
    return SharedQueue(plan_id, dataset_key, int(reviewers_per_example), lead, created, data_fingerprint)


def stop_shared_queue(store: DecisionStore, dataset_key: str) -> None:
    """Close the dataset's shared queue; its decisions stay."""
    with store.transaction() as db:
        _close(db, dataset_key, datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _close(db: sa.Connection, dataset_key: str, when: str) -> None:
    db.execute(sa.update(queue_plans).where(queue_plans.c.dataset_key == dataset_key, queue_plans.c.closed_at.is_(None))
               .values(closed_at=when))
    db.execute(sa.delete(leases).where(leases.c.dataset_key == dataset_key))


def shared_queue(store: DecisionStore, dataset_key: str) -> SharedQueue | None:
    """The dataset's open shared queue, or None."""
    with store.connection() as db:
        plan = db.execute(sa.select(queue_plans).where(queue_plans.c.dataset_key == dataset_key,
                                                       queue_plans.c.closed_at.is_(None))
                          .order_by(queue_plans.c.id.desc()).limit(1)).first()
    if plan is None:
        return None
    return SharedQueue(plan.id, dataset_key, plan.reviewers_per_example, plan.created_by, plan.created_at,
                       plan.data_fingerprint)


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
        is_open = sa.select(queue_plans.c.closed_at.is_(None)).where(queue_plans.c.id == queue.plan_id)
        if db.dialect.name != "sqlite":   # one hand-out at a time per plan (SQLite: BEGIN IMMEDIATE serialises)
            is_open = is_open.with_for_update()
        plan_open = db.execute(is_open).scalar()
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
    """Reviewers with a decision in force per example of the queue, counted from the items' kept
    counts (one pass over the queue_items_by_reviews index, grouped by count)."""
    with store.connection() as db:
        by_count = db.execute(sa.select(queue_items.c.reviews, sa.func.count())
                              .where(queue_items.c.plan_id == queue.plan_id)
                              .group_by(queue_items.c.reviews)).all()
    per_example = queue.reviewers_per_example
    return QueueProgress(n_examples=sum(n for _, n in by_count),
                         complete=sum(n for seen, n in by_count if seen >= per_example),
                         started=sum(n for seen, n in by_count if 0 < seen < per_example),
                         decisions=sum(min(seen, per_example) * n for seen, n in by_count))


def _decided_by(dataset_key: str, example_id: sa.ColumnElement[str],
                reviewer: str | sa.ColumnElement[str]) -> sa.Exists:
    """SQL: `reviewer` has a decision in force on `example_id` (a reset or an undo takes it back).
    Columns given must belong to the immediately enclosing query (SQLAlchemy correlates one level)."""
    theirs = decisions.alias()
    return sa.exists().where(theirs.c.dataset_key == dataset_key, theirs.c.example_id == example_id,
                             theirs.c.reviewer == reviewer, is_decision_in_force(theirs, per_reviewer=True))


def _next_example(db: sa.Connection, queue: SharedQueue, reviewer: str, now: float, prefer: str | None) -> str | None:
    """The example of `queue` to hand `reviewer` next: `prefer` if it is open to them, else the
    one they hold a live lease on if it still is, else the first open to them in plan order."""
    dataset = queue.dataset_key
    held = sa.select(leases.c.example_id).where(leases.c.dataset_key == dataset, leases.c.reviewer == reviewer,
                                                leases.c.expires_at > now).scalar_subquery()
    lookups = [queue_items.c.example_id == prefer] if prefer is not None else []
    lookups.append(queue_items.c.example_id == held)
    queries = [_open_to(queue, reviewer, now).where(lookup) for lookup in lookups]   # queue_items_by_example
    queries.append(_open_to(queue, reviewer, now).order_by(queue_items.c.position).limit(1))   # queue_items_open
    for query in queries:
        if (found := db.execute(query).scalar()) is not None:
            return found
    return None


def _open_to(queue: SharedQueue, reviewer: str, now: float) -> sa.Select:
    """SQL: the items of `queue` open to `reviewer`: not complete, not decided by them, and seen by
    fewer than R reviewers counting those who hold a live lease on it and have not decided it."""
    dataset = queue.dataset_key
    others = leases.alias()
    looking = (sa.select(sa.func.count()).where(
        others.c.dataset_key == dataset, others.c.example_id == queue_items.c.example_id,
        others.c.reviewer != reviewer, others.c.expires_at > now,
        ~_decided_by(dataset, others.c.example_id, others.c.reviewer)).scalar_subquery())
    return (sa.select(queue_items.c.example_id)
            .where(queue_items.c.plan_id == queue.plan_id, queue_items.c.complete == sa.false(),
                   ~_decided_by(dataset, queue_items.c.example_id, reviewer),
                   queue_items.c.reviews + looking < queue.reviewers_per_example))
