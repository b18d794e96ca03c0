"""The outcome of scoring: the results table (one row per example) and ScoredResults around it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from losslens.scoring.cache_entries import ScoringEntries
from losslens.scoring.neighbours import Neighbours
from losslens.scoring.scores import ExampleScores
from losslens.sources.datasets import LabeledTexts


@dataclass
class ScoredResults:
    """One results table per (dataset, model, settings).

    table columns: id, text, label, predicted_label, loss, p_given, p_predicted, margin,
    quality, is_issue, rank, truncated, conflict_group, prob_<name> per class (see
    losslens.scoring.scores.ExampleScores).
    out_of_sample: True when every probability came from a head that did not see the example
    (encoder + K-fold); False for a classifier scored on data it may have been trained on.
    key: names these results (the probabilities' cache key, or that plus the decisions a retrain
    applied). model_kind: "classifier" or "encoder". neighbours: each example's nearest others by
    embedding (None above neighbours.EXACT_KNN_LIMIT rows). entries: where the run lives in the
    cache (its embeddings: entries.outputs.load_embeddings()). heads: what made the probabilities.
    """

    table: pd.DataFrame
    label_names: tuple[str, ...]
    out_of_sample: bool
    from_cache: bool
    seconds: float
    key: str
    model_kind: str
    entries: ScoringEntries
    neighbours: Neighbours | None = None
    heads: tuple[str, ...] = ()

    @property
    def accuracy(self) -> float:
        """Fraction of examples whose predicted label equals the given label."""
        return float((self.table["predicted_label"] == self.table["label"]).mean())

    @property
    def n_issues(self) -> int:
        return int(self.table["is_issue"].sum())

    @property
    def n_truncated(self) -> int:
        """Texts longer than max_length tokens: scored on their beginning only."""
        return int(self.table["truncated"].sum())

    def probs(self) -> np.ndarray:
        """(N, K) float64 class probabilities, columns in label_names order."""
        return self.table[probability_columns(self.label_names)].to_numpy(dtype=np.float64)


def probability_columns(label_names: Sequence[str]) -> list[str]:
    """The results table's probability columns, one per class: prob_<name>."""
    return [f"prob_{name}" for name in label_names]


def build_results_table(
    data: LabeledTexts, probs: np.ndarray, scores: ExampleScores, truncated: np.ndarray,
    conflict_group: np.ndarray | None = None,
) -> pd.DataFrame:
    """The results table (one row per example) from (N, K) probabilities, their scores, the
    (N,) bool mask of texts longer than max_length tokens (the model saw only their start) and
    (N,) conflict groups (identical or near-identical texts with different labels, -1 for none:
    losslens.scoring.neighbours.conflict_groups)."""
    columns = {"id": data.ids, "text": data.texts, "label": data.labels}
    columns.update(asdict(scores))
    columns["truncated"] = truncated.astype(bool)
    columns["conflict_group"] = np.full(len(data), -1, dtype=np.int64) if conflict_group is None else conflict_group
    table = pd.DataFrame(columns)
    for k, column in enumerate(probability_columns(data.label_names)):
        table[column] = probs[:, k].astype(np.float32)
    return table
