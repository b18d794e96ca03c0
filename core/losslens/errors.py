"""Errors a user can cause and fix. Each is one line of at most MAX_MESSAGE characters, naming
the problem and what to do; the CLI prints it and exits 2, the app shows it with st.error."""
from __future__ import annotations

from typing import Sequence

MAX_MESSAGE = 300


def one_line(text: object, limit: int = MAX_MESSAGE) -> str:
    """`text` with its whitespace collapsed to single spaces, cut to `limit` characters (…)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def first_line(exc: BaseException, limit: int = MAX_MESSAGE) -> str:
    """The first non-empty line of an exception's message, cut short (for wrapping library
    errors); the exception's type name when it has no message."""
    for line in str(exc).splitlines():
        if line.strip():
            return one_line(line, limit)
    return type(exc).__name__


def excerpt(value: object, limit: int = 40) -> str:
    """A short quoted excerpt of user input for a message (never the whole value)."""
    return repr(one_line(value, limit))


class LossLensError(ValueError):
    """Base of every error a user can cause; the message is one line of <= MAX_MESSAGE chars."""

    def __init__(self, message: object) -> None:
        super().__init__(one_line(message))


class ConfigError(LossLensError):
    """A LOSSLENS_* setting with a value that cannot be used."""


class DataError(LossLensError):
    """A dataset, file or path that cannot be used (names the rows/columns involved)."""


class ModelError(LossLensError):
    """A model that cannot be used."""


class LabelMismatchError(ModelError):
    """A classifier whose labels differ from the dataset's; carries both lists for a mapping."""

    def __init__(self, message: object, model_labels: Sequence[str], dataset_labels: Sequence[str]) -> None:
        super().__init__(message)
        self.model_labels = tuple(str(m) for m in model_labels)
        self.dataset_labels = tuple(str(d) for d in dataset_labels)


class ScoringError(LossLensError):
    """A dataset that cannot be scored (e.g. a class too small for K-fold)."""


class NotScoredError(ScoringError):
    """Results asked for from the cache only (a team's reviewer) that are not there yet."""


class StoreError(LossLensError):
    """A decision store problem (bad status, newer schema, damaged file)."""


class ExportError(LossLensError):
    """An export that cannot be made (bad path, unknown label)."""


class AnnotationError(LossLensError):
    """A multi-annotator file that cannot be used."""


class SimulationError(LossLensError):
    """ActiveLab simulation settings the annotation data cannot satisfy."""


class EngineError(LossLensError):
    """A scoring engine that cannot run: Ray missing, a cluster that cannot be reached or is too small."""
