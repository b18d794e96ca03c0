"""What a shared queue reads instead of the history, kept with it (losslens.store.schema):

- per item of an open plan, how many reviewers have a decision in force on its example
  (queue_items.reviews) and whether that is as many as the plan asks (queue_items.complete);
- per open plan, its progress: items complete, items started, reviews counted (n_complete,
  n_started, n_reviews);
- per plan and reviewer, a cursor (queue_cursors.position) before which every item is complete or
  decided by that reviewer: their hand-out starts looking there (losslens.review.shared_queue
  moves it on), so a reviewer far ahead of the others does not walk again past every example they
  decided that still waits for someone else.

A count is losslens.store.in_force's per-reviewer reading of the history, evaluated in SQL when
the history changes, so the kept value is that definition's and never a second one. Every write to
the decisions table recounts the examples it touched in its own transaction
(losslens.store.records); a plan is counted whole when it starts and when a store migrates to
schema v7. A recount that leaves an item open to a reviewer moves that reviewer's cursor back to
it. Items of closed plans are not kept up to date.

Concurrency: SQLite serialises writers (BEGIN IMMEDIATE). On PostgreSQL a recount, a plan's start
and a hand-out first take a transaction-level advisory lock on the dataset (`lock_counts`), then
read in new statements, which therefore see every decision committed before: two reviewers deciding
one example at once are both counted.
"""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from losslens.store.in_force import is_decision_in_force
from losslens.store.schema import decisions, queue_cursors, queue_items, queue_plans

COUNTS_LOCK = 7152     # PostgreSQL advisory lock class: one recount, plan start or hand-out per dataset at a time
RECOUNT_CHUNK = 500    # example ids per statement (SQLite caps the parameters of one statement)


def decided_by(dataset_key: str | sa.BindParameter[str], example_id: sa.ColumnElement[str],
               reviewer: str | sa.ColumnElement[str], *correlated: sa.FromClause) -> sa.ColumnElement[bool]:
    """SQL: `reviewer` has a decision in force on `example_id` of the dataset (losslens.store.in_force,
    per reviewer; a reset or an undo takes it back); `correlated`: tables of enclosing statements
    more than one level up that the columns come from.

    A count, not EXISTS: PostgreSQL turns NOT EXISTS into an anti-join that reads all the
    reviewer's decisions once and compares every item with each (seconds at 100,000 items when its
    statistics are stale); a correlated count stays one index lookup per item."""
    theirs = decisions.alias()
    count = sa.select(sa.func.count()).where(theirs.c.dataset_key == dataset_key, theirs.c.example_id == example_id,
                                             theirs.c.reviewer == reviewer,
                                             is_decision_in_force(theirs, per_reviewer=True))
    return (count.correlate(*correlated) if correlated else count).scalar_subquery() > 0


def _reviews_in_force(dataset_key: sa.BindParameter[str], example_id: sa.ColumnElement[str]) -> sa.ScalarSelect:
    """SQL: how many reviewers have a decision in force on `example_id` of the dataset."""
    seen = decisions.alias()
    return (sa.select(sa.func.count()).where(seen.c.dataset_key == dataset_key, seen.c.example_id == example_id,
                                             is_decision_in_force(seen, per_reviewer=True))
            .scalar_subquery())


_DATASET = sa.bindparam("dataset_key", type_=sa.Text)
_OPEN_PLANS = sa.select(queue_plans.c.id).where(queue_plans.c.dataset_key == _DATASET, queue_plans.c.closed_at.is_(None))


