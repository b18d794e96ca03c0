"""Reviewer decisions in SQLite: every change is a row, the current state is the latest row.

One table, `decisions`, keyed by the dataset's name (`LabeledTexts.name`, not its content hash)
and the example id, with the example's text hash and given label, so a decision follows its
example across re-scoring with another model and reloads of an edited file, and never lands on
another example (see losslens.decisions). Labels are stored as NAMES, so decisions survive a
re-encoding of the label column.

Current state of an example = its latest row that has not been undone. A row with status
"unreviewed" records a reset. `undo_last` marks the latest decision as undone (the row is kept,
with `undone_at`/`undone_by`), so the previous state becomes current again and history is whole.
A bulk decision (`record_group`) writes one row per example under one `group_id`, and one undo
takes the whole group back. Any decision may carry a free-text `note`.

Durability: WAL journal, synchronous=FULL, every write is its own short IMMEDIATE transaction
on its own connection, so a SIGKILL loses at most the write in flight and two processes (two
browser tabs, two servers) writing at once lose nothing (busy_timeout waits for the lock).
"""
from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from losslens import backups, config
from losslens.errors import StoreError

STATUSES: tuple[str, ...] = ("unreviewed", "relabeled", "confirmed", "ambiguous", "removed")
DECIDED_STATUSES: tuple[str, ...] = STATUSES[1:]
CURRENT_COLUMNS = ["decision_id", "example_id", "text_hash", "original_label", "new_label", "status", "reviewer",
                   "decided_at", "note"]
BUSY_TIMEOUT_MS = 30_000


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
    text_hash: str | None = None
    note: str | None = None
    group_id: str | None = None


@dataclass(frozen=True)
class ExampleRef:
    """The example a decision is about: its id, losslens.data.text_hash of its text (None: no
    text check) and its given label (a name)."""

    example_id: str
    text_hash: str | None
    given_label: str | None


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


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    """v3: the example's text hash, and datasets named as the app shows them ("reviews.csv"
    for what was "file:reviews.csv", "ag_news/train" for "hf:ag_news:default:train")."""
    db.execute("ALTER TABLE decisions ADD COLUMN text_hash TEXT")
    for (old,) in db.execute("SELECT DISTINCT dataset_key FROM decisions").fetchall():
        new = legacy_dataset_name(old)
        if new != old:
            db.execute("UPDATE decisions SET dataset_key = ? WHERE dataset_key = ?", (new, old))


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


def _migrate_3_to_4(db: sqlite3.Connection) -> None:
    """v4: a note on any decision, and group ids for bulk decisions undone in one step."""
    db.execute("ALTER TABLE decisions ADD COLUMN note TEXT")
    db.execute("ALTER TABLE decisions ADD COLUMN group_id TEXT")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3, _migrate_3_to_4]
