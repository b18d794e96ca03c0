"""Decisions on the examples of a loaded dataset: recording them (`decide`), which stored ones
apply to which examples (`bind_decisions`), and where reviewers differ (`disagreements`,
`decisions_by_reviewer`).

A decision is stored under the dataset's name with the example's id, the hash of its text and its
given label. It applies to the example with the same id, the same text and the same given label
(and, for a relabel, a new label the dataset has); anything else is *stale*: listed with its
reason, kept in the store, never applied to another row and never exported.

A decision recorded without a text hash (a store written before hashes were kept, or a history
row imported without one) cannot be checked against its example's text: it is stale ("unchecked")
wherever its id points, never applied by id or row number alone (a matching given label is a coin
flip with two classes).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from losslens.sources.datasets import LabeledTexts, text_hash
from losslens.store.decisions import DecisionStore
from losslens.store.records import ExampleRef, LabelDecision

REASONS = {
    "missing": "its id is not in this dataset",
    "text": "the example's text has changed",
    "given": "the example's given label has changed",
    "label": "its new label is not one of this dataset's labels",
    "superseded": "a newer decision on the same example replaced it",
    "unchecked": "recorded without the example's text, so it cannot be checked against it",
}


@dataclass(frozen=True)
class BoundDecisions:
    """applied: the decisions in force, one per example, rows of `DecisionStore.in_force` plus
    `position` (row in the dataset) with example_id set to the dataset's id at that row; in the
    order they were made. stale: the others, plus `reason` (a key of REASONS)."""

    applied: pd.DataFrame
    stale: pd.DataFrame

    def status_by_id(self) -> pd.Series:
        """Review status of each decided example, indexed by id."""
        return pd.Series(self.applied["status"].to_numpy(dtype=object),
                         index=self.applied["example_id"].to_numpy(dtype=object))


def bind_decisions(data: LabeledTexts, current: pd.DataFrame, per_reviewer: bool = False) -> BoundDecisions:
    """Split `current` (DecisionStore.in_force for data.name) into applied and stale decisions;
    per_reviewer keeps one decision per example and reviewer (DecisionStore.in_force(...,
    per_reviewer=True)) instead of one per example."""
    if current.empty:
        return BoundDecisions(current.assign(position=pd.Series(dtype=np.int64)), current.assign(reason=""))
    positions = data.id_index.get_indexer(current["example_id"].astype(str).to_numpy(dtype=object))
    unchecked = pd.isna(current["text_hash"]).to_numpy()
    given = np.asarray(data.label_names, dtype=object)[data.labels[np.maximum(positions, 0)]]
    original = current["original_label"].to_numpy(dtype=object)
    hashes = current["text_hash"].to_numpy(dtype=object)
    reason = np.full(len(current), "", dtype=object)
    for i in range(len(current)):
        if positions[i] < 0:
            reason[i] = "missing"
        elif unchecked[i]:
            reason[i] = "unchecked"
        elif hashes[i] != text_hash(data.texts[positions[i]]):
            reason[i] = "text"
        elif original[i] != given[i]:
            reason[i] = "given"
    relabeled = (current["status"] == "relabeled").to_numpy()
    reason[(reason == "") & relabeled & ~current["new_label"].isin(data.label_names).to_numpy()] = "label"
    ok = reason == ""
    slot = pd.Series(np.where(ok, positions, -1 - np.arange(len(current))))
    later = (pd.DataFrame({"slot": slot, "who": current["reviewer"].to_numpy()}).duplicated(keep="last") if per_reviewer
             else slot.duplicated(keep="last")).to_numpy()
    reason[ok & later] = "superseded"   # an older decision on an example a newer one also decides
    ok &= ~later
    applied = current[ok].assign(position=positions[ok].astype(np.int64))
    applied = applied.assign(example_id=data.ids[applied["position"].to_numpy()])
    return BoundDecisions(applied.reset_index(drop=True), current[~ok].assign(reason=reason[~ok]).reset_index(drop=True))


def example_refs(data: LabeledTexts, positions: Sequence[int]) -> list[ExampleRef]:
    """What a decision on the examples at `positions` records: id, text hash, given label."""
    return [ExampleRef(str(data.ids[p]), text_hash(data.texts[p]), data.label_names[data.labels[p]])
            for p in positions]


def decide(store: DecisionStore, data: LabeledTexts, positions: Sequence[int], status: str,
           new_label: str | None = None, reviewer: str = "", note: str | None = None,
           session: str | None = None) -> list[LabelDecision]:
    """Record one decision on each example at `positions`: one row for a single example, one
    undoable group for several. A relabel to an example's own label confirms it. `session`: the
    app tab deciding, so that tab's Undo (DecisionStore.undo_last(..., session=)) takes back its own."""
    examples = example_refs(data, positions)
    if len(examples) == 1:
        e = examples[0]
        return [store.record(data.name, e.example_id, e.given_label, new_label, status, reviewer,
                             text_hash=e.text_hash, note=note, session=session)]
    return store.record_group(data.name, examples, new_label, status, reviewer, note, session=session)


def disagreements(applied_per_reviewer: pd.DataFrame) -> list[str]:
    """Ids of the examples on which reviewers' decisions in force differ, in the order of each
    example's first such decision. `applied_per_reviewer`: bind_decisions(..., per_reviewer=True)
    .applied. A decision's verdict is the label it leaves (the given one when confirmed), or
    "ambiguous" / "removed"."""
    if applied_per_reviewer.empty:
        return []
    frame = applied_per_reviewer
    labelled = frame["status"].isin(["relabeled", "confirmed"]).to_numpy()
    chosen = frame["new_label"].where(frame["new_label"].notna(), frame["original_label"])
    verdicts = pd.Series(np.where(labelled, "label:" + chosen.astype(str), "status:" + frame["status"].astype(str)),
                         index=frame.index)
    distinct = verdicts.groupby(frame["example_id"].to_numpy(), sort=False).nunique()
    return [str(i) for i in distinct.index[distinct.to_numpy() > 1]]


def decisions_by_reviewer(history: Sequence[LabelDecision], text: str) -> dict[str, LabelDecision]:
    """Each reviewer's decision in force on one example: `history` is DecisionStore.history of
    its id, `text` its text (decisions about another text, or not checkable against one, are left
    out); resets and undone rows leave a reviewer out."""
    latest: dict[str, LabelDecision] = {}
    for decision in history:
        if decision.undone_at is None and decision.text_hash == text_hash(text):
            latest[decision.reviewer] = decision
    return {name: d for name, d in latest.items() if d.status != "unreviewed"}
