"""One look at a loaded dataset's decisions, shared by everything one page run draws.

`DecisionsSnapshot(store, data)` reads each thing from the store at most once, when first asked:
the decisions in force bound to the dataset's examples (`bound`), every reviewer's own decision
in force (`per_reviewer`), the dataset's open shared queue and its progress. A page takes one
snapshot per run and hands it to every view; after a write it takes a new one.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from losslens.review.binding import BoundDecisions, bind_decisions, disagreements
from losslens.review.shared_queue import QueueProgress, SharedQueue, queue_progress, shared_queue
from losslens.sources.datasets import LabeledTexts
from losslens.store.decisions import DecisionStore


@dataclass
class DecisionsSnapshot:
    """The decisions of `data` (under data.name) in `store`, each part read once, lazily."""

    store: DecisionStore
    data: LabeledTexts

    @cached_property
    def bound(self) -> BoundDecisions:
        """The decisions in force, one per example, applied or stale (losslens.review.binding)."""
        return bind_decisions(self.data, self.store.in_force(self.data.name))

    @cached_property
    def status_by_id(self) -> pd.Series:
        """Review status of each decided example, indexed by id."""
        return self.bound.status_by_id()

    @cached_property
    def per_reviewer(self) -> pd.DataFrame:
        """Each reviewer's own decision in force per example that applies: rows of
        bind_decisions(..., per_reviewer=True).applied, in the order they were made."""
        current = self.store.in_force(self.data.name, per_reviewer=True)
        return bind_decisions(self.data, current, per_reviewer=True).applied

    def decided_by(self, reviewer: str) -> list[str]:
        """Ids of the examples on which `reviewer`'s own latest decision is in force."""
        rows = self.per_reviewer
        return rows.loc[rows["reviewer"] == reviewer, "example_id"].tolist()

    def decisions_on(self, example_id: str) -> pd.DataFrame:
        """Every reviewer's decision in force on one example (per_reviewer rows)."""
        rows = self.per_reviewer
        return rows[rows["example_id"] == example_id]

    def disagreements(self) -> list[str]:
        """Ids of the examples whose reviewers' decisions in force leave different verdicts."""
        return disagreements(self.per_reviewer)

    @cached_property
    def shared_queue(self) -> SharedQueue | None:
        """The dataset's open shared queue (whatever version of the data it was made on), or None."""
        return shared_queue(self.store, self.data.name)

    @property
    def shared_queue_here(self) -> SharedQueue | None:
        """The open shared queue when it was made on this version of the data (same fingerprint)."""
        queue = self.shared_queue
        return queue if queue is not None and queue.data_fingerprint == self.data.fingerprint else None

    @cached_property
    def shared_progress(self) -> QueueProgress | None:
        """How far the shared queue of this version of the data is, or None without one."""
        queue = self.shared_queue_here
        return None if queue is None else queue_progress(self.store, queue)
