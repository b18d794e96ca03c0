"""Corrected dataset: the original columns plus the review outcome, as CSV or Parquet.

The same function is behind the Export page and `losslens export`.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from losslens.cache import atomic_write

ADDED_COLUMNS = (
    "corrected_label", "status", "reviewer", "reviewed_at", "loss", "quality", "is_issue", "rank"
)
EXPORT_FORMATS = (".csv", ".parquet")


class ExportError(ValueError):
    """An export the user asked for cannot be made (bad path, unknown label, ...)."""


def build_corrected_frame(
    frame: pd.DataFrame,
    ids: Sequence[str] | np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    results: pd.DataFrame | None,
    decisions: pd.DataFrame | None,
    *,
    labels_as: Literal["names", "ints"] = "names",
    changed_only: bool = False,
    drop_removed: bool = False,
) -> pd.DataFrame:
    """Every original column, in order, plus (in this order) ADDED_COLUMNS.

    frame: original columns, row-aligned with `ids` and `labels` ((N,) int 0..K-1).
    results: the results table (id, loss, quality, is_issue, rank), matched by id; rows it lacks
        get empty values. None leaves those four columns empty.
    decisions: `DecisionStore.current(...)` (example_id, new_label, status, reviewer,
        decided_at), matched by id; decisions for ids not in `ids` are ignored here.
    corrected_label: the decision's new label when status is "relabeled", else the given label;
        as a name, or its index in label_names with labels_as="ints".
    status: the review status ("unreviewed" without a decision); reviewer / reviewed_at: empty
        without a decision. changed_only keeps rows with a decision (status != "unreviewed");
        drop_removed drops rows whose status is "removed". The row index is reset.
    An original column named like an added one (an earlier export re-imported) is replaced.
    """
    if labels_as not in ("names", "ints"):
        raise ExportError(f"labels_as must be 'names' or 'ints', got {labels_as!r}")
    ids = pd.Index(np.asarray(ids, dtype=object)).astype(str)
    labels = np.asarray(labels)
    if not len(frame) == len(ids) == len(labels):
        raise ExportError(
            f"frame ({len(frame)} rows), ids ({len(ids)}) and labels ({len(labels)}) differ in length"
        )
    names = np.asarray(list(label_names), dtype=object)
    given = names[labels] if len(labels) else np.array([], dtype=object)

    decided = _aligned_decisions(decisions, ids)
    status = decided["status"].fillna("unreviewed").to_numpy(dtype=object)
    relabeled = status == "relabeled"
    corrected = np.where(relabeled, decided["new_label"].to_numpy(dtype=object), given)
    if labels_as == "ints":
        corrected = _label_indices(corrected, list(label_names), ids)

    out = frame.drop(columns=[c for c in ADDED_COLUMNS if c in frame.columns]).reset_index(drop=True)
    out["corrected_label"] = corrected
    out["status"] = status
    out["reviewer"] = decided["reviewer"].to_numpy(dtype=object)
    out["reviewed_at"] = decided["decided_at"].to_numpy(dtype=object)
    for column, values in _aligned_scores(results, ids).items():
        out[column] = values

    keep = np.ones(len(out), dtype=bool)
    if changed_only:
        keep &= status != "unreviewed"
    if drop_removed:
        keep &= status != "removed"
    return out[keep].reset_index(drop=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV for a download button: no index, RFC 4180 "\\r\\n" line ends, and fields quoted
    when they hold a comma, quote, "\\r" or "\\n" (Python's csv quotes only the characters of the
    line terminator, so a lone "\\r" would break a "\\n"-terminated file)."""
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as a Parquet file's bytes (no index)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def check_export_path(path: str | Path) -> Path:
    """`path` as a Path; ExportError unless it ends in .csv or .parquet."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_FORMATS:
        raise ExportError(f"cannot write {path.name!r}: use a .csv or .parquet file name")
    return path


def write_export(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as .csv or .parquet (chosen by the extension), atomically (temp + rename)."""
    path = check_export_path(path)
    data = to_csv_bytes(frame) if path.suffix.lower() == ".csv" else parquet_bytes(frame)
    atomic_write(path, data)
    return path


def _aligned_decisions(decisions: pd.DataFrame | None, ids: pd.Index) -> pd.DataFrame:
    """new_label, status, reviewer, decided_at per id (None where there is no decision)."""
    columns = ["new_label", "status", "reviewer", "decided_at"]
    if decisions is None or decisions.empty:
        return pd.DataFrame({c: np.full(len(ids), None, dtype=object) for c in columns})
    latest = decisions.assign(example_id=decisions["example_id"].astype(str))
    latest = latest.drop_duplicates("example_id", keep="last").set_index("example_id")
    aligned = latest[columns].astype(object).reindex(ids)
    return aligned.where(aligned.notna(), None).reset_index(drop=True)


def _aligned_scores(results: pd.DataFrame | None, ids: pd.Index) -> dict[str, pd.Series | np.ndarray]:
    """loss, quality (float), is_issue (boolean), rank (Int64) per id; empty where missing."""
    if results is None:
        n = len(ids)
        return {
            "loss": np.full(n, np.nan),
            "quality": np.full(n, np.nan),
            "is_issue": pd.array([pd.NA] * n, dtype="boolean"),
            "rank": pd.array([pd.NA] * n, dtype="Int64"),
        }
    scores = results.set_index(results["id"].astype(str))[["loss", "quality", "is_issue", "rank"]]
    scores = scores[~scores.index.duplicated(keep="first")].reindex(ids)
    matched = scores["rank"].notna().all()
    return {
        "loss": scores["loss"].to_numpy(dtype=np.float64),
        "quality": scores["quality"].to_numpy(dtype=np.float64),
        "is_issue": scores["is_issue"].to_numpy(dtype=bool) if matched
        else scores["is_issue"].astype("boolean").array,
        "rank": scores["rank"].to_numpy(dtype=np.int64) if matched
        else scores["rank"].astype("Int64").array,
    }


def _label_indices(corrected: np.ndarray, label_names: list[str], ids: pd.Index) -> np.ndarray:
    """Label names -> int64 indices; a name outside label_names is an ExportError naming rows."""
    indices = pd.Index(label_names).get_indexer(corrected).astype(np.int64)
    unknown = np.flatnonzero(indices < 0)
    if unknown.size:
        shown = ", ".join(f"{ids[i]!r} ({corrected[i]!r})" for i in unknown[:5])
        raise ExportError(
            f"{unknown.size} corrected label(s) are not among the dataset's labels, e.g. {shown}; "
            "export with labels as names"
        )
    return indices
