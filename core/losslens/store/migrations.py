"""The decision store's schema versions (v1..v7): MIGRATIONS[v] takes a database at version v to v + 1.

One mechanism for SQLite and PostgreSQL: the losslens_schema table holds the version (SQLite files
from before it carry theirs in PRAGMA user_version, which is still kept up to date). Each step is
built on the tables of losslens.store.schema where it can: it creates those tables, or adds their
columns, exactly as the step did when it was written. A later change to a table's shape must leave
these steps' effect as it is (give the step its own copy of the old shape then) and add a step.
"""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn, CreateTable

from losslens.errors import StoreError
from losslens.store.queue_counts import recount
from losslens.store.schema import (decisions, decisions_by_example, leases, leases_by_example, queue_cursors,
                                   queue_items, queue_items_by_example, queue_items_open, queue_plans, schema_version)

MIGRATION_LOCK = 7150   # PostgreSQL advisory lock: one migrating process at a time
V1_DECISION_COLUMNS = ("id", "dataset_key", "example_id", "original_label", "new_label", "status", "reviewer",
                       "decided_at")
V5_QUEUE_PLAN_COLUMNS = ("id", "dataset_key", "reviewers_per_example", "created_by", "created_at", "data_fingerprint",
                         "closed_at")
V5_QUEUE_ITEM_COLUMNS = ("plan_id", "position", "example_id")


def _create_table(db: sa.Connection, table: sa.Table, columns: tuple[str, ...] | None = None) -> None:
    """CREATE TABLE IF NOT EXISTS for `table` with only `columns` of it (None: all), without its
    indexes: a table as a step first created it."""
    create = CreateTable(table, if_not_exists=True)
    if columns is not None:
        create.columns = [column for column in create.columns if column.element.name in columns]
    db.execute(create)


def _migrate_0_to_1(db: sa.Connection) -> None:
    """v1: the decisions table with its first columns, V1_DECISION_COLUMNS (a table already there
    is kept)."""
    _create_table(db, decisions, V1_DECISION_COLUMNS)


def _migrate_1_to_2(db: sa.Connection) -> None:
    """v2: undo marks (undone_at, undone_by) and an index for latest-row-per-example lookups."""
    _add_columns(db, decisions.c.undone_at, decisions.c.undone_by)
    decisions_by_example.create(db, checkfirst=True)


def _migrate_2_to_3(db: sa.Connection) -> None:
    """v3: the example's text hash, and datasets named as the app shows them ("reviews.csv"
    for what was "file:reviews.csv", "ag_news/train" for "hf:ag_news:default:train")."""
    _add_columns(db, decisions.c.text_hash)
    for old in db.execute(sa.select(decisions.c.dataset_key).distinct()).scalars().all():
        new = legacy_dataset_name(old)
        if new != old:
            db.execute(sa.update(decisions).where(decisions.c.dataset_key == old).values(dataset_key=new))


def legacy_dataset_name(key: str) -> str:
    """The v3 name of a dataset key written by v1/v2 (file:NAME, disk:NAME:SPLIT, hf:NAME:CONFIG:SPLIT)."""
    kind, _, rest = key.partition(":")
    if kind == "file" and rest:
        return rest
    if kind == "disk" and ":" in rest:
        name, _, split = rest.rpartition(":")
        return name if split == "all" else f"{name}/{split}"
    if kind == "hf" and rest.count(":") >= 2:
        name, config, split = rest.rsplit(":", 2)
        return f"{name}/{split}" if config == "default" else f"{name}:{config}/{split}"
    return key


def _migrate_3_to_4(db: sa.Connection) -> None:
    """v4: a note on any decision, and group ids for bulk decisions undone in one step."""
    _add_columns(db, decisions.c.note, decisions.c.group_id)


def _migrate_4_to_5(db: sa.Connection) -> None:
    """v5: shared queues: a lead's plan, its examples in order, and the reviewers' short leases on
    the example each is looking at."""
    _create_table(db, queue_plans, V5_QUEUE_PLAN_COLUMNS)
    _create_table(db, queue_items, V5_QUEUE_ITEM_COLUMNS)
    _create_table(db, leases)


def _migrate_5_to_6(db: sa.Connection) -> None:
    """v6: the session (app tab) that wrote each decision, so undo takes back that tab's last one."""
    _add_columns(db, decisions.c.session)


def _migrate_6_to_7(db: sa.Connection) -> None:
    """v7: what a shared queue reads instead of the history (losslens.store.queue_counts): per item
    the reviewers with a decision in force and whether that completes it, per plan its size and
    progress, per plan and reviewer a cursor; the indexes a hand-out reads; counted now for the
    open plans."""
    _add_columns(db, queue_plans.c.n_examples, queue_plans.c.n_complete, queue_plans.c.n_started,
                 queue_plans.c.n_reviews, queue_items.c.reviews, queue_items.c.complete)
    _create_table(db, queue_cursors)
    for index in (queue_items_open, queue_items_by_example, leases_by_example):
        index.create(db, checkfirst=True)
    open_plans = queue_plans.c.closed_at.is_(None)
    db.execute(sa.update(queue_plans).where(open_plans).values(n_examples=sa.select(sa.func.count()).where(
        queue_items.c.plan_id == queue_plans.c.id).scalar_subquery()))
    for dataset_key in db.execute(sa.select(queue_plans.c.dataset_key).distinct().where(open_plans)).scalars().all():
        recount(db, dataset_key)


def _add_columns(db: sa.Connection, *columns: sa.Column) -> None:
    """ALTER TABLE ... ADD COLUMN for each of `columns`, declared as in their table."""
    for column in columns:
        declared = CreateColumn(column).compile(dialect=db.dialect)
        db.execute(sa.DDL(f"ALTER TABLE {column.table.name} ADD COLUMN {declared}"))


MIGRATIONS: list[Callable[[sa.Connection], None]] = [
    _migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3, _migrate_3_to_4, _migrate_4_to_5, _migrate_5_to_6,
    _migrate_6_to_7]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sa.Connection) -> int:
    """Bring the database up to SCHEMA_VERSION inside the caller's (write) transaction; return
    the version it had. StoreError for a database of a newer LossLens (left untouched)."""
    sqlite = db.dialect.name == "sqlite"
    if not sqlite:
        db.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
    schema_version.create(db, checkfirst=True)
    version = db.execute(sa.select(schema_version.c.version)).scalar()
    if version is None:
        version = db.exec_driver_sql("PRAGMA user_version").scalar() if sqlite else 0
        db.execute(sa.insert(schema_version).values(version=version))
    if version > SCHEMA_VERSION:
        raise StoreError(f"decision store schema v{version} is newer than this LossLens (v{SCHEMA_VERSION}); "
                         "upgrade LossLens or point LOSSLENS_HOME / LOSSLENS_DB_URL elsewhere")
    for step in MIGRATIONS[version:]:
        step(db)
    db.execute(sa.update(schema_version).values(version=SCHEMA_VERSION))
    if sqlite:
        db.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version
