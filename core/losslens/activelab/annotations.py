"""Multi-annotator label data: wide, long and Stanford Politeness Corpus files.

Every reader returns `MultiAnnotatorData`: an (N, M) float matrix of class indices, NaN where
annotator m gave example n no label. Bad files raise `AnnotationError` with a one-line message
naming the row/column and what to do.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from losslens.errors import AnnotationError, DataError
from losslens.sources.files import read_table

AnnotationFormat = Literal["auto", "wide", "long", "politeness"]
FORMATS: tuple[str, ...] = ("auto", "wide", "long", "politeness")
POLITENESS_THRESHOLD = 13       # a worker's 1..25 score > 13 means "polite"
POLITENESS_LABELS = ("impolite", "polite")


@dataclass(frozen=True)
class MultiAnnotatorData:
    """Labels from several annotators.

    ids: (N,) object array of str, unique. texts: (N,) object array of str, or None when the
    file had no text column. labels: (N, M) float64, class index 0..K-1 or NaN (no label).
    annotators: M annotator names. label_names: K class names. source: where it came from.
    """

    ids: np.ndarray
    texts: np.ndarray | None
    labels: np.ndarray
    annotators: tuple[str, ...]
    label_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def n_annotations(self) -> int:
        return int(np.sum(~np.isnan(self.labels)))

    def annotation_counts(self) -> np.ndarray:
        """(N,) int: number of annotations per example."""
        return np.sum(~np.isnan(self.labels), axis=1)

    def subset(self, rows: np.ndarray) -> "MultiAnnotatorData":
        """The examples at `rows` (annotators kept as they are)."""
        return MultiAnnotatorData(self.ids[rows], None if self.texts is None else self.texts[rows],
                                  self.labels[rows], self.annotators, self.label_names, self.source)


def read_annotation_table(source: str | Path | bytes, filename: str | None = None) -> pd.DataFrame:
    """The table through the project's one reader (`losslens.sources.files.read_table`: encodings, size
    cap, data-directory confinement, CSV cells as exact strings), blank cells as NaN."""
    try:
        frame = read_table(source, filename)
    except DataError as exc:
        raise AnnotationError(str(exc)) from None
    blank = frame.map(lambda v: v is None or (isinstance(v, str) and not v.strip()))
    return frame.mask(blank)


def load_annotations(source: str | Path | bytes, fmt: AnnotationFormat = "auto", *,
                     filename: str | None = None, classes: tuple[str, ...] | None = None) -> MultiAnnotatorData:
    """Read a multi-annotator file in `fmt` ("auto" picks politeness, then long, then wide).
    classes: the allowed labels, in order; a label outside them is refused (a typo is not a
    new class). Without it the classes are the distinct labels found, sorted."""
    if fmt not in FORMATS:
        raise AnnotationError(f"unknown format {str(fmt)[:20]!r}: use one of {', '.join(FORMATS)}")
    frame = read_annotation_table(source, filename)
    name = Path(filename or (source if not isinstance(source, bytes) else "upload")).name
    if fmt == "auto":
        fmt = detect_format(frame)
    if fmt == "politeness":
        return from_politeness(frame, source=name)
    if fmt == "long":
        return from_long(frame, source=name, label_names=classes)
    return from_wide(frame, source=name, label_names=classes)


def detect_format(frame: pd.DataFrame) -> AnnotationFormat:
    """politeness when Request/Score1/TurkId1 exist, long when id/annotator/label exist, else wide."""
    cols = {str(c).lower() for c in frame.columns}
    if {"request", "score1", "turkid1"} <= cols:
        return "politeness"
    if {"id", "annotator", "label"} <= cols:
        return "long"
    return "wide"


def _check_frame(frame: pd.DataFrame, required: list[str], fmt: str) -> None:
    if frame.empty:
        raise AnnotationError(f"the {fmt} annotation file has no rows")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AnnotationError(f"{fmt} format needs column(s) {', '.join(missing)}; "
                              f"the file has {', '.join(map(str, frame.columns))}")


def _ids(values: pd.Series, fmt: str) -> np.ndarray:
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise AnnotationError(f"{fmt} format: the id in row {row + 2} is empty; every example needs an id")
    ids = values.astype(str).to_numpy(dtype=object)
    dup = pd.Series(ids).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise AnnotationError(f"{fmt} format: id {ids[row]!r} appears twice (row {row + 2}); ids must be unique")
    return ids


def _texts(frame: pd.DataFrame, column: str | None) -> np.ndarray | None:
    if column is None or column not in frame.columns:
        return None
    return frame[column].fillna("").astype(str).to_numpy(dtype=object)


def _encode(raw: pd.DataFrame, label_names: tuple[str, ...] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map label values (any type, NaN = no label) to class indices; names sorted when not given."""
    present = raw.stack(future_stack=True).dropna()
    as_text = present.map(lambda v: str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v))
    names = label_names or tuple(sorted(set(as_text)))
    if len(names) < 2:
        raise AnnotationError(f"annotations use only one label ({', '.join(names) or 'none'}); "
                              "at least two classes are needed")
    index = {n: k for k, n in enumerate(names)}
    unknown = sorted(set(as_text) - set(index))
    if unknown:
        raise AnnotationError(f"unknown label(s) {', '.join(unknown[:5])}; expected one of {', '.join(names)}")
    labels = np.full(raw.shape, np.nan)
    rows = raw.index.get_indexer(present.index.get_level_values(0))
    cols = raw.columns.get_indexer(present.index.get_level_values(1))
    labels[rows, cols] = as_text.map(index).to_numpy(dtype=float)
    return labels, names


