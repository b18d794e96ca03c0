"""Which stored decisions apply to which examples of a loaded dataset.

A decision is stored under the dataset's name with the example's id, the hash of its text and its
given label. It applies to the example with the same id, the same text and the same given label
(and, for a relabel, a new label the dataset has); anything else is *stale*: listed with its
reason, kept in the store, never applied to another row and never exported.

Decisions recorded without a text hash (stores written before hashes were kept, or imported
without one) apply when their id and given label match. Such decisions keyed by row number (files
without an id column used to be) apply to the row with that number only when every one of them
still finds its given label there: the file still matches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from losslens.data import LabeledTexts, text_hash

REASONS = {
    "missing": "its id is not in this dataset",
    "text": "the example's text has changed",
    "given": "the example's given label has changed",
    "label": "its new label is not one of this dataset's labels",
}


@dataclass(frozen=True)
class BoundDecisions:
    """applied: the decisions in force, one per example, rows of `DecisionStore.current` plus
    `position` (row in the dataset) with example_id set to the dataset's id at that row; in the
    order they were made. stale: the others, plus `reason` (a key of REASONS)."""

    applied: pd.DataFrame
    stale: pd.DataFrame

    def status_by_id(self) -> pd.Series:
        """Review status of each decided example, indexed by id."""
        return pd.Series(self.applied["status"].to_numpy(dtype=object),
                         index=self.applied["example_id"].to_numpy(dtype=object))


def bind_decisions(data: LabeledTexts, current: pd.DataFrame) -> BoundDecisions:
    """Split `current` (DecisionStore.current for data.name) into applied and stale decisions."""
    if current.empty:
        return BoundDecisions(current.assign(position=pd.Series(dtype=np.int64)), current.assign(reason=""))
    ids = current["example_id"].astype(str).to_numpy(dtype=object)
    positions = pd.Index(data.ids).get_indexer(ids)
    hashes = current["text_hash"].to_numpy(dtype=object)
    legacy = pd.isna(current["text_hash"]).to_numpy()
    reason = np.full(len(current), "", dtype=object)
    reason[positions < 0] = "missing"
    legacy_rows = _legacy_row_numbers(data, current, positions, legacy)
    positions = np.where(legacy_rows >= 0, legacy_rows, positions)
    reason[legacy_rows >= 0] = ""
    original = current["original_label"].to_numpy(dtype=object)
    for i in np.flatnonzero(positions >= 0):
        if not legacy[i] and hashes[i] != text_hash(data.texts[positions[i]]):
            reason[i] = "text"
        elif original[i] != data.label_names[data.labels[positions[i]]]:
            reason[i] = "given"
    relabeled = (current["status"] == "relabeled").to_numpy()
    known = current["new_label"].isin(data.label_names).to_numpy()
    reason[(reason == "") & relabeled & ~known] = "label"
    ok = reason == ""
    applied = current[ok].assign(position=positions[ok].astype(np.int64))
    applied = applied.assign(example_id=data.ids[applied["position"].to_numpy()])
    applied = applied.drop_duplicates("position", keep="last")  # a legacy row and a newer one: the newer
    return BoundDecisions(applied.reset_index(drop=True), current[~ok].assign(reason=reason[~ok]).reset_index(drop=True))


def _legacy_row_numbers(data: LabeledTexts, current: pd.DataFrame, positions: np.ndarray,
                        legacy: np.ndarray) -> np.ndarray:
    """(D,) row numbers for legacy decisions keyed by row number, or -1 each: all of them or none,
    as the file still matches (every such row has the decision's given label) or not."""
    out = np.full(len(current), -1, dtype=np.int64)
    candidates = np.flatnonzero(legacy & (positions < 0))
    ids = current["example_id"].astype(str).to_numpy()
    rows = np.array([int(i) if i.isdigit() else -1 for i in ids[candidates]], dtype=np.int64)
    if not len(candidates) or (rows < 0).any() or (rows >= len(data)).any():
        return out
    given = np.asarray(data.label_names, dtype=object)[data.labels[rows]]
    if (given == current["original_label"].to_numpy(dtype=object)[candidates]).all():
        out[candidates] = rows
    return out
