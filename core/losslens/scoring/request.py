"""What a scoring run is asked to do: the settings (ScoreSettings), the whole request
(ScoreRequest: dataset, columns, model, settings, label map) and the app's first request."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from losslens import config
from losslens.errors import ScoringError
from losslens.scoring.heads import check_head
from losslens.scoring.models import ModelSpec
from losslens.scoring.scores import QUALITY_METHODS
from losslens.sources.datasets import ColumnMapping, DatasetSource


@dataclass(frozen=True)
class ScoreSettings:
    """Scoring knobs. batch_size (rows) and max_tokens (padded tokens per batch) only change
    speed; max_length (tokens per text), folds, quality_method, seed and head (an encoder's
    out-of-sample head, see losslens.scoring.heads) change the scores."""

    batch_size: int = 128
    max_tokens: int = 8192
    max_length: int = 256
    folds: int = 5
    quality_method: str = "self_confidence"
    seed: int = 0
    head: str = "auto"

    def check(self) -> None:
        """ScoringError for a value no run can use (checked once per request, before anything is loaded)."""
        for name in ("batch_size", "max_tokens", "max_length"):
            if int(getattr(self, name)) < 1:
                raise ScoringError(f"{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.folds < 2:
            raise ScoringError(f"folds must be at least 2 (got {self.folds})")
        if self.quality_method not in QUALITY_METHODS:
            raise ScoringError(f"unknown quality method {self.quality_method[:40]!r}; "
                               f"choose one of {', '.join(QUALITY_METHODS)}")
        check_head(self.head)


@dataclass(frozen=True)
class ScoreRequest:
    """Everything that decides a results table: the dataset (source, columns, drop_empty and the
    name its decisions are grouped under; None = the source's default), the model, the settings,
    and for a classifier whose labels differ from the dataset's, label_map: (model label,
    dataset label) pairs."""

    source: DatasetSource
    columns: ColumnMapping | None = None
    drop_empty: bool = False
    name: str | None = None
    model: ModelSpec = ModelSpec()
    settings: ScoreSettings = ScoreSettings()
    label_map: tuple[tuple[str, str], ...] = ()

    def job_key(self) -> str:
        """sha256 hex naming this request's background job: it changes with anything that changes
        the outcome, an edited local file (mtime, size) and LOSSLENS_HOME included."""
        parts = asdict(self)
        parts["source"] = {**parts["source"], "upload": None}
        upload = self.source.upload
        parts["upload_sha"] = hashlib.sha256(upload).hexdigest() if upload is not None else None
        parts["home"] = str(config.home())
        location = self.source.local_path()
        if location is not None and location.exists():
            stat = location.stat()
            parts["file"] = (stat.st_mtime_ns, stat.st_size)
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def default_request() -> ScoreRequest:
    """What the app scores on first load: $LOSSLENS_DEMO_SOURCE with $LOSSLENS_DEFAULT_MODEL."""
    return ScoreRequest(source=DatasetSource.parse(config.demo_source()), model=ModelSpec(config.default_model()))
