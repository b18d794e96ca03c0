"""losslens.store.migrations: stores written by every earlier LossLens (schema v0..v6, built here
with the SQL those versions ran) open with their rows unchanged and end at the schema that
losslens.store.schema declares; an open shared queue's kept counts are filled (v7); a newer schema
is refused untouched."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from losslens.errors import StoreError
from losslens.store.decisions import DecisionStore
from losslens.store.migrations import SCHEMA_VERSION, legacy_dataset_name
from losslens.store.schema import decisions, metadata, queue_items, schema_version

KEY = "train.csv"

# The SQL each old LossLens ran to bring a store to version v (SQLite's; on PostgreSQL the id
# column is SERIAL). Versions 1-6 predate this module; copied here so the tests do not follow it.
OLD_STEPS: dict[int, list[str]] = {
    1: ["""CREATE TABLE decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, dataset_key TEXT NOT NULL, example_id TEXT NOT NULL,
        original_label TEXT, new_label TEXT, status TEXT NOT NULL, reviewer TEXT NOT NULL DEFAULT '',
        decided_at TEXT NOT NULL)"""],
    2: ["ALTER TABLE decisions ADD COLUMN undone_at TEXT", "ALTER TABLE decisions ADD COLUMN undone_by TEXT",
        "CREATE INDEX IF NOT EXISTS decisions_by_example ON decisions (dataset_key, example_id, id)"],
    3: ["ALTER TABLE decisions ADD COLUMN text_hash TEXT"],
    4: ["ALTER TABLE decisions ADD COLUMN note TEXT", "ALTER TABLE decisions ADD COLUMN group_id TEXT"],
    5: ["""CREATE TABLE queue_plans (
        id INTEGER PRIMARY KEY AUTOINCREMENT, dataset_key TEXT NOT NULL, reviewers_per_example INTEGER NOT NULL,
        created_by TEXT NOT NULL, created_at TEXT NOT NULL, data_fingerprint TEXT NOT NULL, closed_at TEXT)""",
        """CREATE TABLE queue_items (
        plan_id INTEGER NOT NULL, position INTEGER NOT NULL, example_id TEXT NOT NULL, PRIMARY KEY (plan_id, position))""",
        """CREATE TABLE leases (
        dataset_key TEXT NOT NULL, reviewer TEXT NOT NULL, example_id TEXT NOT NULL, expires_at FLOAT NOT NULL,
        PRIMARY KEY (dataset_key, reviewer))"""],
    6: ["ALTER TABLE decisions ADD COLUMN session TEXT"],
}
V1_SCHEMA = OLD_STEPS[1][0]
COLUMNS_SINCE = {"undone_at": 2, "undone_by": 2, "text_hash": 3, "note": 4, "group_id": 4, "session": 6}
# Rows as the newest version holds them; an older store holds the columns it had, and (before v3)
# the dataset keys of its time, which v3 renames.
ROWS = [
    {"dataset_key": "news.csv", "example_id": "a", "original_label": "sport", "new_label": "tech",
     "status": "relabeled", "reviewer": "ann", "decided_at": "2024-01-02T03:04:05+00:00"},
    {"dataset_key": "news.csv", "example_id": "b", "original_label": "tech", "new_label": None,
     "status": "confirmed", "reviewer": "bob", "decided_at": "2024-01-02T03:05:00+00:00"},
    {"dataset_key": "news.csv", "example_id": "a", "original_label": "sport", "new_label": None,
     "status": "ambiguous", "reviewer": "bob", "decided_at": "2024-01-02T03:06:00+00:00",
     "undone_at": "2024-01-02T03:07:00+00:00", "undone_by": "bob"},
    {"dataset_key": "ag_news/train", "example_id": "7", "original_label": "World", "new_label": "Sports",
     "status": "relabeled", "reviewer": "", "decided_at": "2024-01-02T03:08:00+00:00", "text_hash": "00ff00ff"},
    {"dataset_key": "news.csv", "example_id": "c", "original_label": "tech", "new_label": "sport",
     "status": "relabeled", "reviewer": "ann", "decided_at": "2024-01-02T03:09:00+00:00", "text_hash": "h-c",
     "note": "same template", "group_id": "g1", "session": "tab-1"},
]
OLD_KEYS = {"news.csv": "file:news.csv", "ag_news/train": "hf:ag_news:default:train"}


def _as_stored_by(version: int, row: dict[str, object]) -> dict[str, object]:
    """`row` as a store of `version` held it."""
    kept = {name: value for name, value in row.items() if COLUMNS_SINCE.get(name, 1) <= version}
    return {**kept, "dataset_key": OLD_KEYS[row["dataset_key"]]} if version < 3 else kept


def _old_store(place: Path | str, version: int) -> None:
    """A store at `version`, with ROWS, as LossLens of that version left it: SQLite files carry
    the version in PRAGMA user_version, PostgreSQL databases in the losslens_schema table."""
    sqlite = isinstance(place, Path)
    engine = sa.create_engine(f"sqlite:///{place}" if sqlite else place)
    with engine.begin() as db:
        for step in range(1, version + 1):
            for statement in OLD_STEPS[step]:
                if not sqlite:
                    statement = statement.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY")
                db.exec_driver_sql(statement)
        for row in ROWS if version else []:
            stored = _as_stored_by(version, row)
            names, values = ", ".join(stored), ", ".join(f":{name}" for name in stored)
            db.execute(sa.text(f"INSERT INTO decisions ({names}) VALUES ({values})"), stored)
        if sqlite:
            db.exec_driver_sql(f"PRAGMA user_version = {version}")
        else:
            db.exec_driver_sql("CREATE TABLE losslens_schema (version INTEGER NOT NULL)")
            db.exec_driver_sql(f"INSERT INTO losslens_schema (version) VALUES ({version})")
    engine.dispose()


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4, 5, 6])
def test_a_store_of_each_old_version_opens_with_its_rows_unchanged(store_place, version):
    _old_store(store_place, version)
    store = DecisionStore(store_place)
    expected = [{"id": n, **{c.name: None for c in decisions.columns if c.name != "id"},
                 **{name: row[name] for name in _as_stored_by(version, row) if name != "dataset_key"},
                 "dataset_key": row["dataset_key"]}
                for n, row in enumerate(ROWS if version else [], start=1)]
    assert store.history_frame().to_dict("records") == expected
    undone_a = version >= 2   # before v2 nothing could be undone: bob's "ambiguous" on a is in force
    assert store.in_force("news.csv")["decision_id"].tolist() == ([] if not version else [1, 2, 5] if undone_a
                                                                  else [2, 3, 5])
    assert store.record("news.csv", "d", "tech", None, "removed", "cy", text_hash="h-d").id == len(expected) + 1
    with store.connection() as db:
        assert db.execute(sa.select(schema_version.c.version)).scalars().all() == [SCHEMA_VERSION]
        if db.dialect.name == "sqlite":
            assert db.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION
        found = sa.inspect(db)
        for table in metadata.sorted_tables:   # every path ends at the declared schema
            key = found.get_pk_constraint(table.name)["constrained_columns"]
            assert key == [c.name for c in table.primary_key], table.name
            # (a key is never NULL; v1's SQLite id is declared without NOT NULL)
            assert [(c["name"], c["nullable"] and c["name"] not in key) for c in found.get_columns(table.name)] == [
                (c.name, c.nullable and not c.primary_key) for c in table.columns], table.name
            assert {i["name"]: i["column_names"] for i in found.get_indexes(table.name)} == {
                i.name: [c.name for c in i.columns] for i in table.indexes}, table.name


def test_a_v6_store_with_shared_queues_gets_the_counts_of_its_open_plan(store_place):
    """v7 fills `reviews` and `complete` of the open plan's items (one reviewer each) from the
    decisions in force (a is ann's only, bob's ambiguous being undone; b bob's; c ann's; d nobody's);
    a closed plan is left alone."""
    _old_store(store_place, 6)
    engine = sa.create_engine(f"sqlite:///{store_place}" if isinstance(store_place, Path) else store_place)
    with engine.begin() as db:
        for plan, per_example, closed in ((1, 2, "2024-01-03T00:00:00+00:00"), (2, 1, None)):
            db.execute(sa.text("INSERT INTO queue_plans (dataset_key, reviewers_per_example, created_by, created_at, "
                               "data_fingerprint, closed_at) VALUES ('news.csv', :r, 'lead', '2024-01-02', 'fp', "
                               ":closed)"), {"r": per_example, "closed": closed})
            db.execute(sa.text("INSERT INTO queue_items (plan_id, position, example_id) VALUES (:plan, :k, :e)"),
                       [{"plan": plan, "k": k, "e": e} for k, e in enumerate("dcba")])
    engine.dispose()
    store = DecisionStore(store_place)
    with store.connection() as db:
        items = db.execute(sa.select(queue_items.c.plan_id, queue_items.c.example_id, queue_items.c.reviews,
                                     queue_items.c.complete).order_by(queue_items.c.plan_id, queue_items.c.position))
        found = [(plan, example, reviews, bool(complete)) for plan, example, reviews, complete in items]
    assert found == [(1, e, 0, False) for e in "dcba"] + [
        (2, "d", 0, False), (2, "c", 1, True), (2, "b", 1, True), (2, "a", 1, True)]


def test_migrates_a_v1_file_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(V1_SCHEMA)
    db.execute(
        "INSERT INTO decisions (dataset_key, example_id, original_label, new_label, status, "
        "reviewer, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("file:train.csv", "a", "sport", "tech", "relabeled", "ann", "2024-01-02T03:04:05+00:00"),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    store = DecisionStore(path)
    assert store.dataset_keys() == [KEY]   # v3 names datasets as the app shows them
    in_force = store.in_force(KEY)
    assert in_force[["example_id", "original_label", "new_label", "status", "reviewer"]].values.tolist() == [
        ["a", "sport", "tech", "relabeled", "ann"]]
    assert store.history(KEY, "a")[0].decided_at == "2024-01-02T03:04:05+00:00"
    assert store.history(KEY, "a")[0].text_hash is None   # recorded before text checks
    assert store.undo_last(KEY)[0].example_id == "a"  # v2 columns work on migrated rows
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {row[1] for row in db.execute("PRAGMA index_list(decisions)")}
    assert "decisions_by_example" in indexes


def test_migrates_a_v0_database_without_tables(tmp_path):
    path = tmp_path / "bare.sqlite"
    sqlite3.connect(path).execute("PRAGMA user_version = 0").connection.close()
    store = DecisionStore(path)
    store.record(KEY, "a", "x", None, "confirmed", "ann", text_hash=None)
    assert store.in_force(KEY)["status"].tolist() == ["confirmed"]


def test_a_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "future.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this LossLens"):
        DecisionStore(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


@pytest.mark.parametrize("old,new", [
    ("file:reviews.csv", "reviews.csv"), ("demo:bbc", "demo:bbc"), ("disk:news:test", "news/test"),
    ("disk:plain:all", "plain"), ("hf:ag_news:default:train", "ag_news/train"),
    ("hf:glue:sst2:validation", "glue:sst2/validation"), ("my own name", "my own name"),
])
def test_legacy_dataset_keys_get_the_names_the_app_shows(old, new):
    assert legacy_dataset_name(old) == new
