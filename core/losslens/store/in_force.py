"""Which rows of the decision history are in force, as SQLAlchemy Core expressions: the one
definition that the store's reads (losslens.store.decisions) and the shared queue
(losslens.review.shared_queue) both use.

A row is in force when it is the latest row not undone on its example (same dataset and example
id); in force "for its reviewer" when it is the latest row not undone of its reviewer on its
example. A row in force with status "unreviewed" is a reset: the example (or that reviewer's
decision on it) is undecided.
"""
from __future__ import annotations

import sqlalchemy as sa

from losslens.store.schema import decisions


def is_in_force(rows: sa.FromClause = decisions, *, per_reviewer: bool) -> sa.ColumnElement[bool]:
    """True for a row of `rows` (the decisions table or an alias of it) that is the latest one not
    undone on its example (per_reviewer: on its example by its reviewer), resets included."""
    later = decisions.alias()
    same_example = [later.c.dataset_key == rows.c.dataset_key, later.c.example_id == rows.c.example_id]
    if per_reviewer:
        same_example.append(later.c.reviewer == rows.c.reviewer)
    replaced = sa.exists().where(*same_example, later.c.undone_at.is_(None), later.c.id > rows.c.id)
    return sa.and_(rows.c.undone_at.is_(None), ~replaced)


def is_decision_in_force(rows: sa.FromClause = decisions, *, per_reviewer: bool) -> sa.ColumnElement[bool]:
    """`is_in_force`, leaving out resets: the row is a decision (relabeled, confirmed, ambiguous,
    removed) that stands."""
    return sa.and_(is_in_force(rows, per_reviewer=per_reviewer), rows.c.status != "unreviewed")