def _require_annotations(labels: np.ndarray, ids: np.ndarray, fmt: str) -> None:
    empty = np.flatnonzero(np.sum(~np.isnan(labels), axis=1) == 0)
    if len(empty):
        raise AnnotationError(f"{fmt} format: example {ids[empty[0]]!r} (row {empty[0] + 2}) has no "
                              f"annotation; {len(empty)} such row(s) — remove them")


def from_wide(frame: pd.DataFrame, *, id_column: str = "id", text_column: str = "text",
              annotator_columns: list[str] | None = None, label_names: tuple[str, ...] | None = None,
              source: str = "wide") -> MultiAnnotatorData:
    """One row per example, one column per annotator (empty = no label); `id`, `text` optional."""
    if frame.empty:
        raise AnnotationError("the wide annotation file has no rows")
    cols = annotator_columns or [c for c in frame.columns if c not in (id_column, text_column)]
    if not cols:
        raise AnnotationError("wide format needs one column per annotator besides id/text; found none")
    _check_frame(frame, cols, "wide")
    ids = _ids(frame[id_column], "wide") if id_column in frame.columns else \
        np.array([str(i) for i in range(len(frame))], dtype=object)
    labels, names = _encode(frame[cols].reset_index(drop=True), label_names)
    _require_annotations(labels, ids, "wide")
    return MultiAnnotatorData(ids, _texts(frame, text_column), labels, tuple(map(str, cols)), names, source)


def from_long(frame: pd.DataFrame, *, label_names: tuple[str, ...] | None = None,
              source: str = "long") -> MultiAnnotatorData:
    """One row per annotation: columns id, annotator, label (text optional, repeated per id)."""
    _check_frame(frame, ["id", "annotator", "label"], "long")
    for column in ("id", "annotator"):
        blank = frame[column].isna()
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise AnnotationError(f"long format: row {row + 2} has an empty {column}; fill it or drop the row")
    frame = frame.assign(id=frame["id"].astype(str), annotator=frame["annotator"].astype(str))
    blank = frame["label"].isna()
    if blank.any():
        row = int(np.flatnonzero(blank)[0])
        raise AnnotationError(f"long format: row {row + 2} has an empty label; drop the row or fill it")
    dup = frame.duplicated(["id", "annotator"])
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise AnnotationError(f"long format: annotator {frame['annotator'].iloc[row]!r} labels id "
                              f"{frame['id'].iloc[row]!r} twice (row {row + 2}); keep one row per pair")
    wide = frame.pivot(index="id", columns="annotator", values="label")
    order = pd.unique(frame["id"])
    wide = wide.loc[order]
    labels, names = _encode(wide.reset_index(drop=True), label_names)
    texts = None
    if "text" in frame.columns:
        texts = frame.drop_duplicates("id").set_index("id").loc[order, "text"].fillna("").astype(str)
        texts = texts.to_numpy(dtype=object)
    return MultiAnnotatorData(np.asarray(order, dtype=object), texts, labels,
                              tuple(map(str, wide.columns)), names, source)


