"""Every table of the decision store, as SQLAlchemy Core tables on one MetaData (the shape of
schema version losslens.store.migrations.SCHEMA_VERSION). Times are UTC ISO-8601 strings except
`leases.expires_at` (epoch seconds); labels are stored as names.

- decisions: the append-only history. One row per decision on one example of a dataset (by its
  name), with the example's text hash and given label; undone rows keep `undone_at`/`undone_by`;
  the rows of one bulk decision share a `group_id`; `session` names the app tab (or other
  client) that wrote the row, so "undo my last decision" is that tab's.
- losslens_schema: one row, the schema version.
- queue_plans, queue_items, leases, queue_cursors: shared queues (losslens.review.shared_queue): a
  lead's plan (n_examples of them), its examples in order, and each reviewer's short lease on the
  example they are looking at. Kept for open plans by every write to `decisions` (losslens.store.queue_counts): per item,
  `reviews` (reviewers with a decision in force on its example) and `complete` (reviews >= the
  plan's reviewers_per_example); per plan, its progress (n_complete, n_started, n_reviews: the sum
  over items of min(reviews, R)); per plan and reviewer, `queue_cursors.position`, before which
  every item is complete or decided by that reviewer, where their hand-out starts looking.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_key", sa.Text, nullable=False),
    sa.Column("example_id", sa.Text, nullable=False),
    sa.Column("original_label", sa.Text),
    sa.Column("new_label", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reviewer", sa.Text, nullable=False, server_default=""),
    sa.Column("decided_at", sa.Text, nullable=False),
    sa.Column("undone_at", sa.Text),
    sa.Column("undone_by", sa.Text),
    sa.Column("text_hash", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("group_id", sa.Text),
    sa.Column("session", sa.Text),
    sqlite_autoincrement=True,
)
decisions_by_example = sa.Index("decisions_by_example", decisions.c.dataset_key, decisions.c.example_id, decisions.c.id)

schema_version = sa.Table("losslens_schema", metadata, sa.Column("version", sa.Integer, nullable=False))

queue_plans = sa.Table(
    "queue_plans", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_key", sa.Text, nullable=False),
    sa.Column("reviewers_per_example", sa.Integer, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("data_fingerprint", sa.Text, nullable=False),
    sa.Column("closed_at", sa.Text),
    sa.Column("n_examples", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_complete", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_started", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_reviews", sa.Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)

queue_items = sa.Table(
    "queue_items", metadata,
    sa.Column("plan_id", sa.Integer, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("example_id", sa.Text, nullable=False),
    sa.Column("reviews", sa.Integer, nullable=False, server_default="0"),
    sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.false()),
)
queue_items_open = sa.Index("queue_items_open", queue_items.c.plan_id, queue_items.c.complete, queue_items.c.position)
queue_items_by_example = sa.Index("queue_items_by_example", queue_items.c.plan_id, queue_items.c.example_id, unique=True)

leases = sa.Table(
    "leases", metadata,
    sa.Column("dataset_key", sa.Text, primary_key=True),
    sa.Column("reviewer", sa.Text, primary_key=True),
    sa.Column("example_id", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
leases_by_example = sa.Index("leases_by_example", leases.c.dataset_key, leases.c.example_id)

queue_cursors = sa.Table(
    "queue_cursors", metadata,
    sa.Column("plan_id", sa.Integer, primary_key=True),
    sa.Column("reviewer", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)
