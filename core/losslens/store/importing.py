"""Decisions made elsewhere (another store's history, a file of decisions) merged into a store's
history without doubling what it already holds: the job behind `DecisionStore.import_decisions`.

A row with a time is already stored when a row with the same dataset, example, reviewer, status,
new label and time is (when the import has it undone and the store does not, the stored row is
marked undone); a row without a time when the reviewer's decision in force on that example has its
status, new label and note, and all of an import's rows without a time on one example by one
reviewer are when that decision says what the last of them says (a file that decides an example
twice ends where it ended before). So importing a file twice adds nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa

from losslens.store.in_force import is_in_force
from losslens.store.records import (ExampleRef, LabelDecision, as_decisions, clean_note, insert_decisions,
                                    stored_status, utc_now)
from losslens.store.schema import decisions


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


def merge_imported(db: sa.Connection, rows: Sequence[ImportedDecision]) -> tuple[ImportCounts, list[LabelDecision]]:
    """Append `rows` in order inside the caller's write transaction, skipping those already
    stored (module docstring); every row is checked (StoreError) before any is written. Returns
    the counts and the decisions added."""
    statuses = [stored_status(row.status, row.new_label, row.example) for row in rows]
    if not rows:
        return ImportCounts(0, 0, 0), []
    in_datasets = decisions.c.dataset_key.in_(sorted({row.dataset_key for row in rows}))
    by_time = {_timed_key(d): d for d in _decisions(db, in_datasets)}
    in_force = {_reviewer_key(d): (d.status, d.new_label, d.note)
                for d in _decisions(db, in_datasets, is_in_force(per_reviewer=True))}
    last_untimed = {}   # reviewer key -> what the import's last row without a time there says
    for row, status in zip(rows, statuses):
        if row.decided_at is None:
            last_untimed[_row_key(row)] = (status, row.new_label, clean_note(row.note))
    settled: dict[tuple[str, str, str], bool] = {}   # reviewer key -> its rows without a time are there
    added: list[LabelDecision] = []
    already = marked = 0
    for row, status in zip(rows, statuses):
        decision = LabelDecision(0, row.dataset_key, row.example.example_id, row.example.given_label, row.new_label,
                                 status, row.reviewer or "", row.decided_at or utc_now(), row.undone_at, row.undone_by,
                                 row.example.text_hash, clean_note(row.note), row.group_id)
        if row.decided_at is not None and (found := by_time.get(_timed_key(decision))) is not None:
            if found.undone_at is None and decision.undone_at is not None:
                db.execute(sa.update(decisions).where(decisions.c.id == found.id)
                           .values(undone_at=decision.undone_at, undone_by=decision.undone_by))
                by_time[_timed_key(decision)] = replace(found, undone_at=decision.undone_at)
                marked += 1
            else:
                already += 1
            continue
        key = _reviewer_key(decision)
        if row.decided_at is None and settled.setdefault(key, in_force.get(key) == last_untimed[key]):
            already += 1
            continue
        if row.decided_at is None and in_force.get(key) == (status, decision.new_label, decision.note):
            already += 1
            continue
        (written,) = insert_decisions(db, [decision])
        by_time[_timed_key(written)] = written
        if written.undone_at is None:
            in_force[_reviewer_key(written)] = (status, written.new_label, written.note)
        added.append(written)
    return ImportCounts(len(added), already, marked), added


def _decisions(db: sa.Connection, *where: sa.ColumnElement[bool]) -> list[LabelDecision]:
    return as_decisions(db.execute(sa.select(decisions).where(*where).order_by(decisions.c.id)))


def _timed_key(decision: LabelDecision) -> tuple:
    """What makes a decision with a time the same decision in another store."""
    return (decision.dataset_key, decision.example_id, decision.reviewer, decision.status, decision.new_label,
            decision.decided_at)


def _reviewer_key(decision: LabelDecision) -> tuple[str, str, str]:
    return decision.dataset_key, decision.example_id, decision.reviewer


def _row_key(row: ImportedDecision) -> tuple[str, str, str]:
    return row.dataset_key, row.example.example_id, row.reviewer or ""
