"""Where the decision store's database is and how LossLens connects to it.

A store is a SQLite file (default: config.decision_store_url(), a file under LOSSLENS_HOME) or any
SQLAlchemy URL (PostgreSQL for a team, postgresql+psycopg://...). SQLite connections use a WAL
journal, synchronous=FULL, a busy timeout and a connection per call, and write transactions begin
IMMEDIATE, so two processes writing at once wait for each other instead of failing; PostgreSQL
uses its own transactions and a pool.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from losslens import config
from losslens.errors import StoreError

BUSY_TIMEOUT_MS = 30_000
WAL_SWITCH_ATTEMPTS = 300   # x 0.1 s: "locked" comes at once while another process switches a new file to WAL


def store_location(location: Path | str | None) -> tuple[str, Path | None]:
    """(SQLAlchemy URL, SQLite file or None) of a store: a URL, a file path, or None for
    config.decision_store_url() (LOSSLENS_DB_URL, else the SQLite file under LOSSLENS_HOME)."""
    if location is None:
        location = config.decision_store_url()
    text = str(location)
    if "://" not in text:
        return f"sqlite:///{Path(text)}", Path(text)
    try:
        url = sa.engine.make_url(text)
    except (sa.exc.ArgumentError, ValueError):   # ValueError: a port that is not a number, an unclosed [
        raise StoreError(f"LOSSLENS_DB_URL is not a database URL ({text.partition('://')[0][:20]}://...: check "
                         "the host, that a port is a number and an IPv6 host is in [ ]); use e.g. "
                         "postgresql+psycopg://user@host:5432/db") from None
    if url.drivername in ("postgresql", "postgres"):   # the driver LossLens installs, not psycopg2
        url = url.set(drivername="postgresql+psycopg")
        text = url.render_as_string(hide_password=False)
    return text, Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def store_engine(url: str) -> sa.Engine:
    """An engine for the store at `url`: SQLite with WAL, synchronous=FULL, a busy timeout, a
    connection per call and BEGIN IMMEDIATE in `write_transaction`; any other database as
    SQLAlchemy makes it (StoreError when its driver is missing or the URL is unusable)."""
    if not url.startswith("sqlite"):
        try:
            connect = {"connect_timeout": 10} if url.startswith("postgresql") else {}   # seconds
            return sa.create_engine(url, pool_pre_ping=True, connect_args=connect)
        except ImportError as exc:
            raise StoreError(f"the decision database needs its driver ({exc.name or exc}): "
                             "pip install 'losslens[postgres]' (psycopg) for postgresql+psycopg:// URLs") from None
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise StoreError(f"cannot use the decision database URL: {str(exc).splitlines()[0][:120]}") from None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool,
                              connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
    sa.event.listen(engine, "connect", _set_sqlite_pragmas)
    sa.event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    """A new SQLite connection: SQLAlchemy's begin event decides BEGIN vs BEGIN IMMEDIATE; busy
    timeout, synchronous=FULL and the WAL journal."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous = FULL")
    for attempt in range(WAL_SWITCH_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            break
        except Exception as exc:  # noqa: BLE001 — sqlite3.OperationalError, re-raised unless "locked"
            if "locked" not in str(exc) or attempt == WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.1)
    cursor.close()


def _begin_sqlite_transaction(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get("immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def read_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection for reads (SQLite: a deferred transaction, never holding the write lock)."""
    with engine.connect() as db:
        yield db


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One write transaction (IMMEDIATE on SQLite): committed on success, rolled back on error."""
    with engine.connect().execution_options(immediate=True) as db, db.begin():
        yield db