def from_politeness(frame: pd.DataFrame, *, threshold: float = POLITENESS_THRESHOLD,
                    source: str = "politeness") -> MultiAnnotatorData:
    """Stanford Politeness Corpus: Request, Score1..5, TurkId1..5; label polite (1) when score > threshold."""
    pairs = [(f"Score{k}", f"TurkId{k}") for k in range(1, 6) if f"Score{k}" in frame.columns]
    _check_frame(frame, ["Request", "Score1", "TurkId1"] + [t for _, t in pairs], "politeness")
    if "Id" not in frame.columns:
        ids = np.array([str(i) for i in range(len(frame))], dtype=object)
    elif "Community" in frame.columns:   # the Stack Exchange part repeats Ids across communities
        ids = _ids(frame["Community"].fillna("").astype(str) + "/" + frame["Id"].astype(str), "politeness")
    else:
        ids = _ids(frame["Id"], "politeness")
    workers = sorted({str(w) for _, t in pairs for w in frame[t].dropna()})
    column = {w: m for m, w in enumerate(workers)}
    labels = np.full((len(frame), len(workers)), np.nan)
    for score_col, worker_col in pairs:
        scores = pd.to_numeric(frame[score_col], errors="coerce")
        bad = scores.isna() & frame[score_col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise AnnotationError(f"politeness format: {score_col} in row {row + 2} is "
                                  f"{frame[score_col].iloc[row]!r}, not a number")
        given = scores.notna() & frame[worker_col].notna()
        rows = np.flatnonzero(given)
        cols = [column[str(w)] for w in frame[worker_col][given]]
        labels[rows, cols] = (scores[given] > threshold).astype(float).to_numpy()
    _require_annotations(labels, ids, "politeness")
    return MultiAnnotatorData(ids, _texts(frame, "Request"), labels, tuple(workers), POLITENESS_LABELS, source)


def simulate_annotators(true_labels: np.ndarray, n_classes: int, *, n_annotators: int = 20,
                        per_example: int = 5, error_range: tuple[float, float] = (0.1, 0.45),
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simulated crowd for a singly-labeled dataset.

    Annotator m has its own error rate (evenly spread over `error_range`); each example gets
    `per_example` distinct annotators at random; a wrong label is uniform over the other classes.
    Returns (labels (N, n_annotators) float with NaN, error_rates (n_annotators,)).
    """
    rng = np.random.default_rng(seed)
    true_labels = np.asarray(true_labels, dtype=int)
    per_example = min(per_example, n_annotators)
    error_rates = np.linspace(*error_range, n_annotators)
    labels = np.full((len(true_labels), n_annotators), np.nan)
    for n, y in enumerate(true_labels):
        who = rng.choice(n_annotators, size=per_example, replace=False)
        wrong = rng.random(per_example) < error_rates[who]
        other = (y + rng.integers(1, n_classes, size=per_example)) % n_classes
        labels[n, who] = np.where(wrong, other, y)
    return labels, error_rates


def simulated_crowd(dataset, *, n_annotators: int = 20, per_example: int = 5,
                    error_range: tuple[float, float] = (0.05, 0.4), seed: int = 0) -> MultiAnnotatorData:
    """Simulated annotators for a singly-labeled `losslens.sources.datasets.LabeledTexts` (its labels taken as truth).

    The annotators are NOT real people: annotator "sim-01" has the lowest error rate, the last one
    the highest (rates spread evenly over `error_range`).
    """
    labels, _ = simulate_annotators(np.asarray(dataset.labels), len(dataset.label_names),
                                    n_annotators=n_annotators, per_example=per_example,
                                    error_range=error_range, seed=seed)
    names = tuple(f"sim-{m + 1:02d}" for m in range(n_annotators))
    return MultiAnnotatorData(np.asarray(dataset.ids, dtype=object), np.asarray(dataset.texts, dtype=object),
                              labels, names, tuple(dataset.label_names), f"simulated:{dataset.name}")
