"""Why an example is in the review queue, in plain words, and what is near it.

Each reason is one check over the whole results table (after cleanlab Datalab's issue managers
and doubtlab's reasons): `mask` (N,) bool says for which examples it fires, `sentence(row)` says
it for one of them, and the queue can be filtered by it (ReviewQuery.reasons). Built once per
results table with `Evidence.of(results)`; the reasons, most telling first:
  prefers_other    the model is confident (>= CONFIDENT) about another class
  low_given        the model gives the given label a low probability (< LOW_GIVEN)
  cleanlab         cleanlab flags it (its sentence also says why an unflagged example is not)
  neighbours       most (>= NEIGHBOUR_MAJORITY) of its close neighbours (cosine >= NEIGHBOUR_MIN_SIMILARITY,
                   at least MIN_CLOSE_NEIGHBOURS of them) carry another label; far ones say nothing
  duplicate        an identical or near-identical text carries another label
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from losslens.scoring.neighbours import Neighbours

LOW_GIVEN = 0.25
CONFIDENT = 0.7
NEIGHBOUR_MAJORITY = 0.5
NEIGHBOUR_MIN_SIMILARITY = 0.5   # cosine below which a neighbour is too far to say anything about a label
MIN_CLOSE_NEIGHBOURS = 2


def percent(p: float) -> str:
    """A probability as a percentage that never rounds to a false 0% or 100%."""
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 <= p < 1:
        return ">99%"
    return f"{p:.0%}"


@dataclass(frozen=True)
class Evidence:
    """Arrays of one results table: ids, labels, predicted (N,), probs (N, K), is_issue (N,),
    thresholds (K,) cleanlab's confident-learning thresholds (mean p(k) over examples given k),
    groups (N,) conflict group or -1, neighbours (or None above the exact-search limit)."""

    ids: np.ndarray
    label_names: tuple[str, ...]
    labels: np.ndarray
    predicted: np.ndarray
    probs: np.ndarray
    is_issue: np.ndarray
    thresholds: np.ndarray
    groups: np.ndarray
    neighbours: Neighbours | None

    @classmethod
    def of(cls, results) -> Evidence:
        """From a losslens.scoring.results.ScoredResults."""
        table, probs = results.table, results.probs()
        labels = table["label"].to_numpy(dtype=np.int64)
        return cls(ids=table["id"].astype(str).to_numpy(dtype=object), label_names=tuple(results.label_names),
                   labels=labels, predicted=table["predicted_label"].to_numpy(dtype=np.int64), probs=probs,
                   is_issue=table["is_issue"].to_numpy(dtype=bool), thresholds=confident_thresholds(probs, labels),
                   groups=table["conflict_group"].to_numpy(dtype=np.int64), neighbours=results.neighbours)

    @cached_property
    def checks(self) -> tuple[Reason, ...]:
        """One object per reason in REASON_TYPES order, their masks computed once."""
        return tuple(kind(self) for kind in REASON_TYPES)

    def reason_masks(self) -> dict[str, np.ndarray]:
        """Reason name -> (N,) bool: the examples it fires for (what the queue filters on)."""
        return {check.name: check.mask for check in self.checks}

    def reasons(self, row: int) -> list[str]:
        """The sentences of the reasons that fired for example `row` (and cleanlab's verdict
        either way), most telling first."""
        return [check.sentence(row) for check in self.checks if check.mask[row] or check.always_said]

    def nearest(self, row: int, k: int = 5) -> pd.DataFrame:
        """Its k nearest neighbours: position, id, label (name), similarity; empty without a graph."""
        if self.neighbours is None:
            return pd.DataFrame({"position": [], "id": [], "label": [], "similarity": []})
        rows = self.neighbours.indices[row][:k]
        return pd.DataFrame({"position": rows, "id": self.ids[rows],
                             "label": [self.label_names[k] for k in self.labels[rows]],
                             "similarity": self.neighbours.similarity[row][:k]})

    def group_members(self, row: int) -> np.ndarray:
        """Positions of the other examples in its conflict group (empty when it has none)."""
        if self.groups[row] < 0:
            return np.zeros(0, dtype=np.int64)
        members = np.flatnonzero(self.groups == self.groups[row])
        return members[members != row]


class Reason(ABC):
    """One reason an example can be in the queue. `name` keys it (links, filters), `title` is what
    the queue's filter calls it; `mask` (N,) bool: the examples it fires for; `sentence(row)`: what
    the evidence panel says for one of them. `always_said`: its sentence is shown whether it fires
    or not (cleanlab's verdict)."""

    name: ClassVar[str]
    title: ClassVar[str]
    always_said: ClassVar[bool] = False

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.mask = self.fires()

    @abstractmethod
    def fires(self) -> np.ndarray:
        """(N,) bool over the results table."""

    @abstractmethod
    def sentence(self, row: int) -> str:
        """The reason in plain words for example `row`."""


class PrefersOther(Reason):
    name, title = "prefers_other", "The model is sure of another class"

    def fires(self) -> np.ndarray:
        ev = self.evidence
        confidence = ev.probs[np.arange(len(ev.labels)), ev.predicted]
        return (ev.predicted != ev.labels) & (confidence >= CONFIDENT)

    def sentence(self, row: int) -> str:
        ev = self.evidence
        given, predicted = int(ev.labels[row]), int(ev.predicted[row])
        return (f"The model is {percent(ev.probs[row, predicted])} sure it is {ev.label_names[predicted]}, "
                f"not {ev.label_names[given]}.")


class LowGiven(Reason):
    name, title = "low_given", "Low probability for its label"

    def fires(self) -> np.ndarray:
        ev = self.evidence
        return ev.probs[np.arange(len(ev.labels)), ev.labels] < LOW_GIVEN

    def sentence(self, row: int) -> str:
        ev = self.evidence
        given = int(ev.labels[row])
        return f"The model gives its label, {ev.label_names[given]}, only {percent(ev.probs[row, given])}."


class CleanlabFlag(Reason):
    name, title, always_said = "cleanlab", "Flagged by cleanlab", True

    def fires(self) -> np.ndarray:
        return np.asarray(self.evidence.is_issue, dtype=bool)

    def sentence(self, row: int) -> str:
        ev = self.evidence
        names, given, predicted = ev.label_names, int(ev.labels[row]), int(ev.predicted[row])
        p, t = ev.probs[row], ev.thresholds
        if self.mask[row]:
            return (f"cleanlab flags it: the model's {percent(p[predicted])} for {names[predicted]} clears that class's "
                    f"confident-learning threshold ({percent(t[predicted])}) while its label {names[given]} gets "
                    f"{percent(p[given])}.")
        if predicted == given:
            return "cleanlab does not flag it: the model agrees with its label."
        if p[predicted] < t[predicted]:
            return (f"cleanlab does not flag it: the model's {percent(p[predicted])} for {names[predicted]} is below that "
                    f"class's confident-learning threshold ({percent(t[predicted])}), so it is not a confident error.")
        return ("cleanlab does not flag it: confident learning expects fewer errors from "
                f"{names[given]} to {names[predicted]} than the examples that qualify.")


class NeighboursDisagree(Reason):
    name, title = "neighbours", "Neighbours labelled otherwise"

    def fires(self) -> np.ndarray:
        ev = self.evidence
        if ev.neighbours is None or ev.neighbours.indices.shape[1] == 0:
            return np.zeros(len(ev.labels), dtype=bool)
        close = ev.neighbours.similarity >= NEIGHBOUR_MIN_SIMILARITY
        differ = (ev.labels[ev.neighbours.indices] != ev.labels[:, None]) & close
        n_close = close.sum(axis=1)
        return (n_close >= MIN_CLOSE_NEIGHBOURS) & (differ.sum(axis=1) >= NEIGHBOUR_MAJORITY * np.maximum(n_close, 1))

    def sentence(self, row: int) -> str:
        ev = self.evidence
        close = ev.neighbours.similarity[row] >= NEIGHBOUR_MIN_SIMILARITY
        others = ev.labels[ev.neighbours.indices[row][close]]
        similarity = ev.neighbours.similarity[row][close]
        differ = others[others != ev.labels[row]]
        counts = ", ".join(f"{n} {ev.label_names[k]}" for k, n in Counter(differ.tolist()).most_common(3))
        return (f"{len(differ)} of its {len(others)} nearest neighbours (similarity {similarity.min():.2f}–"
                f"{similarity.max():.2f}) are labelled otherwise ({counts}).")


class DuplicateDisagrees(Reason):
    name, title = "duplicate", "A duplicate carries another label"

    def fires(self) -> np.ndarray:
        ev = self.evidence
        grouped = ev.groups >= 0
        labels_in_group = pd.Series(ev.labels[grouped]).groupby(ev.groups[grouped]).transform("nunique")
        fires = np.zeros(len(ev.labels), dtype=bool)
        fires[grouped] = labels_in_group.to_numpy() > 1
        return fires

    def sentence(self, row: int) -> str:
        ev = self.evidence
        members = np.flatnonzero((ev.groups == ev.groups[row]) & (ev.labels != ev.labels[row]))
        other = members[0]
        if ev.neighbours is not None:
            near = [i for i in ev.neighbours.indices[row] if i in set(members.tolist())]
            other = near[0] if near else other
        return (f"An identical or near-identical text (id {ev.ids[other]}) is labelled "
                f"{ev.label_names[ev.labels[other]]}; {len(members)} such example(s).")


REASON_TYPES: tuple[type[Reason], ...] = (PrefersOther, LowGiven, CleanlabFlag, NeighboursDisagree,
                                          DuplicateDisagrees)
REASON_TITLES: dict[str, str] = {kind.name: kind.title for kind in REASON_TYPES}


def confident_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(K,) cleanlab's per-class thresholds (cleanlab.count.get_confident_thresholds): the mean
    probability of class k over the examples labelled k; 2 (never reached) for an absent class."""
    k = probs.shape[1]
    sums = np.zeros(k)
    np.add.at(sums, labels, probs[np.arange(len(labels)), labels])
    counts = np.bincount(labels, minlength=k)
    return np.clip(np.where(counts > 0, sums / np.maximum(counts, 1), 2.0), 1e-6, None)
