"""losslens.store.engine: store URLs and files, SQLite's WAL and pragmas, one-line errors for bad
URLs, and write transactions that commit whole or not at all."""
from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from losslens.errors import StoreError
from losslens.store.decisions import DecisionStore
from losslens.store.engine import BUSY_TIMEOUT_MS, read_connection, store_location, write_transaction
from losslens.store.migrations import SCHEMA_VERSION
from losslens.store.schema import decisions


def test_file_is_wal_with_current_schema(tmp_path):
    store = DecisionStore(tmp_path / "decisions.sqlite")
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_sqlite_connections_wait_for_the_lock_and_sync_fully(tmp_path):
    store = DecisionStore(tmp_path / "decisions.sqlite")
    with read_connection(store.engine) as db:
        assert db.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        assert db.exec_driver_sql("PRAGMA synchronous").scalar() == 2   # FULL


def test_a_file_path_or_a_sqlite_url_names_the_file(tmp_path):
    assert store_location(tmp_path / "d.sqlite") == (f"sqlite:///{tmp_path / 'd.sqlite'}", tmp_path / "d.sqlite")
    assert store_location(f"sqlite:///{tmp_path / 'e.sqlite'}")[1] == tmp_path / "e.sqlite"


def test_a_write_transaction_that_fails_writes_nothing(store_place):
    store = DecisionStore(store_place)
    row = {"dataset_key": "k", "example_id": "a", "status": "removed", "reviewer": "ann", "decided_at": "t"}
    with pytest.raises(RuntimeError), write_transaction(store.engine) as db:
        db.execute(sa.insert(decisions).values(row))
        raise RuntimeError("killed mid-write")
    with write_transaction(store.engine) as db:
        db.execute(sa.insert(decisions).values(row))
    assert store.history_frame()["example_id"].tolist() == ["a"]


def test_a_plain_postgresql_url_uses_psycopg_and_hides_its_password():
    assert store_location("postgresql://ann:pw@db.example:5432/team") == (
        "postgresql+psycopg://ann:pw@db.example:5432/team", None)
    assert store_location("postgres://db.example/team")[0] == "postgresql+psycopg://db.example/team"
    with pytest.raises(StoreError) as caught:   # nothing listens on port 1
        DecisionStore("postgresql://ann:s3cret@127.0.0.1:1/team")
    message = str(caught.value)
    assert message.startswith("cannot reach the decision database postgresql+psycopg://ann:***@127.0.0.1:1/team")
    assert "s3cret" not in message


@pytest.mark.parametrize("url, message", [
    ("mysql+nosuchdriver://x/y", "cannot use the decision database URL"),
    ("postgresql+psycopg://", "cannot reach the decision database"),
    ("not a url://", "is not a database URL"),
])
def test_a_bad_database_url_is_one_line(url, message):
    with pytest.raises(StoreError, match=message):
        DecisionStore(url)
