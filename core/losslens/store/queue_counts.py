"""The counts a shared queue reads, kept with the history: per item of an open plan, how many
reviewers have a decision in force on its example (queue_items.reviews) and whether that is as many
as the plan asks (queue_items.complete).

A count is losslens.store.in_force's per-reviewer reading of the history, evaluated in SQL when the
history changes, so the maintained value is that definition's and never a second one. Every write
to the decisions table recounts the examples it touched, in its own transaction
(losslens.store.records); a plan is counted whole when it starts and when a store migrates to
schema v7. A hand-out then walks the open items in plan order by an index and progress counts the
items by another, without reading the history (losslens.review.shared_queue). Items of closed plans
are not kept up to date.

Concurrency: SQLite serialises writers (BEGIN IMMEDIATE). On PostgreSQL each recount first takes a
transaction-level advisory lock on the dataset (`lock_counts`, also taken by a plan's start), then
counts in a new statement, which therefore sees every decision committed before it: two reviewers
deciding one example at once are both counted.
"""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from losslens.store.in_force import is_decision_in_force
from losslens.store.schema import decisions, queue_items, queue_plans

COUNTS_LOCK = 7152     # PostgreSQL advisory lock class: one recount or plan start per dataset at a time
RECOUNT_CHUNK = 500    # example ids per UPDATE (SQLite caps the parameters of one statement)


def reviews_in_force(dataset_key: str | sa.BindParameter[str], example_id: sa.ColumnElement[str]) -> sa.ScalarSelect:
    """SQL: how many reviewers have a decision in force (losslens.store.in_force, per reviewer,
    resets left out) on `example_id` of the dataset; a column of the enclosing statement."""
    seen = decisions.alias()
    return (sa.select(sa.func.count()).where(seen.c.dataset_key == dataset_key, seen.c.example_id == example_id,
                                             is_decision_in_force(seen, per_reviewer=True))
            .scalar_subquery())


def _recount_statement(items: sa.ColumnElement[bool]) -> sa.Update:
    """UPDATE of the `items` of the open plans of the dataset bound as :dataset_key (built once:
    each recount only binds its parameters)."""
    dataset_key = sa.bindparam("dataset_key", type_=sa.Text)
    open_plans = sa.select(queue_plans.c.id).where(queue_plans.c.dataset_key == dataset_key,
                                                   queue_plans.c.closed_at.is_(None))
    wanted = (sa.select(queue_plans.c.reviewers_per_example).where(queue_plans.c.id == queue_items.c.plan_id)
              .scalar_subquery())
    reviews = reviews_in_force(dataset_key, queue_items.c.example_id)
    return (sa.update(queue_items).where(queue_items.c.plan_id.in_(open_plans), items)
            .values(reviews=reviews, complete=reviews >= wanted))


_RECOUNT_EXAMPLES = _recount_statement(queue_items.c.example_id.in_(sa.bindparam("example_ids", expanding=True)))
_RECOUNT_DATASET = _recount_statement(queue_items.c.example_id.in_(
    sa.select(decisions.c.example_id).where(decisions.c.dataset_key == sa.bindparam("dataset_key"))))
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(COUNTS_LOCK, sa.func.hashtext(sa.bindparam("dataset_key", type_=sa.Text))))


def lock_counts(db: sa.Connection, dataset_key: str) -> None:
    """PostgreSQL: hold the dataset's count lock until the transaction ends (SQLite: nothing to do,
    its write transactions already exclude each other)."""
    if db.dialect.name != "sqlite":
        db.execute(_LOCK, {"dataset_key": dataset_key})


def recount(db: sa.Connection, dataset_key: str, example_ids: Iterable[str] | None = None) -> None:
    """Inside the caller's write transaction: set `reviews` and `complete` of the items of the
    dataset's open plans whose example is one of `example_ids` (None: every example the dataset's
    history names) from the history as it stands."""
    lock_counts(db, dataset_key)
    if example_ids is None:
        db.execute(_RECOUNT_DATASET, {"dataset_key": dataset_key})
        return
    ids = sorted(set(example_ids))
    for start in range(0, len(ids), RECOUNT_CHUNK):
        db.execute(_RECOUNT_EXAMPLES, {"dataset_key": dataset_key, "example_ids": ids[start:start + RECOUNT_CHUNK]})
