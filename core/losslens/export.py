"""Corrected dataset: the original columns plus the review outcome, as CSV, Parquet or a
Hugging Face dataset (a save_to_disk folder, or pushed to the Hub), with corrected_label as a
ClassLabel there.

The same functions are behind the Export page and `losslens export`.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from losslens.scoring.cache import atomic_write
from losslens.sources.datasets import LabeledTexts
from losslens.review.binding import BoundDecisions, bind_decisions
from losslens.errors import ExportError, first_line
from losslens.store.decisions import IN_FORCE_COLUMNS

ADDED_COLUMNS = (
    "corrected_label", "status", "reviewer", "reviewed_at", "note", "loss", "quality", "is_issue", "rank"
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
    drop_ambiguous: bool = False,
    consensus: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every original column of `data.frame`, in order, plus (in this order) ADDED_COLUMNS.

    results: the results table (id, loss, quality, is_issue, rank), matched by id; rows it lacks
        get empty values. None leaves those four columns empty.
    decisions: `DecisionStore.in_force(data.name)` (or already bound); only the decisions that
        apply to an example (same id and text, see losslens.review.binding) are used, stale ones never.
    corrected_label: the decision's new label when status is "relabeled", else the given label;
        as a name, or its index in label_names with labels_as="ints".
    status: the review status ("unreviewed" without a decision); reviewer / reviewed_at / note:
        empty without a decision. changed_only keeps rows with a decision (status !=
        "unreviewed"); drop_removed / drop_ambiguous drop rows with that status. The row index is
        reset.
    consensus: the reviewers' CROWDLAB consensus (losslens.activelab.crowd.ReviewerConsensus
        .examples: id, consensus, consensus_quality) adds consensus_label and consensus_quality
        at the end, empty where no reviewer labelled the example.
    An original column named like an added one (an earlier export re-imported) is replaced.
    """
    if labels_as not in ("names", "ints"):
        raise ExportError(f"labels_as must be 'names' or 'ints', got {labels_as!r}")
    if decisions is None:
        decisions = pd.DataFrame(columns=IN_FORCE_COLUMNS)
    bound = decisions if isinstance(decisions, BoundDecisions) else bind_decisions(data, decisions)
    ids = pd.Index(np.asarray(data.ids, dtype=object)).astype(str)
    names = np.asarray(data.label_names, dtype=object)
    given = names[data.labels] if len(data.labels) else np.array([], dtype=object)

    decided = _aligned_decisions(bound.applied, len(ids))
    status = np.where(pd.isna(decided["status"]), "unreviewed", decided["status"]).astype(object)
    relabeled = status == "relabeled"
    corrected = np.where(relabeled, decided["new_label"], given)
    if labels_as == "ints":
        corrected = pd.Index(data.label_names).get_indexer(corrected).astype(np.int64)

    replaced = (*ADDED_COLUMNS, "consensus_label", "consensus_quality")
    out = data.frame.drop(columns=[c for c in replaced if c in data.frame.columns]).reset_index(drop=True)
    out["corrected_label"] = corrected
    out["status"] = status
    out["reviewer"] = decided["reviewer"]
    out["reviewed_at"] = decided["decided_at"]
    out["note"] = decided["note"]
    for column, values in _aligned_scores(results, ids).items():
        out[column] = values
    if consensus is not None:
        by_id = consensus.set_index("id").reindex(ids)
        out["consensus_label"] = by_id["consensus"].to_numpy(dtype=object)
        out["consensus_quality"] = by_id["consensus_quality"].to_numpy(dtype=np.float64)

    keep = np.ones(len(out), dtype=bool)
    if changed_only:
        keep &= status != "unreviewed"
    if drop_removed:
        keep &= status != "removed"
    if drop_ambiguous:
        keep &= status != "ambiguous"
    return out[keep].reset_index(drop=True)


def file_stem(name: str) -> str:
    """A safe file-name stem for a dataset name: letters, digits, _ . - only (else "dataset")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.")[:80] or "dataset"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(a copy of `frame` whose column names and text cells starting with = + - @ tab or carriage
    return get a leading ' so no spreadsheet runs them as formulas (OWASP CSV injection), how many
    names and cells). A column name is the header row's cell: a Parquet column named
    `=HYPERLINK(...)` is as live as a cell."""
    out = frame.copy()
    names = [str(c) for c in out.columns]
    risky_names = [name.startswith(FORMULA_STARTS) for name in names]
    out.columns = ["'" + name if risky else column for name, risky, column in zip(names, risky_names, out.columns)]
    changed = sum(risky_names)
    for position in range(out.shape[1]):   # by position: names may repeat
        values = out.iloc[:, position]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).to_numpy(dtype=bool)
            if risky.any():
                out.isetitem(position, values.astype(object).where(~risky, "'" + values.astype(str)))
                changed += int(risky.sum())
    return out, changed


