"""What every part of the Review page works on (not a page): the loaded dataset, its results,
their queue index and evidence, and one snapshot of the decisions per run."""
from __future__ import annotations

from dataclasses import dataclass

from losslens.review.evidence import Evidence
from losslens.review.queue import ReviewIndex
from losslens.review.snapshot import DecisionsSnapshot
from losslens.scoring.results import ScoredResults
from losslens.sources.datasets import LabeledTexts
from pages import session


@dataclass
class ReviewScreen:
    """data / results: what is loaded; index: the queue index of results.table (with the
    evidence's reason masks); evidence: why each example is suspect; names: the label names;
    decisions: the decisions as this run sees them (taken once per page run)."""

    data: LabeledTexts
    results: ScoredResults
    index: ReviewIndex
    evidence: Evidence
    names: list[str]
    decisions: DecisionsSnapshot
    _fragment_drawn: bool = False

    def decisions_for_fragment(self) -> DecisionsSnapshot:
        """The decisions for the focus view (a fragment): the page run's snapshot when it draws
        within that run; on each of its own reruns (a key press, a decision) one fresh snapshot."""
        if self._fragment_drawn:
            self.decisions = session.decisions(self.data)
        self._fragment_drawn = True
        return self.decisions