class _Recount:
    """The statements of one kind of recount, built once (each recount only binds :dataset_key and,
    for a list of examples, :example_ids): read the items' counts, recount them, move cursors back."""

    def __init__(self, items: sa.ColumnElement[bool]) -> None:
        chosen = sa.and_(queue_items.c.plan_id.in_(_OPEN_PLANS), items)
        self.read = (sa.select(queue_items.c.plan_id, queue_items.c.reviews, queue_plans.c.reviewers_per_example)
                     .join(queue_plans, queue_plans.c.id == queue_items.c.plan_id).where(chosen))
        wanted = (sa.select(queue_plans.c.reviewers_per_example).where(queue_plans.c.id == queue_items.c.plan_id)
                  .scalar_subquery())
        reviews = _reviews_in_force(_DATASET, queue_items.c.example_id)
        self.update = sa.update(queue_items).where(chosen).values(reviews=reviews, complete=reviews >= wanted)
        open_to_them = (sa.select(sa.func.min(queue_items.c.position))
                        .where(queue_items.c.plan_id == queue_cursors.c.plan_id, items,
                               queue_items.c.complete == sa.false(),
                               ~decided_by(_DATASET, queue_items.c.example_id, queue_cursors.c.reviewer,
                                           queue_items, queue_cursors))
                        .scalar_subquery())
        self.cursors = (sa.update(queue_cursors)
                        .where(queue_cursors.c.plan_id.in_(_OPEN_PLANS), queue_cursors.c.position > open_to_them)
                        .values(position=open_to_them))

    def run(self, db: sa.Connection, parameters: dict[str, object]) -> None:
        before = db.execute(self.read, parameters).all()
        db.execute(self.update, parameters)
        _add_to_progress(db, before, db.execute(self.read, parameters).all())
        db.execute(self.cursors, parameters)


_EXAMPLES = _Recount(queue_items.c.example_id.in_(sa.bindparam("example_ids", expanding=True)))
_WHOLE_DATASET = _Recount(queue_items.c.example_id.in_(
    sa.select(decisions.c.example_id).where(decisions.c.dataset_key == _DATASET)))
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(COUNTS_LOCK, sa.func.hashtext(_DATASET)))


def lock_counts(db: sa.Connection, dataset_key: str) -> None:
    """PostgreSQL: hold the dataset's count lock until the transaction ends (SQLite: nothing to do,
    its write transactions already exclude each other)."""
    if db.dialect.name != "sqlite":
        db.execute(_LOCK, {"dataset_key": dataset_key})


def recount(db: sa.Connection, dataset_key: str, example_ids: Iterable[str] | None = None) -> None:
    """Inside the caller's write transaction: recount the items of the dataset's open plans whose
    example is one of `example_ids` (None: every example the dataset's history names) from the
    history as it stands, with their plans' progress and the cursors they reopen."""
    lock_counts(db, dataset_key)
    if example_ids is None:
        _WHOLE_DATASET.run(db, {"dataset_key": dataset_key})
        return
    ids = sorted(set(example_ids))
    for start in range(0, len(ids), RECOUNT_CHUNK):
        _EXAMPLES.run(db, {"dataset_key": dataset_key, "example_ids": ids[start:start + RECOUNT_CHUNK]})


def _add_to_progress(db: sa.Connection, before: list[sa.Row], after: list[sa.Row]) -> None:
    """Move each plan's progress by what its items' counts did (rows: plan_id, reviews, R)."""
    moved: dict[int, list[int]] = {}
    for rows, sign in ((before, -1), (after, 1)):
        for plan_id, reviews, wanted in rows:
            total = moved.setdefault(plan_id, [0, 0, 0])
            total[0] += sign * (reviews >= wanted)
            total[1] += sign * (0 < reviews < wanted)
            total[2] += sign * min(reviews, wanted)
    changed = [{"plan": plan_id, "complete": c, "started": s, "reviews": r}
               for plan_id, (c, s, r) in moved.items() if (c, s, r) != (0, 0, 0)]
    if changed:
        db.execute(sa.update(queue_plans).where(queue_plans.c.id == sa.bindparam("plan")).values(
            n_complete=queue_plans.c.n_complete + sa.bindparam("complete"),
            n_started=queue_plans.c.n_started + sa.bindparam("started"),
            n_reviews=queue_plans.c.n_reviews + sa.bindparam("reviews")), changed)
