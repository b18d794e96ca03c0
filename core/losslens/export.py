"""Corrected dataset: the original columns plus the review outcome (written by losslens.writers as
CSV, Parquet or a Hugging Face dataset, with corrected_label as a ClassLabel there).

The same functions are behind the Export page and `losslens export`.
"""
from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd

from losslens.sources.datasets import LabeledTexts
from losslens.review.binding import BoundDecisions, bind_decisions
from losslens.errors import ExportError
from losslens.store.decisions import IN_FORCE_COLUMNS

ADDED_COLUMNS = (
    "corrected_label", "status", "reviewer", "reviewed_at", "note", "loss", "quality", "is_issue", "rank"
)


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
