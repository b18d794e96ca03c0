"""Decision history files: `losslens decisions export | import`.

Export writes a store's whole history (undone rows included) as CSV or Parquet, one row per
decision in the order it was made: EXPORT_COLUMNS. Import reads such a file back into any store
(SQLite -> PostgreSQL, a restore, a merge) or a file of decisions made elsewhere: columns `id`
(or `example_id`), `new_label` and/or `status`, and optionally `reviewer`, `decided_at` (or
`time`, ISO-8601; without a zone, UTC), `note`.

A history CSV (unless raw) neutralises cells a spreadsheet would run as formulas (a leading ');
its last column, NEUTRALISED, names in each row the columns that got one, so import takes off
exactly those (a ' the history itself holds stays). Read back, a history export gives the
identical history: an empty reviewer (or undone_by of an undone row) is the empty name, blank
cells are kept as written. Rows are applied in file order (a later row
overrides an earlier one, as in the app); importing the same file twice adds nothing (see
DecisionStore.import_decisions).

A file that is not a LossLens history export needs the dataset it is about (`--data`): every id
must be one of its examples and every new label one of its labels, else nothing is imported and
one line names the first bad row.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from losslens.sources.datasets import LabeledTexts, text_hash
from losslens.errors import DataError, excerpt
from losslens.writers import check_export_path, neutralise_formulas, write_export
from losslens.store.decisions import DecisionStore
from losslens.store.importing import ImportCounts, ImportedDecision
from losslens.store.records import STATUSES, ExampleRef
from losslens.sources.files import read_table

EXPORT_COLUMNS = ["dataset", "id", "original_label", "new_label", "status", "reviewer", "decided_at", "undone_at",
                  "undone_by", "note", "text_hash", "group_id"]
HISTORY_MARKERS = ("dataset", "text_hash")   # the columns that make a file a LossLens history export
NEUTRALISED = "neutralised"   # history CSV: the columns (space-separated) whose cell in this row got a leading '


def history_export(store: DecisionStore, dataset: str | None = None) -> pd.DataFrame:
    """The store's history (one dataset's, or every one's) as EXPORT_COLUMNS; empty cells None."""
    frame = store.history_frame(dataset)
    return frame.rename(columns={"dataset_key": "dataset"}).drop(columns="id").rename(
        columns={"example_id": "id"})[EXPORT_COLUMNS]


def export_history(store: DecisionStore, path: str | Path, dataset: str | None = None, raw: bool = False) -> int:
    """Write history_export to `path` (.csv: formula cells neutralised unless `raw`, so a note
    starting with = shows with a leading ', and the NEUTRALISED column says where; .parquet:
    exact). Either reads back (read_decisions) as the identical history. Returns the number of rows."""
    path = check_export_path(path, folder_ok=False)
    frame = history_export(store, dataset)
    if path.suffix.lower() == ".csv" and not raw:
        frame = neutralised_history(frame)
    write_export(frame, path, raw=True)
    return len(frame)


