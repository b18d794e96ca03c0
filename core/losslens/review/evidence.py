"""Why an example is in the review queue, in plain words, and what is near it.

Built once per results table (`Evidence.of(results)`); every method answers for one example by
its row position. The reasons, each a sentence:
  low_given        the model gives the given label a low probability (< LOW_GIVEN)
  prefers_other    the model is confident (>= CONFIDENT) about another class
  cleanlab         cleanlab flags it, or does not, and the confident-learning threshold why
  neighbours       most of its nearest neighbours (by embedding) carry another label
  duplicate        an identical or near-identical text carries another label
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from losslens.scoring.neighbours import Neighbours

LOW_GIVEN = 0.25


def percent(p: float) -> str:
    """A probability as a percentage that never rounds to a false 0% or 100%."""
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 <= p < 1:
        return ">99%"
    return f"{p:.0%}"

CONFIDENT = 0.7
NEIGHBOUR_MAJORITY = 0.5


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

    def reasons(self, row: int) -> list[str]:
        """The reasons that fired for example `row`, most telling first; [] when none did."""
        names, given, predicted = self.label_names, int(self.labels[row]), int(self.predicted[row])
        p = self.probs[row]
        found = []
        if predicted != given and p[predicted] >= CONFIDENT:
            found.append(f"The model is {percent(p[predicted])} sure it is {names[predicted]}, not {names[given]}.")
        if p[given] < LOW_GIVEN:
            found.append(f"The model gives its label, {names[given]}, only {percent(p[given])}.")
        found.append(self._cleanlab(row))
        if (text := self._neighbours_disagree(row)) is not None:
            found.append(text)
        if (text := self._duplicate(row)) is not None:
            found.append(text)
        return found

    def _cleanlab(self, row: int) -> str:
        names, given, predicted = self.label_names, int(self.labels[row]), int(self.predicted[row])
        p, t = self.probs[row], self.thresholds
        if self.is_issue[row]:
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

    def _neighbours_disagree(self, row: int) -> str | None:
        if self.neighbours is None:
            return None
        others = self.labels[self.neighbours.indices[row]]
        differ = others[others != self.labels[row]]
        if len(others) == 0 or len(differ) / len(others) < NEIGHBOUR_MAJORITY:
            return None
        counts = ", ".join(f"{n} {self.label_names[k]}" for k, n in Counter(differ.tolist()).most_common(3))
        return f"{len(differ)} of its {len(others)} nearest neighbours are labelled otherwise ({counts})."

    def _duplicate(self, row: int) -> str | None:
        group = self.groups[row]
        if group < 0:
            return None
        members = np.flatnonzero((self.groups == group) & (self.labels != self.labels[row]))
        other = members[0]
        if self.neighbours is not None:
            near = [i for i in self.neighbours.indices[row] if i in set(members.tolist())]
            other = near[0] if near else other
        return (f"An identical or near-identical text (id {self.ids[other]}) is labelled "
                f"{self.label_names[self.labels[other]]}; {len(members)} such example(s).")

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


def confident_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(K,) cleanlab's per-class thresholds (cleanlab.count.get_confident_thresholds): the mean
    probability of class k over the examples labelled k; 2 (never reached) for an absent class."""
    k = probs.shape[1]
    sums = np.zeros(k)
    np.add.at(sums, labels, probs[np.arange(len(labels)), labels])
    counts = np.bincount(labels, minlength=k)
    return np.clip(np.where(counts > 0, sums / np.maximum(counts, 1), 2.0), 1e-6, None)