SCHEMA_VERSION = len(MIGRATIONS)


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
    """Label decisions of reviewers, in one SQLite file (default config.decision_store_path()).

    Safe to share between threads and processes: every call opens its own connection.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else config.decision_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        backups.check_not_awaiting_restore(self.path)
        if (damage := backups.damage_of(self.path)) is not None:
            moved = backups.move_aside(self.path, damage)
            raise StoreError(f"the decision store is {damage}: run `losslens decisions restore` to bring back its "
                             f"latest backup; the damaged file (nothing overwritten) was moved to {moved.name} in "
                             f"{moved.parent}")
        with self._connect() as db:
            _enable_wal(db)
            migrate(db)
        self._backed_up = backups.backed_up_id(self.path)

    def backup(self) -> Path | None:
        """Back the store up now (SQLite's online backup API); None when it holds no decision."""
        with self._connect() as db:
            last = db.execute("SELECT MAX(id) FROM decisions").fetchone()[0]
        if not last:
            return None
        self._backed_up = last
        return backups.backup(self.path, last)

    def _after_write(self, last_id: int) -> None:
        """A backup every BACKUP_EVERY decisions (a damaged store loses at most that many)."""
        if last_id // backups.BACKUP_EVERY > self._backed_up // backups.BACKUP_EVERY:
            self.backup()

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
        *,
        text_hash: str | None,
        note: str | None = None,
    ) -> LabelDecision:
        """Append one decision; it becomes the example's current state. Labels are names;
        text_hash is `losslens.data.text_hash` of the example's text, which binds the decision to
        that text (None, as for imports without texts: checked by id and given label only).

        status "relabeled" needs a new_label (one equal to the given label is stored as
        "confirmed"); for other statuses new_label may be None.
        """
        (decision,) = self._record(dataset_key, [ExampleRef(str(example_id), text_hash, original_label)],
                                   new_label, status, reviewer, note, group=False)
        return decision

    def record_group(self, dataset_key: str, examples: Sequence[ExampleRef], new_label: str | None,
                     status: str, reviewer: str = "", note: str | None = None) -> list[LabelDecision]:
        """One decision for each of `examples`, in one transaction under one group id: one
        `undo_last` takes them all back. A status "confirmed" keeps each example's given label."""
        return self._record(dataset_key, list(examples), new_label, status, reviewer, note, group=True)

    def _record(self, dataset_key: str, examples: list[ExampleRef], new_label: str | None, status: str,
                reviewer: str, note: str | None, group: bool) -> list[LabelDecision]:
        if status not in STATUSES:
            raise StoreError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        new_label = _check_label(new_label, "new_label")
        for example in examples:
            _check_label(example.given_label, "original_label")
        if status == "relabeled" and new_label is None:
            raise StoreError(f"example {examples[0].example_id!r}: status 'relabeled' needs a new_label")
        note = (note or "").strip() or None
        group_id = uuid.uuid4().hex if group else None
        with self._write() as db:   # a relabel to the label an example already has confirms it
            written = [self._insert(db, str(dataset_key), example, new_label,
                                    "confirmed" if status == "relabeled" and new_label == example.given_label
                                    else status, reviewer, note, group_id)
                       for example in examples]
        self._after_write(written[-1].id)
        return written

    def reset(self, dataset_key: str, example_id: str, reviewer: str = "") -> LabelDecision | None:
        """Put one example back to "unreviewed" (recorded as a row); None if it already was."""
        with self._write() as db:
            latest = self._latest(db, dataset_key, str(example_id))
            if latest is None or latest.status == "unreviewed":
                return None
            example = ExampleRef(str(example_id), latest.text_hash, latest.original_label)
            return self._insert(db, dataset_key, example, None, "unreviewed", reviewer, None, None)

    def undo_last(self, dataset_key: str, reviewer: str | None = None) -> list[LabelDecision]:
        """Undo the latest decision still in effect in this dataset (by `reviewer` if given) and,
        when it was part of a bulk decision, the rest of its group.

        The rows are marked undone (kept in history); each example's previous state becomes
        current. Repeated calls walk further back. Returns the undone decisions ([] if none).
        """
        query = "SELECT * FROM decisions WHERE dataset_key = ? AND undone_at IS NULL"
        params: list[object] = [dataset_key]
        if reviewer is not None:
            query += " AND reviewer = ?"
            params.append(reviewer)
        with self._write() as db:
            latest = db.execute(query + " ORDER BY id DESC LIMIT 1", params).fetchone()
            if latest is None:
                return []
            rows = [latest] if _decision(latest).group_id is None else db.execute(
                "SELECT * FROM decisions WHERE dataset_key = ? AND group_id = ? AND undone_at IS NULL ORDER BY id",
                (dataset_key, _decision(latest).group_id)).fetchall()
            undone_at = _now()
            undone_by = reviewer if reviewer is not None else _decision(latest).reviewer
            db.executemany("UPDATE decisions SET undone_at = ?, undone_by = ? WHERE id = ?",
                           [(undone_at, undone_by, row[0]) for row in rows])
        return [replace(_decision(row), undone_at=undone_at, undone_by=undone_by) for row in rows]

    # --- reads ---------------------------------------------------------------------------------

    def current(self, dataset_key: str, per_reviewer: bool = False) -> pd.DataFrame:
        """Current decision per example id (latest row not undone), status != unreviewed; with
        per_reviewer, each reviewer's own latest decision per example (who decided what).

        Columns: CURRENT_COLUMNS (decision_id is the row's id in the history); one row per
        example id (and reviewer), in the order the decisions were made. Which of them apply to
        a loaded dataset is losslens.decisions.bind_decisions's job.
        """
        group = "example_id, reviewer" if per_reviewer else "example_id"
        with self._connect() as db:
            rows = db.execute(
                f"""SELECT d.id, d.example_id, d.text_hash, d.original_label, d.new_label, d.status,
                          d.reviewer, d.decided_at, d.note
                   FROM decisions d
                   JOIN (SELECT MAX(id) AS id FROM decisions
                         WHERE dataset_key = ? AND undone_at IS NULL GROUP BY {group}) m
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
        return [_decision(row) for row in rows]

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
        return None if row is None else _decision(row)

    @staticmethod
    def _insert(db: sqlite3.Connection, dataset_key: str, example: ExampleRef, new_label: str | None, status: str,
                reviewer: str, note: str | None, group_id: str | None) -> LabelDecision:
        decided_at = _now()
        values = (dataset_key, example.example_id, example.given_label, new_label, status, reviewer or "",
                  decided_at, example.text_hash, note, group_id)
        cursor = db.execute(
            """INSERT INTO decisions (dataset_key, example_id, original_label, new_label, status, reviewer,
                                      decided_at, text_hash, note, group_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", values)
        return _decision((int(cursor.lastrowid), *values[:7], None, None, *values[7:]))


def _decision(row: tuple) -> LabelDecision:
    """A `SELECT *` row of the decisions table (columns in schema order) as a LabelDecision."""
    return LabelDecision(*row[:8], undone_at=row[8], undone_by=row[9], text_hash=row[10], note=row[11],
                         group_id=row[12])
