"""The decision store: reviewers' decisions in a SQL database through SQLAlchemy 2.x Core (SQLite
by default, PostgreSQL for a team; see losslens.store.engine). Every change is a row of the
`decisions` table (losslens.store.schema); an example's state is its decision in force
(losslens.store.in_force).

Decisions are keyed by the dataset's name (`LabeledTexts.name`, not its content hash) and the
example id, with the example's text hash and given label, so a decision follows its example across
re-scoring with another model and reloads of an edited file, and never lands on another example
(see losslens.review.binding). Labels are stored as NAMES, so decisions survive a re-encoding of the
label column.

A row with status "unreviewed" records a reset. `undo_last` marks the latest decision as undone
(the row is kept, with `undone_at`/`undone_by`), so the previous state is in force again and
history is whole. A bulk decision (`record_group`) writes one row per example under one
`group_id`, and one undo takes the whole group back. Any decision may carry a free-text `note`.

Durability: every write is its own short transaction, so a killed writer loses at most the write
in flight and two processes writing at once lose nothing. The schema is brought up to date when a
store opens (losslens.store.migrations).
"""
from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from losslens.errors import StoreError
from losslens.store.engine import read_connection, store_engine, store_location, write_transaction
from losslens.store import backups, importing
from losslens.store.importing import ImportCounts, ImportedDecision, merge_batch, plan_import
from losslens.store.in_force import is_decision_in_force, is_in_force
from losslens.store.migrations import migrate
from losslens.store.records import (ExampleRef, LabelDecision, as_decisions, clean_note, insert_decisions,
                                    mark_undone, stored_status, utc_now)
from losslens.store.schema import decisions

_IN_FORCE_SELECT = sa.select(decisions.c.id.label("decision_id"), decisions.c.example_id, decisions.c.text_hash,
                             decisions.c.original_label, decisions.c.new_label, decisions.c.status,
                             decisions.c.reviewer, decisions.c.decided_at, decisions.c.note)
