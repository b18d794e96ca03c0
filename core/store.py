"""Reviewer decisions in SQLite: every change is a row, the current state is the latest row.

One table, `decisions`, keyed by the dataset's identity (`LabeledTexts.source_key`, not its
content hash) and the example id, so a decision follows its example across re-scoring with
another model and reloads of an edited file. Labels are stored as NAMES, so decisions survive a
re-encoding of the label column.

Current state of an example = its latest row that has not been undone. A row with status
"unreviewed" records a reset. `undo_last` marks the latest decision as undone (the row is kept,
with `undone_at`/`undone_by`), so the previous state becomes current again and history is whole.

Durability: WAL journal, synchronous=FULL, every write is its own short IMMEDIATE transaction
on its own connection, so a SIGKILL loses at most the write in flight and two processes (two
browser tabs, two servers) writing at once lose nothing (busy_timeout waits for the lock).
"""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

STATUSES: tuple[str, ...] = ("unreviewed", "relabeled", "confirmed", "ambiguous", "removed")
DECIDED_STATUSES: tuple[str, ...] = STATUSES[1:]
CURRENT_COLUMNS = ["example_id", "original_label", "new_label", "status", "reviewer", "decided_at"]
BUSY_TIMEOUT_MS = 30_000


class StoreError(RuntimeError):
    """A decision store problem a user can act on (bad status, newer schema, ...)."""


@dataclass(frozen=True)
class LabelDecision:
    """One row of the decision history. Times are UTC ISO-8601 strings."""

    id: int
    dataset_key: str
    example_id: str
    original_label: str | None
    new_label: str | None
    status: str
    reviewer: str
    decided_at: str
    undone_at: str | None = None
    undone_by: str | None = None


# --- schema migrations: MIGRATIONS[v] takes a file at user_version v to v + 1 -------------------