def neutralised_history(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with formula cells neutralised (losslens.export.neutralise_formulas) and a last
    column NEUTRALISED naming, per row, the columns whose cell got the leading '."""
    safe, _ = neutralise_formulas(frame)
    changed = [(safe[column] != frame[column]).to_numpy(dtype=bool) & frame[column].notna().to_numpy()
               for column in frame.columns]
    marks = [" ".join(c for c, mask in zip(frame.columns, changed) if mask[row]) or None for row in range(len(frame))]
    return safe.assign(**{NEUTRALISED: marks})


def read_decisions(path: str | Path, data: LabeledTexts | None = None,
                   reviewer: str = "imported") -> list[ImportedDecision]:
    """The rows of a decision file as decisions to import (DataError for anything unusable).

    With `data`, every row is about it: ids and new labels are checked against it, and the given
    label and text hash come from it where the file has none. Without, the file must be a
    LossLens history export (it names its datasets and text hashes). `reviewer` is used for
    rows without one.
    """
    frame = read_table(path)
    name = excerpt(Path(path).name, 80)
    columns = set(frame.columns)
    id_column = next((c for c in ("id", "example_id") if c in columns), None)
    if id_column is None:
        raise DataError(f"{name} has no id column: give each decision's example in a column `id` "
                        f"(found {excerpt(', '.join(frame.columns), 120)})")
    if "new_label" not in columns and "status" not in columns:
        raise DataError(f"{name} has neither a new_label nor a status column: nothing says what was decided")
    if data is None and not set(HISTORY_MARKERS) <= columns:
        raise DataError(f"{name} is not a LossLens history export (no dataset and text_hash columns): "
                        "give --data DATASET so its ids and labels can be checked")
    history = set(HISTORY_MARKERS) <= columns
    cells = {column: [_cell(v, exact=history) for v in frame[column].tolist()] for column in frame.columns}
    n = len(frame)
    if NEUTRALISED in cells:
        _undo_neutralising(cells, cells.pop(NEUTRALISED))

    def column(*names: str) -> list[str | None]:
        return _column(cells, names, n)

    ids = [str(v) if v is not None else None for v in cells[id_column]]
    new_labels, statuses = column("new_label"), column("status")
    datasets = column("dataset")
    given, hashes = column("original_label"), column("text_hash")
    times = [_time(v, row, name, "decided_at") for row, v in enumerate(column("decided_at", "time"))]
    undone_at = [_time(v, row, name, "undone_at") for row, v in enumerate(column("undone_at"))]
    # a history export writes the empty name as an empty cell: it is the empty name, not `reviewer`
    reviewers = [r if r is not None else ("" if history and "reviewer" in cells else reviewer)
                 for r in column("reviewer")]
    undone_by = [by if by is not None or undone_at[row] is None or not history else ""
                 for row, by in enumerate(column("undone_by"))]
    notes, group_ids = column("note"), column("group_id")
    positions = np.full(n, -1)
    if data is not None:
        positions = data.id_index.get_indexer(np.asarray([i or "" for i in ids], dtype=object))
    decisions = []
    for row in range(n):
        where = f"{name} data row {row + 1}"
        if ids[row] is None:
            raise DataError(f"{where} has no id")
        status = (statuses[row] or ("relabeled" if new_labels[row] is not None else "")).strip().lower()
        if status not in STATUSES:
            raise DataError(f"{where}: status {excerpt(statuses[row] or '')} is not one of {', '.join(STATUSES)}")
        if status == "relabeled" and new_labels[row] is None:
            raise DataError(f"{where}: status relabeled needs a new_label")
        dataset = datasets[row]
        if data is not None:
            if positions[row] < 0:
                raise DataError(f"{where}: id {excerpt(ids[row])} is not an example of {excerpt(data.name, 80)} "
                                f"({_count_unknown(positions)} of {n} rows name unknown ids; --id-col names the dataset's "
                                "id column); nothing imported")
            if new_labels[row] is not None and new_labels[row] not in data.label_names:
                raise DataError(f"{where}: new_label {excerpt(new_labels[row])} is not one of "
                                f"{excerpt(', '.join(data.label_names), 120)}; nothing imported")
            if dataset is not None and dataset != data.name:
                raise DataError(f"{where} is about dataset {excerpt(dataset, 80)}, not {excerpt(data.name, 80)} "
                                "(--name sets the dataset's name); nothing imported")
            dataset = data.name
            position = int(positions[row])
            given_label = given[row] if given[row] is not None else data.label_names[data.labels[position]]
            hashed = hashes[row] if hashes[row] is not None else text_hash(str(data.texts[position]))
        else:
            if dataset is None:
                raise DataError(f"{where} has no dataset")
            given_label, hashed = given[row], hashes[row]
        decisions.append(ImportedDecision(
            dataset_key=dataset, example=ExampleRef(ids[row], hashed, given_label), new_label=new_labels[row],
            status=status, reviewer=reviewers[row], decided_at=times[row],
            note=notes[row], undone_at=undone_at[row], undone_by=undone_by[row], group_id=group_ids[row]))
    return decisions


def import_history(store: DecisionStore, path: str | Path, data: LabeledTexts | None = None,
                   reviewer: str = "imported") -> ImportCounts:
    """read_decisions, then DecisionStore.import_decisions (all rows checked before any is written)."""
    return store.import_decisions(read_decisions(path, data, reviewer))


def _cell(value: object, exact: bool = False) -> str | None:
    """A file cell as text; empty cells (and NaN/None from Parquet or JSON) are None, and so are
    blank ones unless `exact` (a history export: its cells are kept as written)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    text = str(value)
    return text if (text if exact else text.strip()) else None


def _column(cells: dict[str, list[str | None]], names: Sequence[str], n: int) -> list[str | None]:
    """The cells of the first of `names` the file has, else n Nones; called once per column, never
    per row (a list per row made a 200,000-row import quadratic)."""
    found = next((c for c in names if c in cells), None)
    return cells[found] if found else [None] * n


def _undo_neutralising(cells: dict[str, list[str | None]], marks: list[str | None]) -> None:
    """Take off the leading ' that a history CSV export added to the cells its NEUTRALISED column
    names (in place); any other ' stays."""
    for row, mark in enumerate(marks):
        for column in (mark or "").split():
            value = cells.get(column, [None] * (row + 1))[row]
            if value is not None and value.startswith("'"):
                cells[column][row] = value[1:]


def _time(value: str | None, row: int, name: str, column: str) -> str | None:
    """An ISO-8601 time as the store writes it (UTC, microseconds); a zone-less time is UTC."""
    if value is None:
        return None
    try:   # pandas also reads words such as "now"; a time must start with its year
        stamp = pd.Timestamp(value) if value.strip()[:4].isdigit() else pd.NaT
    except (ValueError, TypeError, OverflowError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise DataError(f"{name} data row {row + 1}: {column} {excerpt(value)} is not an ISO-8601 time "
                        "(e.g. 2026-11-29T12:00:00+00:00)")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime().isoformat(timespec="microseconds")


def _count_unknown(positions: Sequence[int]) -> int:
    return int((np.asarray(positions) < 0).sum())
