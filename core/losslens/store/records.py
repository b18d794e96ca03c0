"""One decision: what a row of the decisions table holds (LabelDecision), what it is about
(ExampleRef), the checks every writer makes before storing one (`stored_status`), and the only two
writes to the history: appending rows (`insert_decisions`) and marking rows undone (`mark_undone`).
Both recount the shared-queue items of the examples they touch in the same transaction
(losslens.store.queue_counts), unless told that the caller recounts once for many writes (an
import batch). Labels are names; times are UTC ISO-8601 strings.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

import sqlalchemy as sa

from losslens.errors import StoreError, excerpt
from losslens.store.queue_counts import recount
from losslens.store.schema import decisions

STATUSES: tuple[str, ...] = ("unreviewed", "relabeled", "confirmed", "ambiguous", "removed")
DECIDED_STATUSES: tuple[str, ...] = STATUSES[1:]


@dataclass(frozen=True)
class LabelDecision:
    """One row of the decision history (fields named as the decisions table's columns)."""

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
    session: str | None = None


@dataclass(frozen=True)
class ExampleRef:
    """The example a decision is about: its id, losslens.sources.datasets.text_hash of its text (None:
    the decision cannot be checked against a text, and is never applied) and its given label (a name)."""

    example_id: str
    text_hash: str | None
    given_label: str | None


def stored_status(status: str, new_label: object, example: ExampleRef) -> str:
    """The status a decision on `example` is stored with: `status` itself, except that a relabel
    to the example's given label confirms it. StoreError for an unknown status, a label that is
    not a name (str) or None, or "relabeled" without a new label."""
    if status not in STATUSES:
        raise StoreError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    _check_label(new_label, "new_label")
    _check_label(example.given_label, "original_label")
    if status == "relabeled" and new_label is None:
        raise StoreError(f"example {example.example_id!r}: status 'relabeled' needs a new_label")
    return "confirmed" if status == "relabeled" and new_label == example.given_label else status


def _check_label(value: object, name: str) -> None:
    if value is not None and not isinstance(value, str):
        raise StoreError(f"{name} must be a label name (str) or None, got {value!r}")


def clean_note(note: str | None) -> str | None:
    """A note as stored: stripped; None when it has no text."""
    return (note or "").strip() or None


def utc_now() -> str:
    """Now, as the store writes times (UTC, microseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def as_decisions(result: sa.Result) -> list[LabelDecision]:
    """The rows of a query over the decisions table's columns, read by column name."""
    return [LabelDecision(**row._mapping) for row in result]


_WRITTEN = tuple(column.name for column in decisions.columns if column.name != "id")


def refuse_nul(decision: LabelDecision) -> None:
    """StoreError, in one line, when a text of `decision` holds a NUL character (PostgreSQL cannot
    store one; SQLite would keep a string no other tool reads alike)."""
    for name, value in vars(decision).items():
        if isinstance(value, str) and "\x00" in value:
            raise StoreError(f"the {name} of a decision on example {excerpt(decision.example_id)} holds a NUL "
                             "character (\\x00), which the decision store does not keep; remove it")


def insert_decisions(db: sa.Connection, unsaved: list[LabelDecision], *, recount: bool = True) -> list[LabelDecision]:
    """Append `unsaved` to the history in order, in one call (SQLAlchemy's insertmanyvalues); their
    `id` is not used; all are checked (refuse_nul) before any is written. recount=False: the caller
    recounts their examples (`recount_examples`) before its transaction ends. The decisions as
    stored, with their ids."""
    if not unsaved:
        return []
    for decision in unsaved:
        refuse_nul(decision)
    values = [{name: getattr(decision, name) for name in _WRITTEN} for decision in unsaved]
    ids = db.execute(sa.insert(decisions).returning(decisions.c.id, sort_by_parameter_order=True),
                     values).scalars().all()
    written = [LabelDecision(id=new_id, **row) for new_id, row in zip(ids, values)]
    if recount:
        recount_examples(db, written)
    return written


def mark_undone(db: sa.Connection, where: sa.ColumnElement[bool], undone_at: str, undone_by: str | None, *,
                recount: bool = True) -> list[LabelDecision]:
    """Mark the rows of the history that `where` selects undone (kept, with who and when); each
    example's previous decision comes back into force (recount: as in `insert_decisions`). The rows
    as they now stand, oldest first."""
    rows = as_decisions(db.execute(sa.select(decisions).where(where).order_by(decisions.c.id)))
    db.execute(sa.update(decisions).where(where).values(undone_at=undone_at, undone_by=undone_by))
    if recount:
        recount_examples(db, rows)
    return [replace(row, undone_at=undone_at, undone_by=undone_by) for row in rows]


def recount_examples(db: sa.Connection, changed: list[LabelDecision]) -> None:
    """Recount the shared-queue items of the examples `changed` touched, dataset by dataset."""
    by_dataset: dict[str, set[str]] = {}
    for decision in changed:
        by_dataset.setdefault(decision.dataset_key, set()).add(decision.example_id)
    for dataset_key, example_ids in sorted(by_dataset.items()):
        recount(db, dataset_key, example_ids)
