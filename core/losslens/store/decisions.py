"""Reviewer decisions in a SQL database through SQLAlchemy 2.x: SQLite by default (a file under
LOSSLENS_HOME), PostgreSQL for a team (LOSSLENS_DB_URL=postgresql+psycopg://...). Every change is
a row, the current state is the latest row.

One table, `decisions`, keyed by the dataset's name (`LabeledTexts.name`, not its content hash)
and the example id, with the example's text hash and given label, so a decision follows its
example across re-scoring with another model and reloads of an edited file, and never lands on
another example (see losslens.review.binding). Labels are stored as NAMES, so decisions survive a
re-encoding of the label column.

Current state of an example = its latest row that has not been undone. A row with status
"unreviewed" records a reset. `undo_last` marks the latest decision as undone (the row is kept,
with `undone_at`/`undone_by`), so the previous state becomes current again and history is whole.
A bulk decision (`record_group`) writes one row per example under one `group_id`, and one undo
takes the whole group back. Any decision may carry a free-text `note`.

Durability: every write is its own short transaction, so a killed writer loses at most the write
in flight and two processes writing at once lose nothing. SQLite: WAL journal, synchronous=FULL,
IMMEDIATE write transactions on a connection per call (busy_timeout waits for the lock);
PostgreSQL: its own transactions (losslens.store.engine). The schema is brought up to date when a
store opens (losslens.store.migrations).
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from losslens.errors import StoreError
from losslens.store import backups
from losslens.store.engine import store_engine, store_location
from losslens.store.migrations import migrate

STATUSES: tuple[str, ...] = ("unreviewed", "relabeled", "confirmed", "ambiguous", "removed")
DECIDED_STATUSES: tuple[str, ...] = STATUSES[1:]
IN_FORCE_COLUMNS = ["decision_id", "example_id", "text_hash", "original_label", "new_label", "status", "reviewer",
                   "decided_at", "note"]


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
    """The example a decision is about: its id, losslens.sources.datasets.text_hash of its text (None: no
    text check) and its given label (a name)."""

    example_id: str
    text_hash: str | None
    given_label: str | None


@dataclass(frozen=True)
class ImportedDecision:
    """A decision made elsewhere (another store's history, or a file of decisions) to append.
    decided_at None: made now, and not imported when the reviewer's decision in force on the
    example already says the same."""

    dataset_key: str
    example: ExampleRef
    new_label: str | None
    status: str
    reviewer: str
    decided_at: str | None
    note: str | None = None
    undone_at: str | None = None
    undone_by: str | None = None
    group_id: str | None = None


@dataclass(frozen=True)
class ImportCounts:
    """What `DecisionStore.import_decisions` did: rows added, rows already there, and rows already
    there that the import marked undone."""

    added: int
    already_there: int
    marked_undone: int


COLUMNS = ("id", "dataset_key", "example_id", "original_label", "new_label", "status", "reviewer", "decided_at",
           "undone_at", "undone_by", "text_hash", "note", "group_id")
SELECT_ALL = f"SELECT {', '.join(COLUMNS)} FROM decisions"
# In SQL over `decisions d`: d is its reviewer's latest row on its example that is not undone (the
# decision of that reviewer in force, as DecisionStore.in_force(per_reviewer=True) reads it).
IN_FORCE_FOR_ITS_REVIEWER = """d.id = (SELECT MAX(d2.id) FROM decisions d2 WHERE d2.dataset_key = d.dataset_key
    AND d2.example_id = d.example_id AND d2.reviewer = d.reviewer AND d2.undone_at IS NULL)"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _check_label(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise StoreError(f"{name} must be a label name (str) or None, got {value!r}")


class DecisionStore:
    """Label decisions of reviewers in one database: a SQLite file (default, see
    config.decision_store_url) or any SQLAlchemy URL (PostgreSQL for a team).

    Safe to share between threads and processes. SQLite files are health-checked when opened and
    backed up every backups.BACKUP_EVERY decisions; a PostgreSQL database is the DBA's to back up.
    """

    def __init__(self, location: Path | str | None = None) -> None:
        self.url, self.path = store_location(location)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            backups.check_not_awaiting_restore(self.path)
            if (damage := backups.damage_of(self.path)) is not None:
                moved = backups.move_aside(self.path, damage)
                raise StoreError(f"the decision store is {damage}: run `losslens decisions restore` to bring back "
                                 f"its latest backup; the damaged file (nothing overwritten) was moved to "
                                 f"{moved.name} in {moved.parent}")
        self.engine = store_engine(self.url)
        try:
            with self._write() as db:
                migrate(db)
        except sa.exc.OperationalError as exc:
            shown = sa.engine.make_url(self.url).render_as_string(hide_password=True)
            raise StoreError(f"cannot reach the decision database {shown[:100]}: "
                             f"{str(exc.orig).strip().splitlines()[0][:120]}") from None
        self._backed_up = backups.backed_up_id(self.path) if self.path is not None else 0

    def backup(self) -> Path | None:
        """Back a SQLite store up now (SQLite's online backup API); None when it holds no
        decision, or for another database."""
        if self.path is None:
            return None
        with self._read() as db:
            last = db.execute(sa.text("SELECT MAX(id) FROM decisions")).scalar()
        if not last:
            return None
        self._backed_up = last
        return backups.backup(self.path, last)

    def _after_write(self, last_id: int) -> None:
        """A backup every BACKUP_EVERY decisions (a damaged store loses at most that many)."""
        if self.path is not None and last_id // backups.BACKUP_EVERY > self._backed_up // backups.BACKUP_EVERY:
            self.backup()

    # --- connections ---------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction (IMMEDIATE on SQLite): committed on success, rolled back on error."""
        with self.engine.connect().execution_options(immediate=True) as db, db.begin():
            yield db

    def transaction(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """One write transaction, for modules that keep their own tables here (shared queues)."""
        return self._write()

    def connection(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A read connection, for modules that keep their own tables here."""
        return self._read()

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
        text_hash is `losslens.sources.datasets.text_hash` of the example's text, which binds the decision to
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
        query = f"{SELECT_ALL} WHERE dataset_key = :dataset AND undone_at IS NULL"
        params: dict[str, object] = {"dataset": dataset_key}
        if reviewer is not None:
            query += " AND reviewer = :reviewer"
            params["reviewer"] = reviewer
        with self._write() as db:
            latest = db.execute(sa.text(query + " ORDER BY id DESC LIMIT 1"), params).fetchone()
            if latest is None:
                return []
            group = _decision(latest).group_id
            rows = [latest] if group is None else db.execute(sa.text(
                f"{SELECT_ALL} WHERE dataset_key = :dataset AND group_id = :group AND undone_at IS NULL ORDER BY id"),
                {"dataset": dataset_key, "group": group}).fetchall()
            undone_at = _now()
            undone_by = reviewer if reviewer is not None else _decision(latest).reviewer
            db.execute(sa.text("UPDATE decisions SET undone_at = :at, undone_by = :by WHERE id = :id"),
                       [{"at": undone_at, "by": undone_by, "id": row[0]} for row in rows])
        return [replace(_decision(row), undone_at=undone_at, undone_by=undone_by) for row in rows]

    def import_decisions(self, rows: Sequence[ImportedDecision]) -> ImportCounts:
        """Append `rows` in order, in one transaction, skipping those already stored, so importing
        a file twice adds nothing. A row with a time is already stored when a row with the same
        dataset, example, reviewer, status, new label and time is (if the import has it undone
        and the store does not, the stored row is marked undone); a row without a time when the
        reviewer's decision in force on that example has its status, new label and note."""
        for row in rows:
            if row.status not in STATUSES:
                raise StoreError(f"status {row.status!r} is not one of {', '.join(STATUSES)}")
            if row.status == "relabeled" and row.new_label is None:
                raise StoreError(f"example {row.example.example_id!r}: status 'relabeled' needs a new_label")
        datasets = sorted({row.dataset_key for row in rows})
        added = already = marked = 0
        last_id = 0
        with self._write() as db:
            stored = [_decision(r) for r in db.execute(
                sa.text(f"{SELECT_ALL} WHERE dataset_key IN :datasets ORDER BY id").bindparams(
                    sa.bindparam("datasets", expanding=True)), {"datasets": datasets}).fetchall()] if rows else []
            by_time = {_timed_key(d): d for d in stored}
            in_force = {(d.dataset_key, d.example_id, d.reviewer): (d.status, d.new_label, d.note)
                        for d in stored if d.undone_at is None}
            for row in rows:
                status = ("confirmed" if row.status == "relabeled" and row.new_label == row.example.given_label
                          else row.status)
                decision = LabelDecision(0, row.dataset_key, row.example.example_id, row.example.given_label,
                                         row.new_label, status, row.reviewer or "", row.decided_at or _now(),
                                         row.undone_at, row.undone_by, row.example.text_hash,
                                         (row.note or "").strip() or None, row.group_id)
                who = (decision.dataset_key, decision.example_id, decision.reviewer)
                if row.decided_at is not None and (found := by_time.get(_timed_key(decision))) is not None:
                    if found.undone_at is None and decision.undone_at is not None:
                        db.execute(sa.text("UPDATE decisions SET undone_at = :at, undone_by = :by WHERE id = :id"),
                                   {"at": decision.undone_at, "by": decision.undone_by, "id": found.id})
                        by_time[_timed_key(decision)] = replace(found, undone_at=decision.undone_at)
                        marked += 1
                    else:
                        already += 1
                    continue
                if row.decided_at is None and in_force.get(who) == (status, decision.new_label, decision.note):
                    already += 1
                    continue
                written = self._insert(db, decision.dataset_key, row.example, decision.new_label, status,
                                       decision.reviewer, decision.note, decision.group_id, decision.decided_at,
                                       (decision.undone_at, decision.undone_by))
                by_time[_timed_key(written)] = written
                if written.undone_at is None:
                    in_force[who] = (status, written.new_label, written.note)
                added += 1
                last_id = written.id
        if last_id:
            self._after_write(last_id)
        return ImportCounts(added, already, marked)

    # --- reads ---------------------------------------------------------------------------------

    def history_frame(self, dataset_key: str | None = None) -> pd.DataFrame:
        """Every row of one dataset's history (None: of every dataset), undone ones included, in
        the order they were written; columns COLUMNS."""
        query, params = SELECT_ALL, {}
        if dataset_key is not None:
            query, params = query + " WHERE dataset_key = :dataset", {"dataset": dataset_key}
        with self._read() as db:
            rows = db.execute(sa.text(query + " ORDER BY id"), params).fetchall()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(COLUMNS), dtype=object)

    def in_force(self, dataset_key: str, per_reviewer: bool = False) -> pd.DataFrame:
        """The decisions in force in one dataset, resets left out: one per example (its latest row
        not undone) or, with per_reviewer, one per example and reviewer (who decided what).

        Columns: IN_FORCE_COLUMNS (decision_id is the row's id in the history); in the order the
        decisions were made. Which of them apply to a loaded dataset is
        losslens.review.binding.bind_decisions's job.
        """
        group = "example_id, reviewer" if per_reviewer else "example_id"
        with self._read() as db:
            rows = db.execute(sa.text(
                f"""SELECT d.id, d.example_id, d.text_hash, d.original_label, d.new_label, d.status,
                          d.reviewer, d.decided_at, d.note
                   FROM decisions d
                   JOIN (SELECT MAX(id) AS id FROM decisions
                         WHERE dataset_key = :dataset AND undone_at IS NULL GROUP BY {group}) m
                     ON d.id = m.id
                   WHERE d.status != 'unreviewed'
                   ORDER BY d.id"""), {"dataset": dataset_key}).fetchall()
        return pd.DataFrame([tuple(r) for r in rows], columns=IN_FORCE_COLUMNS, dtype=object)

    def history(self, dataset_key: str, example_id: str) -> list[LabelDecision]:
        """Every row for one example, oldest first, undone ones included."""
        with self._read() as db:
            rows = db.execute(sa.text(f"{SELECT_ALL} WHERE dataset_key = :dataset AND example_id = :example ORDER BY id"),
                              {"dataset": dataset_key, "example": str(example_id)}).fetchall()
        return [_decision(row) for row in rows]

    def dataset_keys(self) -> list[str]:
        """Every dataset key with at least one row, sorted."""
        with self._read() as db:
            rows = db.execute(sa.text("SELECT DISTINCT dataset_key FROM decisions ORDER BY 1")).fetchall()
        return [row[0] for row in rows]

    # --- internals -----------------------------------------------------------------------------

    @staticmethod
    def _latest(db: sa.Connection, dataset_key: str, example_id: str) -> LabelDecision | None:
        row = db.execute(sa.text(f"""{SELECT_ALL} WHERE dataset_key = :dataset AND example_id = :example
                                    AND undone_at IS NULL ORDER BY id DESC LIMIT 1"""),
                         {"dataset": dataset_key, "example": example_id}).fetchone()
        return None if row is None else _decision(row)

    @staticmethod
    def _insert(db: sa.Connection, dataset_key: str, example: ExampleRef, new_label: str | None, status: str,
                reviewer: str, note: str | None, group_id: str | None, decided_at: str | None = None,
                undone: tuple[str | None, str | None] = (None, None)) -> LabelDecision:
        values = {"dataset_key": dataset_key, "example_id": example.example_id, "original_label": example.given_label,
                  "new_label": new_label, "status": status, "reviewer": reviewer or "",
                  "decided_at": decided_at or _now(), "undone_at": undone[0], "undone_by": undone[1],
                  "text_hash": example.text_hash, "note": note, "group_id": group_id}
        new_id = db.execute(sa.text(
            f"INSERT INTO decisions ({', '.join(COLUMNS[1:])}) VALUES ({', '.join(':' + c for c in COLUMNS[1:])}) "
            "RETURNING id"), values).scalar_one()
        return _decision((new_id, *values.values()))


def _timed_key(decision: LabelDecision) -> tuple:
    """What makes a decision with a time the same decision in another store."""
    return (decision.dataset_key, decision.example_id, decision.reviewer, decision.status, decision.new_label,
            decision.decided_at)


def _decision(row: tuple) -> LabelDecision:
    """A row of the decisions table, columns as in COLUMNS, as a LabelDecision."""
    return LabelDecision(*row[:8], undone_at=row[8], undone_by=row[9], text_hash=row[10], note=row[11],
                         group_id=row[12])
