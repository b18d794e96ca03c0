"""LossLens: find and fix mislabeled examples in text-classification datasets (no UI here).

    from losslens import DatasetSource, ModelSpec, ScoreRequest, score
    data, results = score(ScoreRequest(DatasetSource.parse("demo:bbc"), model=ModelSpec("bundled:minilm")))
    results.table.sort_values("loss", ascending=False).head()

Every error a user can cause is a LossLensError with a one-line message.
"""
from losslens.sources.datasets import ColumnMapping, DatasetSource, LabeledTexts, load_dataset
from losslens.review.binding import BoundDecisions, bind_decisions
from losslens.errors import LossLensError
from losslens.export import corrected_frame
from losslens.writers import write_export
from losslens.scoring.models import ModelSpec
from losslens.scoring.pipeline import score
from losslens.scoring.request import ScoreRequest, ScoreSettings
from losslens.scoring.results import ScoredResults
from losslens.review.queue import ReviewQuery, query_results
from losslens.store.decisions import DecisionStore

__all__ = [
    "BoundDecisions", "ColumnMapping", "DatasetSource", "DecisionStore", "LabeledTexts", "LossLensError",
    "ModelSpec", "ReviewQuery", "ScoreRequest", "ScoreSettings", "ScoredResults", "bind_decisions",
    "corrected_frame", "load_dataset", "query_results", "score", "write_export",
]