def to_csv_bytes(frame: pd.DataFrame, raw: bool = False) -> bytes:
    """UTF-8 CSV for a download button: no index, RFC 4180 "\\r\\n" line ends, and fields quoted
    when they hold a comma, quote, "\\r" or "\\n" (Python's csv quotes only the characters of the
    line terminator, so a lone "\\r" would break a "\\n"-terminated file). Cells that a spreadsheet
    would run as formulas are neutralised (neutralise_formulas) unless `raw`."""
    if not raw:
        frame, _ = neutralise_formulas(frame)
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as a Parquet file's bytes (no index)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def check_export_path(path: str | Path, folder_ok: bool = True) -> Path:
    """`path` as a Path: a .csv or .parquet file, or a name without an extension: a folder for a
    Hugging Face dataset, which must not exist yet or be empty (ExportError otherwise)."""
    path = Path(path)
    folder = not path.suffix and folder_ok
    if (not folder and path.suffix.lower() not in EXPORT_FORMATS) or (
            folder and path.exists() and (not path.is_dir() or any(path.iterdir()))):
        raise ExportError(f"cannot write {path.name[:80]!r}: give a .csv or .parquet file name"
                          + (", or a new or empty folder name (no extension) for a Hugging Face dataset"
                             if folder_ok else ""))
    if not folder and path.is_dir():
        raise ExportError(f"cannot write {str(path)[:120]!r}: it is a folder; give a file name")
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ExportError(f"cannot write under {str(parent)[:120]!r}: "
                          f"{'not a folder' if not parent.is_dir() else 'no write permission'}")
    return path


def write_export(frame: pd.DataFrame, path: str | Path, label_names: Sequence[str] = (), raw: bool = False) -> Path:
    """Write `frame` as .csv (formula cells neutralised unless `raw`) or .parquet (exact), chosen
    by the extension, atomically (temp + rename); a name without an extension becomes a Hugging
    Face save_to_disk folder (see hf_dataset)."""
    path = check_export_path(path)
    try:
        if not path.suffix:
            hf_dataset(frame, label_names).save_to_disk(str(path))
            return path
        atomic_write(path, to_csv_bytes(frame, raw) if path.suffix.lower() == ".csv" else parquet_bytes(frame))
    except OSError as exc:
        raise ExportError(f"cannot write {str(path)[:120]!r}: {exc.strerror or exc}") from None
    return path


def hf_dataset(frame: pd.DataFrame, label_names: Sequence[str]):
    """`frame` as a datasets.Dataset with corrected_label a ClassLabel over `label_names` (the
    labels as names or as indices); other columns keep their types."""
    import datasets

    if frame["corrected_label"].dtype == object:
        frame = frame.assign(corrected_label=pd.Index(list(label_names)).get_indexer(frame["corrected_label"]))
    dataset = datasets.Dataset.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    return dataset.cast_column("corrected_label", datasets.ClassLabel(names=[str(n) for n in label_names]))


def push_to_hub(frame: pd.DataFrame, label_names: Sequence[str], repo_id: str, private: bool = True) -> str:
    """Push `frame` (see hf_dataset) to the Hub as `repo_id` (a token from `hf auth login` or
    HF_TOKEN); returns its URL. Offline, or without access: ExportError."""
    try:
        hf_dataset(frame, label_names).push_to_hub(repo_id, private=private)
    except Exception as exc:  # network, auth, bad repo id: one line for the user
        raise ExportError(f"could not push to the Hub as {repo_id[:80]!r}: {first_line(exc, 120)}") from None
    return f"https://huggingface.co/datasets/{repo_id}"


def hf_zip_bytes(frame: pd.DataFrame, label_names: Sequence[str]) -> bytes:
    """A zip of the save_to_disk folder of `frame` (for a download button)."""
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as folder:
        hf_dataset(frame, label_names).save_to_disk(folder)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(Path(folder).rglob("*")):
                if file.is_file():
                    archive.write(file, Path("dataset") / file.relative_to(folder))
        return buffer.getvalue()


def _aligned_decisions(applied: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    """new_label, status, reviewer, decided_at, note per row of the dataset: (n,) object arrays,
    None where a row has no decision."""
    rows = applied["position"].to_numpy(dtype=np.int64)
    aligned = {}
    for column in ("new_label", "status", "reviewer", "decided_at", "note"):
        values = np.full(n, None, dtype=object)
        values[rows] = [None if pd.isna(v) else v for v in applied[column].to_numpy(dtype=object)]
        aligned[column] = values
    return aligned


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
