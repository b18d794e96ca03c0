"""Tables to files: CSV that no spreadsheet runs as formulas, exact Parquet, Hugging Face datasets
(a save_to_disk folder, a zip of one, or pushed to the Hub); one check of where a file may go and
atomic writes. Used by the corrected-dataset export and by decision history files."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from losslens.errors import ExportError, first_line
from losslens.scoring.cache import atomic_write

EXPORT_FORMATS = (".csv", ".parquet")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(a copy of `frame` whose column names and text cells starting with = + - @ tab or carriage
    return get a leading ' so no spreadsheet runs them as formulas (OWASP CSV injection), how many
    names and cells). A column name is the header row's cell: a Parquet column named
    `=HYPERLINK(...)` is as live as a cell."""
    out = frame.copy()
    names = [str(c) for c in out.columns]
    risky_names = [name.startswith(FORMULA_STARTS) for name in names]
    out.columns = ["'" + name if risky else column for name, risky, column in zip(names, risky_names, out.columns)]
    changed = sum(risky_names)
    for position in range(out.shape[1]):   # by position: names may repeat
        values = out.iloc[:, position]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).to_numpy(dtype=bool)
            if risky.any():
                out.isetitem(position, values.astype(object).where(~risky, "'" + values.astype(str)))
                changed += int(risky.sum())
    return out, changed


def to_csv_bytes(frame: pd.DataFrame, raw: bool = False) -> bytes:
    """UTF-8 CSV for a download button: no index, RFC 4180 "\\r\\n" line ends, and fields quoted
    when they hold a comma, quote, "\\r" or "\\n" (Python's csv quotes only the characters of the
    line terminator, so a lone "\\r" would break a "\\n"-terminated file). Cells that a spreadsheet
    would run as formulas are neutralised (neutralise_formulas) unless `raw`."""
    if not raw:
        frame, _ = neutralise_formulas(frame)
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as a Parquet file's bytes (no index)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def check_export_path(path: str | Path, folder_ok: bool = True) -> Path:
    """`path` as a Path: a .csv or .parquet file, or a name without an extension: a folder for a
    Hugging Face dataset, which must not exist yet or be empty (ExportError otherwise)."""
    path = Path(path)
    folder = not path.suffix and folder_ok
    if (not folder and path.suffix.lower() not in EXPORT_FORMATS) or (
            folder and path.exists() and (not path.is_dir() or any(path.iterdir()))):
        raise ExportError(f"cannot write {path.name[:80]!r}: give a .csv or .parquet file name"
                          + (", or a new or empty folder name (no extension) for a Hugging Face dataset"
                             if folder_ok else ""))
    if not folder and path.is_dir():
        raise ExportError(f"cannot write {str(path)[:120]!r}: it is a folder; give a file name")
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ExportError(f"cannot write under {str(parent)[:120]!r}: "
                          f"{'not a folder' if not parent.is_dir() else 'no write permission'}")
    return path


def write_export(frame: pd.DataFrame, path: str | Path, label_names: Sequence[str] = (), raw: bool = False) -> Path:
    """Write `frame` as .csv (formula cells neutralised unless `raw`) or .parquet (exact), chosen
    by the extension, atomically (temp + rename); a name without an extension becomes a Hugging
    Face save_to_disk folder (see hf_dataset)."""
    path = check_export_path(path)
    try:
        if not path.suffix:
            hf_dataset(frame, label_names).save_to_disk(str(path))
            return path
        atomic_write(path, to_csv_bytes(frame, raw) if path.suffix.lower() == ".csv" else parquet_bytes(frame))
    except OSError as exc:
        raise ExportError(f"cannot write {str(path)[:120]!r}: {exc.strerror or exc}") from None
    return path


def hf_dataset(frame: pd.DataFrame, label_names: Sequence[str]):
    """`frame` as a datasets.Dataset with corrected_label a ClassLabel over `label_names` (the
    labels as names or as indices); other columns keep their types."""
    import datasets

    if frame["corrected_label"].dtype == object:
        frame = frame.assign(corrected_label=pd.Index(list(label_names)).get_indexer(frame["corrected_label"]))
    dataset = datasets.Dataset.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    return dataset.cast_column("corrected_label", datasets.ClassLabel(names=[str(n) for n in label_names]))


def push_to_hub(frame: pd.DataFrame, label_names: Sequence[str], repo_id: str, private: bool = True) -> str:
    """Push `frame` (see hf_dataset) to the Hub as `repo_id` (a token from `hf auth login` or
    HF_TOKEN); returns its URL. Offline, or without access: ExportError."""
    try:
        hf_dataset(frame, label_names).push_to_hub(repo_id, private=private)
    except Exception as exc:  # network, auth, bad repo id: one line for the user
        raise ExportError(f"could not push to the Hub as {repo_id[:80]!r}: {first_line(exc, 120)}") from None
    return f"https://huggingface.co/datasets/{repo_id}"


def hf_zip_bytes(frame: pd.DataFrame, label_names: Sequence[str]) -> bytes:
    """A zip of the save_to_disk folder of `frame` (for a download button)."""
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as folder:
        hf_dataset(frame, label_names).save_to_disk(folder)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(Path(folder).rglob("*")):
                if file.is_file():
                    archive.write(file, Path("dataset") / file.relative_to(folder))
        return buffer.getvalue()
