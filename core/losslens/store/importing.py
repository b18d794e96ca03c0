"""Decisions made elsewhere (another store's history, a file of decisions) merged into a store's
history without doubling what it already holds: the job behind `DecisionStore.import_decisions`.

A row with a time is already stored when a row with the same dataset, example, reviewer, status,
new label and time is (when the import has it undone and the store does not, the stored row is
marked undone); a row without a time when the reviewer's decision in force on that example has its
status, new label and note, and all of an import's rows without a time on one example by one
reviewer are when that decision says what the last of them says (a file that decides an example
twice ends where it ended before). So importing a file twice adds nothing.

An import is checked whole before any row is written (`plan_import`), then merged in batches of
IMPORT_BATCH_ROWS, each its own short write transaction with a pause between them, so reviewers'
decisions get through while a large file imports; each batch recounts the shared-queue items of
the examples it changed once, at its end. A killed import leaves the batches before it;
importing the file again completes it (nothing doubles).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import sqlalchemy as sa

from losslens.store.in_force import is_in_force
from losslens.store.records import (ExampleRef, LabelDecision, as_decisions, clean_note, insert_decisions,
                                    mark_undone, recount_examples, refuse_nul, stored_status, utc_now)
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


IMPORT_BATCH_ROWS = 2000   # rows merged per write transaction
IMPORT_PAUSE_SECONDS = 0.15   # between two batches on SQLite: longer than a waiting writer's longest busy-retry sleep


@dataclass
class ImportPlan:
    """An import checked as a whole before any of it is written, merged batch by batch
    (`merge_batch`): its rows, each row's stored status, and per reviewer key (dataset, example
    id, reviewer) what the last of its rows without a time says and, once known, whether its rows
    without a time are already there."""

    rows: Sequence[ImportedDecision]
    statuses: list[str]
    last_untimed: dict[tuple[str, str, str], tuple]
    settled: dict[tuple[str, str, str], bool] = field(default_factory=dict)


def plan_import(rows: Sequence[ImportedDecision]) -> ImportPlan:
    """Check every row (StoreError for the first bad one: status, labels, NUL in a text) and
    plan the import; O(rows)."""
    statuses = [stored_status(row.status, row.new_label, row.example) for row in rows]
    last_untimed = {}
    for row, status in zip(rows, statuses):
        refuse_nul(_as_decision(row, status))
        if row.decided_at is None:
            last_untimed[_row_key(row)] = (status, row.new_label, clean_note(row.note))
    return ImportPlan(rows, statuses, last_untimed)


def merge_batch(db: sa.Connection, plan: ImportPlan, start: int, stop: int) -> tuple[ImportCounts, list[LabelDecision]]:
    """Append plan.rows[start:stop] in order inside the caller's write transaction, skipping those
    already stored (module docstring). Reads only the stored rows of the batch's examples (by the
    decisions_by_example index), so a batch costs what its rows do, not what the history holds.
    Returns the batch's counts and the decisions added."""
    rows, statuses = plan.rows[start:stop], plan.statuses[start:stop]
    if not rows:
        return ImportCounts(0, 0, 0), []
    ids_by_dataset: dict[str, set[str]] = {}
    for row in rows:
        ids_by_dataset.setdefault(row.dataset_key, set()).add(row.example.example_id)
    examples = sa.or_(*(sa.and_(decisions.c.dataset_key == dataset, decisions.c.example_id.in_(sorted(ids)))
                        for dataset, ids in ids_by_dataset.items()))
    by_time = {_timed_key(d): d for d in _decisions(db, examples)}
    in_force = {_reviewer_key(d): (d.status, d.new_label, d.note)
                for d in _decisions(db, examples, is_in_force(per_reviewer=True))}
    added: list[LabelDecision] = []
    changed: list[LabelDecision] = []   # marked undone
    already = marked = 0
    for row, status in zip(rows, statuses):
        decision = _as_decision(row, status)
        if row.decided_at is not None and (found := by_time.get(_timed_key(decision))) is not None:
            if found.undone_at is None and decision.undone_at is not None:
                (undone,) = mark_undone(db, decisions.c.id == found.id, decision.undone_at, decision.undone_by,
                                        recount=False)
                changed.append(undone)
                by_time[_timed_key(decision)] = replace(found, undone_at=decision.undone_at)
                marked += 1
            else:
                already += 1
            continue
        key = _reviewer_key(decision)
        if row.decided_at is None and (
                plan.settled.setdefault(key, in_force.get(key) == plan.last_untimed[key])
                or in_force.get(key) == (status, decision.new_label, decision.note)):
            already += 1
            continue
        (written,) = insert_decisions(db, [decision], recount=False)
        by_time[_timed_key(written)] = written
        if written.undone_at is None:
            in_force[key] = (status, written.new_label, written.note)
        added.append(written)
    recount_examples(db, added + changed)   # once for the batch: the shared queues' counts
    return ImportCounts(len(added), already, marked), added


def _as_decision(row: ImportedDecision, status: str) -> LabelDecision:
    """The row as the decisions table stores it (a row without a time: made now)."""
    return LabelDecision(0, row.dataset_key, row.example.example_id, row.example.given_label, row.new_label, status,
                         row.reviewer or "", row.decided_at or utc_now(), row.undone_at, row.undone_by,
                         row.example.text_hash, clean_note(row.note), row.group_id)


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
