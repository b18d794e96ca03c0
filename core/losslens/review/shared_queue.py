"""Shared queues: a lead asks for each of a dataset's top-N examples to be seen by R reviewers.

Each reviewer is handed, one at a time, the first example of the plan that they have not decided
and that fewer than R reviewers have decided or are looking at; looking means holding a short
lease (LEASE_SECONDS), so two people are not given the same example at once when one more look is
all it needs. A lease is taken again on every request (it follows the reviewer) and lapses by
itself when a reviewer leaves. "Decided" means a decision in force (not undone) other than
unreviewed (each reviewer's latest decision not undone), so an undo or a reset puts the example
back in play. A plan belongs to the dataset's content (its fingerprint): a reviewer who loaded
another version of the file is told so instead of being handed ids it does not have. The tables live in the decision store's
database (store migration v5); each hand-out is one write transaction, serialised per dataset
(SQLite: BEGIN IMMEDIATE; PostgreSQL: a row lock on the plan).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from losslens.errors import StoreError
from losslens.store.decisions import IN_FORCE_FOR_ITS_REVIEWER, DecisionStore

LEASE_SECONDS = 300.0
MAX_REVIEWERS_PER_EXAMPLE = 20

_DECIDED_BY = f"""EXISTS (SELECT 1 FROM decisions d WHERE d.dataset_key = :dataset AND d.example_id = {{example}}
                 AND d.reviewer = {{reviewer}} AND d.status != 'unreviewed' AND {IN_FORCE_FOR_ITS_REVIEWER})"""
_SEEN = f"""(SELECT COUNT(*) FROM decisions d WHERE d.dataset_key = :dataset AND d.example_id = qi.example_id
            AND d.status != 'unreviewed' AND {IN_FORCE_FOR_ITS_REVIEWER})"""
_LOOKING = f"""(SELECT COUNT(*) FROM leases l WHERE l.dataset_key = :dataset AND l.example_id = qi.example_id
               AND l.reviewer != :me AND l.expires_at > :now
               AND NOT {_DECIDED_BY.format(example="qi.example_id", reviewer="l.reviewer")})"""
_NEXT = f"""SELECT qi.example_id FROM queue_items qi
    WHERE qi.plan_id = :plan AND NOT {_DECIDED_BY.format(example="qi.example_id", reviewer=":me")}
      AND {_SEEN} + {_LOOKING} < :per_example
    ORDER BY CASE WHEN qi.example_id = :prefer THEN 0 ELSE 1 END,
             CASE WHEN EXISTS (SELECT 1 FROM leases l WHERE l.dataset_key = :dataset AND l.reviewer = :me
                               AND l.example_id = qi.example_id AND l.expires_at > :now) THEN 0 ELSE 1 END,
             qi.position
    LIMIT 1"""


@dataclass(frozen=True)
class SharedQueue:
    """A lead's plan: example ids in review order, each to be decided by reviewers_per_example
    reviewers."""

    plan_id: int
    dataset_key: str
    example_ids: tuple[str, ...]
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
        if db.dialect.name != "sqlite":   # two leads starting at once: one plan stays open
            db.execute(sa.text("SELECT pg_advisory_xact_lock(7151)"))
        _close(db, dataset_key, created)
        plan_id = db.execute(sa.text(
            "INSERT INTO queue_plans (dataset_key, reviewers_per_example, created_by, created_at, data_fingerprint) "
            "VALUES (:dataset, :per_example, :lead, :created, :fingerprint) RETURNING id"),
            {"dataset": dataset_key, "per_example": int(reviewers_per_example), "lead": lead,
             "created": created, "fingerprint": data_fingerprint}).scalar_one()
        db.execute(sa.text("INSERT INTO queue_items (plan_id, position, example_id) VALUES (:plan, :position, :id)"),
                   [{"plan": plan_id, "position": k, "id": example_id} for k, example_id in enumerate(ids)])
    return SharedQueue(plan_id, dataset_key, tuple(ids), int(reviewers_per_example), lead, created, data_fingerprint)


def stop_shared_queue(store: DecisionStore, dataset_key: str) -> None:
    """Close the dataset's shared queue; its decisions stay."""
    with store.transaction() as db:
        _close(db, dataset_key, datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _close(db: sa.Connection, dataset_key: str, when: str) -> None:
    db.execute(sa.text("UPDATE queue_plans SET closed_at = :when WHERE dataset_key = :dataset AND closed_at IS NULL"),
               {"when": when, "dataset": dataset_key})
    db.execute(sa.text("DELETE FROM leases WHERE dataset_key = :dataset"), {"dataset": dataset_key})


def shared_queue(store: DecisionStore, dataset_key: str) -> SharedQueue | None:
    """The dataset's open shared queue, or None."""
    with store.connection() as db:
        plan = db.execute(sa.text(
            "SELECT id, reviewers_per_example, created_by, created_at, data_fingerprint FROM queue_plans "
            "WHERE dataset_key = :dataset AND closed_at IS NULL ORDER BY id DESC LIMIT 1"),
            {"dataset": dataset_key}).first()
        if plan is None:
            return None
        ids = db.execute(sa.text("SELECT example_id FROM queue_items WHERE plan_id = :plan ORDER BY position"),
                         {"plan": plan.id}).scalars().all()
    return SharedQueue(plan.id, dataset_key, tuple(ids), plan.reviewers_per_example, plan.created_by, plan.created_at,
                       plan.data_fingerprint)


def take_next(store: DecisionStore, queue: SharedQueue, reviewer: str, now: float | None = None,
              lease_seconds: float = LEASE_SECONDS, prefer: str | None = None) -> str | None:
    """The example id this reviewer should look at next — `prefer` if it is still open to them
    (an example they just undid), else the one they hold while its lease lasts, else the first
    open one — leased to them for lease_seconds; None when nothing is left for them or the plan
    has been closed. now: epoch seconds (default: the clock)."""
    now = time.time() if now is None else now
    values = {"dataset": queue.dataset_key, "plan": queue.plan_id, "me": reviewer, "now": now,
              "per_example": queue.reviewers_per_example, "prefer": prefer}
    with store.transaction() as db:
        lock = " FOR UPDATE" if db.dialect.name != "sqlite" else ""   # one hand-out at a time per plan
        is_open = db.execute(sa.text(f"SELECT closed_at IS NULL FROM queue_plans WHERE id = :plan{lock}"),
                             values).scalar()           # (SQLite: BEGIN IMMEDIATE serialises already)
        example_id = db.execute(sa.text(_NEXT), values).scalar() if is_open else None
        db.execute(sa.text("DELETE FROM leases WHERE dataset_key = :dataset AND reviewer = :me"), values)
        if example_id is not None:
            db.execute(sa.text("INSERT INTO leases (dataset_key, reviewer, example_id, expires_at) "
                               "VALUES (:dataset, :me, :example, :expires)"),
                       {**values, "example": example_id, "expires": now + lease_seconds})
    return example_id


def release(store: DecisionStore, dataset_key: str, reviewer: str) -> None:
    """Give up this reviewer's lease (they left the shared queue)."""
    with store.transaction() as db:
        db.execute(sa.text("DELETE FROM leases WHERE dataset_key = :dataset AND reviewer = :me"),
                   {"dataset": dataset_key, "me": reviewer})


def queue_progress(store: DecisionStore, queue: SharedQueue) -> QueueProgress:
    """Decisions in force per example of the queue, by distinct reviewers."""
    with store.connection() as db:
        seen = db.execute(sa.text(
            f"SELECT {_SEEN} FROM queue_items qi WHERE qi.plan_id = :plan"),
            {"dataset": queue.dataset_key, "plan": queue.plan_id}).scalars().all()
    per_example = queue.reviewers_per_example
    return QueueProgress(n_examples=len(seen), complete=sum(n >= per_example for n in seen),
                         started=sum(0 < n < per_example for n in seen), decisions=sum(min(n, per_example) for n in seen))