IN_FORCE_COLUMNS: list[str] = list(_IN_FORCE_SELECT.selected_columns.keys())


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
            with self.transaction() as db:
                migrate(db)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot reach the decision database {self._shown_url()}: {_first_line(exc)}") from None
        except sa.exc.DBAPIError as exc:   # e.g. a PostgreSQL role without CREATE on its schema
            raise StoreError(f"the decision database {self._shown_url()} refused to set up LossLens's tables: "
                             f"{_first_line(exc)} (the role needs CREATE on its schema, or a DBA runs LossLens "
                             "once with a role that has it)") from None
        self._backed_up = backups.backed_up_id(self.path) if self.path is not None else 0

    def _shown_url(self) -> str:
        """The store's URL as it may be shown: without its password, at most 100 characters."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)[:100]

    def transaction(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """One write transaction (IMMEDIATE on SQLite), also for modules that keep their own tables
        here (shared queues)."""
        return write_transaction(self.engine)

    def connection(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A read connection, also for modules that keep their own tables here."""
        return read_connection(self.engine)

    def backup(self) -> Path | None:
        """Back a SQLite store up now (SQLite's online backup API); None when it holds no
        decision, or for another database."""
        if self.path is None:
            return None
        with self.connection() as db:
            last = db.execute(sa.select(sa.func.max(decisions.c.id))).scalar()
        if not last:
            return None
        self._backed_up = last
        return backups.backup(self.path, last)

    def _after_write(self, last_id: int) -> None:
        """A backup every BACKUP_EVERY decisions (a damaged store loses at most that many)."""
        if self.path is not None and last_id // backups.BACKUP_EVERY > self._backed_up // backups.BACKUP_EVERY:
            self.backup()

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
        session: str | None = None,
    ) -> LabelDecision:
        """Append one decision; it comes into force. Labels are names; text_hash is
        `losslens.sources.datasets.text_hash` of the example's text, which binds the decision to
        that text (None: it cannot be checked against one and is never applied, see
        losslens.review.binding).

        status "relabeled" needs a new_label (one equal to the given label is stored as
        "confirmed"); for other statuses new_label may be None. `session` names the app tab (or
        other client) making it, for `undo_last(..., session=)`.
        """
        (decision,) = self._record(dataset_key, [ExampleRef(str(example_id), text_hash, original_label)],
                                   new_label, status, reviewer, note, group=False, session=session)
        return decision

    def record_group(self, dataset_key: str, examples: Sequence[ExampleRef], new_label: str | None,
                     status: str, reviewer: str = "", note: str | None = None,
                     session: str | None = None) -> list[LabelDecision]:
        """One decision for each of `examples`, in one transaction under one group id: one
        `undo_last` takes them all back. A status "confirmed" keeps each example's given label."""
        return self._record(dataset_key, list(examples), new_label, status, reviewer, note, group=True,
                            session=session)

    def _record(self, dataset_key: str, examples: list[ExampleRef], new_label: str | None, status: str,
                reviewer: str, note: str | None, group: bool, session: str | None) -> list[LabelDecision]:
        statuses = [stored_status(status, new_label, example) for example in examples]
        group_id = uuid.uuid4().hex if group else None
        unsaved = [LabelDecision(0, str(dataset_key), example.example_id, example.given_label, new_label, stored,
                                 reviewer or "", utc_now(), text_hash=example.text_hash, note=clean_note(note),
                                 group_id=group_id, session=session)
                   for example, stored in zip(examples, statuses)]
        with self.transaction() as db:
            written = insert_decisions(db, unsaved)
        if written:
            self._after_write(written[-1].id)
        return written

    def reset(self, dataset_key: str, example_id: str, reviewer: str = "",
              session: str | None = None) -> LabelDecision | None:
        """Put one example back to "unreviewed" (recorded as a row, by `session` as in `record`);
        None if it already was."""
        with self.transaction() as db:
            row = db.execute(sa.select(decisions).where(decisions.c.dataset_key == dataset_key,
                                                        decisions.c.example_id == str(example_id),
                                                        is_in_force(per_reviewer=False))).first()
            if row is None or row.status == "unreviewed":
                return None
            (written,) = insert_decisions(db, [LabelDecision(
                0, dataset_key, str(example_id), row.original_label, None, "unreviewed", reviewer or "", utc_now(),
                text_hash=row.text_hash, session=session)])
        return written

    def undo_last(self, dataset_key: str, reviewer: str | None = None,
                  session: str | None = None) -> list[LabelDecision]:
        """Undo the latest decision not undone in this dataset (by `reviewer` if given, and made
        in `session` if given: two app tabs under one name each undo their own) and, when it was
        part of a bulk decision, the rest of its group.

        The rows are marked undone (kept in history); each example's previous decision comes back
        into force. Repeated calls walk further back. Returns the undone decisions ([] if none).
        """
        not_undone = [decisions.c.dataset_key == dataset_key, decisions.c.undone_at.is_(None)]
        if reviewer is not None:
            not_undone.append(decisions.c.reviewer == reviewer)
        if session is not None:
            not_undone.append(decisions.c.session == session)
        with self.transaction() as db:
            latest = db.execute(sa.select(decisions).where(*not_undone)
                                .order_by(decisions.c.id.desc()).limit(1)).first()
            if latest is None:
                return []
            undone = (decisions.c.id == latest.id if latest.group_id is None else
                      sa.and_(decisions.c.dataset_key == dataset_key, decisions.c.group_id == latest.group_id,
                              decisions.c.undone_at.is_(None)))
            return mark_undone(db, undone, utc_now(), reviewer if reviewer is not None else latest.reviewer)

    def import_decisions(self, rows: Sequence[ImportedDecision]) -> ImportCounts:
        """Append `rows` in order, skipping those already stored, so importing a file twice adds
        nothing; all rows are checked before any is written, then merged in short transactions
        of IMPORT_BATCH_ROWS that let other writers in (the rules: losslens.store.importing)."""
        plan = plan_import(rows)
        added = already = marked = last_id = 0
        for start in range(0, len(rows), importing.IMPORT_BATCH_ROWS):
            if start and self.path is not None:
                time.sleep(importing.IMPORT_PAUSE_SECONDS)   # SQLite: a waiting writer takes the lock now
            with self.transaction() as db:
                counts, written = merge_batch(db, plan, start, start + importing.IMPORT_BATCH_ROWS)
            added, already, marked = added + counts.added, already + counts.already_there, marked + counts.marked_undone
            last_id = written[-1].id if written else last_id
        if last_id:
            self._after_write(last_id)
        return ImportCounts(added, already, marked)

    # --- reads ---------------------------------------------------------------------------------

    def history_frame(self, dataset_key: str | None = None) -> pd.DataFrame:
        """Every row of one dataset's history (None: of every dataset), undone ones included, in
        the order they were written; columns those of the decisions table."""
        query = sa.select(decisions).order_by(decisions.c.id)
        if dataset_key is not None:
            query = query.where(decisions.c.dataset_key == dataset_key)
        with self.connection() as db:
            return _frame(db.execute(query))

    def in_force(self, dataset_key: str, per_reviewer: bool = False) -> pd.DataFrame:
        """The decisions in force in one dataset, resets left out: one per example (its latest row
        not undone) or, with per_reviewer, one per example and reviewer (who decided what).

        Columns: IN_FORCE_COLUMNS (decision_id is the row's id in the history); in the order the
        decisions were made. Which of them apply to a loaded dataset is
        losslens.review.binding.bind_decisions's job.
        """
        query = _IN_FORCE_SELECT.where(decisions.c.dataset_key == dataset_key,
                                       is_decision_in_force(per_reviewer=per_reviewer)).order_by(decisions.c.id)
        with self.connection() as db:
            return _frame(db.execute(query))

    def history(self, dataset_key: str, example_id: str) -> list[LabelDecision]:
        """Every row for one example, oldest first, undone ones included."""
        with self.connection() as db:
            return as_decisions(db.execute(sa.select(decisions).where(
                decisions.c.dataset_key == dataset_key, decisions.c.example_id == str(example_id))
                .order_by(decisions.c.id)))

    def dataset_keys(self) -> list[str]:
        """Every dataset key with at least one row, sorted."""
        with self.connection() as db:
            return list(db.execute(sa.select(decisions.c.dataset_key).distinct().order_by(decisions.c.dataset_key))
                        .scalars())


def _first_line(exc: sa.exc.DBAPIError) -> str:
    """The first line of a database driver's error (no SQL, no parameters), at most 120 characters."""
    return (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0][:120]


def _frame(result: sa.Result) -> pd.DataFrame:
    """A query's rows as a frame of Python objects, columns named as the query's."""
    return pd.DataFrame([tuple(row) for row in result], columns=list(result.keys()), dtype=object)
