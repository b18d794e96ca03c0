"""Corrected dataset: the original columns plus the review outcome, as CSV or Parquet.

The same function is behind the Export page and `losslens export`.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from losslens.cache import atomic_write
from losslens.data import LabeledTexts
from losslens.decisions import BoundDecisions, bind_decisions
from losslens.errors import ExportError
from losslens.store import CURRENT_COLUMNS

ADDED_COLUMNS = (
    "corrected_label", "status", "reviewer", "reviewed_at", "loss", "quality", "is_issue", "rank"
)
EXPORT_FORMATS = (".csv", ".parquet")


def corrected_frame(
    data: LabeledTexts,
    results: pd.DataFrame | None,
    decisions: pd.DataFrame | BoundDecisions | None,
    *,
    labels_as: Literal["names", "ints"] = "names",
    changed_only: bool = False,
    drop_removed: bool = False,
) -> pd.DataFrame:
    """Every original column of `data.frame`, in order, plus (in this order) ADDED_COLUMNS.

    results: the results table (id, loss, quality, is_issue, rank), matched by id; rows it lacks
        get empty values. None leaves those four columns empty.
    decisions: `DecisionStore.current(data.name)` (or already bound); only the decisions that
        apply to an example (same id and text, see losslens.decisions) are used, stale ones never.
    corrected_label: the decision's new label when status is "relabeled", else the given label;
        as a name, or its index in label_names with labels_as="ints".
    status: the review status ("unreviewed" without a decision); reviewer / reviewed_at: empty
        without a decision. changed_only keeps rows with a decision (status != "unreviewed");
        drop_removed drops rows whose status is "removed". The row index is reset.
    An original column named like an added one (an earlier export re-imported) is replaced.
    """
    if labels_as not in ("names", "ints"):
        raise ExportError(f"labels_as must be 'names' or 'ints', got {labels_as!r}")
    if decisions is None:
        decisions = pd.DataFrame(columns=CURRENT_COLUMNS)
    bound = decisions if isinstance(decisions, BoundDecisions) else bind_decisions(data, decisions)
    ids = pd.Index(np.asarray(data.ids, dtype=object)).astype(str)
    names = np.asarray(data.label_names, dtype=object)
    given = names[data.labels] if len(data.labels) else np.array([], dtype=object)

    decided = _aligned_decisions(bound.applied, len(ids))
    status = decided["status"].fillna("unreviewed").to_numpy(dtype=object)
    relabeled = status == "relabeled"
    corrected = np.where(relabeled, decided["new_label"].to_numpy(dtype=object), given)
    if labels_as == "ints":
        corrected = pd.Index(data.label_names).get_indexer(corrected).astype(np.int64)

    out = data.frame.drop(columns=[c for c in ADDED_COLUMNS if c in data.frame.columns]).reset_index(drop=True)
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


def _aligned_decisions(applied: pd.DataFrame, n: int) -> pd.DataFrame:
    """new_label, status, reviewer, decided_at per row of the dataset (None where undecided)."""
    columns = ["new_label", "status", "reviewer", "decided_at"]
    aligned = pd.DataFrame({c: np.full(n, None, dtype=object) for c in columns})
    rows = applied["position"].to_numpy(dtype=np.int64)
    for c in columns:
        aligned.loc[rows, c] = applied[c].to_numpy(dtype=object)
    return aligned.where(aligned.notna(), None)


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