def _migrate_0_to_1(db: sqlite3.Connection) -> None:
    """v1: the decisions table."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset_key TEXT NOT NULL,
            example_id TEXT NOT NULL,
            original_label TEXT,
            new_label TEXT,
            status TEXT NOT NULL,
            reviewer TEXT NOT NULL DEFAULT '',
            decided_at TEXT NOT NULL
        )"""
    )


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """v2: undo marks (undone_at, undone_by) and an index for latest-row-per-example lookups."""
    db.execute("ALTER TABLE decisions ADD COLUMN undone_at TEXT")
    db.execute("ALTER TABLE decisions ADD COLUMN undone_by TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS decisions_by_example ON decisions (dataset_key, example_id, id)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_0_to_1, _migrate_1_to_2]
SCHEMA_VERSION = len(MIGRATIONS)


def default_store_path() -> Path:
    """losslens_home()/decisions.sqlite."""
    try:
        from losslens.cache import losslens_home
    except ImportError:  # pragma: no cover - losslens.cache is part of the package
        home = Path(os.environ.get("LOSSLENS_HOME") or Path.home() / ".cache" / "losslens")
        home.mkdir(parents=True, exist_ok=True)
        return home / "decisions.sqlite"
    return losslens_home() / "decisions.sqlite"


def migrate(db: sqlite3.Connection) -> int:
    """Bring the open database up to SCHEMA_VERSION in one transaction; return the old version."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"decision store schema v{version} is newer than this LossLens (v{SCHEMA_VERSION}); "
                "upgrade LossLens or point LOSSLENS_HOME elsewhere"
            )
        for step in MIGRATIONS[version:]:
            step(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return version


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _check_label(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise StoreError(f"{name} must be a label name (str) or None, got {value!r}")


def _enable_wal(db: sqlite3.Connection, attempts: int = 300) -> None:
    """Switch the file to WAL. SQLite answers "database is locked" at once (no busy wait) while
    another process is switching or migrating the same new file, so retry for up to ~30 s."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


class DecisionStore:
    """Label decisions of reviewers, in one SQLite file (default losslens_home()/decisions.sqlite).

    Safe to share between threads and processes: every call opens its own connection.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            _enable_wal(db)
            migrate(db)

    # --- connections ---------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA synchronous = FULL")
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed on success, rolled back on any error."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # --- writes --------------------------------------------------------------------------------

    def record(
        self,
        dataset_key: str,
        example_id: str,
        original_label: str | None,
        new_label: str | None,
        status: str,
        reviewer: str = "",
    ) -> LabelDecision:
        """Append one decision; it becomes the example's current state. Labels are names.

        status "relabeled" needs a new_label; for other statuses new_label may be None.
        """
        if status not in STATUSES:
            raise StoreError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        original_label = _check_label(original_label, "original_label")
        new_label = _check_label(new_label, "new_label")
        if status == "relabeled" and new_label is None:
            raise StoreError(f"example {example_id!r}: status 'relabeled' needs a new_label")
        with self._write() as db:
            return self._insert(
                db, str(dataset_key), str(example_id), original_label, new_label, status, reviewer
            )

    def reset(self, dataset_key: str, example_id: str, reviewer: str = "") -> LabelDecision | None:
        """Put one example back to "unreviewed" (recorded as a row); None if it already was."""
        with self._write() as db:
            latest = self._latest(db, dataset_key, str(example_id))
            if latest is None or latest.status == "unreviewed":
                return None
            return self._insert(
                db, dataset_key, str(example_id), latest.original_label, None, "unreviewed", reviewer
            )

    def undo_last(self, dataset_key: str, reviewer: str | None = None) -> LabelDecision | None:
        """Undo the latest decision still in effect in this dataset (by `reviewer` if given).

        The row is marked undone (kept in history); the example's previous state becomes
        current. Repeated calls walk further back. Returns the undone decision, or None.
        """
        query = "SELECT * FROM decisions WHERE dataset_key = ? AND undone_at IS NULL"
        params: list[object] = [dataset_key]
        if reviewer is not None:
            query += " AND reviewer = ?"
            params.append(reviewer)
        with self._write() as db:
            row = db.execute(query + " ORDER BY id DESC LIMIT 1", params).fetchone()
            if row is None:
                return None
            undone_at = _now()
            undone_by = reviewer if reviewer is not None else row[6]
            db.execute(
                "UPDATE decisions SET undone_at = ?, undone_by = ? WHERE id = ?",
                (undone_at, undone_by, row[0]),
            )
        return LabelDecision(*row[:8], undone_at=undone_at, undone_by=undone_by)

    # --- reads ---------------------------------------------------------------------------------

    def current(self, dataset_key: str) -> pd.DataFrame:
        """Current decision per example (latest row not undone), status != unreviewed.

        Columns: example_id, original_label, new_label, status, reviewer, decided_at; one row per
        example, in the order the decisions were made.
        """
        with self._connect() as db:
            rows = db.execute(
                """SELECT d.example_id, d.original_label, d.new_label, d.status, d.reviewer,
                          d.decided_at
                   FROM decisions d
                   JOIN (SELECT MAX(id) AS id FROM decisions
                         WHERE dataset_key = ? AND undone_at IS NULL GROUP BY example_id) m
                     ON d.id = m.id
                   WHERE d.status != 'unreviewed'
                   ORDER BY d.id""",
                (dataset_key,),
            ).fetchall()
        return pd.DataFrame(rows, columns=CURRENT_COLUMNS, dtype=object)

    def history(self, dataset_key: str, example_id: str) -> list[LabelDecision]:
        """Every row for one example, oldest first, undone ones included."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM decisions WHERE dataset_key = ? AND example_id = ? ORDER BY id",
                (dataset_key, str(example_id)),
            ).fetchall()
        return [LabelDecision(*row) for row in rows]

    def counts(self, dataset_key: str) -> dict[str, int]:
        """Number of examples per current status (relabeled, confirmed, ambiguous, removed)."""
        found = self.current(dataset_key)["status"].value_counts()
        return {status: int(found.get(status, 0)) for status in DECIDED_STATUSES}

    def orphans(self, dataset_key: str, ids_present: Iterable[str]) -> pd.DataFrame:
        """Current decisions whose example id is not in the dataset any more (kept, reported)."""
        decisions = self.current(dataset_key)
        present = pd.Index([str(i) for i in ids_present])
        return decisions[~decisions["example_id"].isin(present)].reset_index(drop=True)

    def dataset_keys(self) -> list[str]:
        """Every dataset key with at least one row, sorted."""
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT dataset_key FROM decisions ORDER BY 1").fetchall()
        return [row[0] for row in rows]

    # --- internals -----------------------------------------------------------------------------

    @staticmethod
    def _latest(db: sqlite3.Connection, dataset_key: str, example_id: str) -> LabelDecision | None:
        row = db.execute(
            """SELECT * FROM decisions WHERE dataset_key = ? AND example_id = ? AND undone_at IS NULL
               ORDER BY id DESC LIMIT 1""",
            (dataset_key, example_id),
        ).fetchone()
        return None if row is None else LabelDecision(*row)

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        dataset_key: str,
        example_id: str,
        original_label: str | None,
        new_label: str | None,
        status: str,
        reviewer: str,
    ) -> LabelDecision:
        decided_at = _now()
        cursor = db.execute(
            """INSERT INTO decisions
               (dataset_key, example_id, original_label, new_label, status, reviewer, decided_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (dataset_key, example_id, original_label, new_label, status, reviewer or "", decided_at),
        )
        return LabelDecision(
            int(cursor.lastrowid), dataset_key, example_id, original_label, new_label, status,
            reviewer or "", decided_at,
        )
