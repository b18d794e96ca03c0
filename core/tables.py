"""Read one table file (CSV / TSV / Parquet / JSON Lines) into a DataFrame.

Also holds the two safety rules for user-supplied inputs: local paths are confined to
``$LOSSLENS_DATA_DIR`` when it is set, and uploads have a size limit. ``losslens.data``
re-exports everything public here; import from ``losslens.data``.
"""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pandas as pd

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SUPPORTED = ".csv, .tsv, .parquet, .jsonl"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # control chars but tab/LF/CR
MAX_UPLOAD_BYTES = int(float(os.environ.get("LOSSLENS_MAX_UPLOAD_MB", "200")) * 1024 * 1024)


class DataError(ValueError):
    """A problem with the user's data, as one specific line (row/column names, what to do)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (for wrapping library errors)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def resolve_local_path(path: str | Path) -> Path:
    """Absolute path for a user-given local path.

    With ``$LOSSLENS_DATA_DIR`` set, relative paths are taken relative to it and the result
    (after resolving ``..`` and symlinks) must lie inside it, else DataError.
    """
    data_dir = os.environ.get("LOSSLENS_DATA_DIR", "").strip()
    given = Path(path).expanduser()
    if not data_dir:
        return given.resolve()
    root = Path(data_dir).expanduser().resolve()
    resolved = (given if given.is_absolute() else root / given).resolve()
    if not resolved.is_relative_to(root):
        raise DataError(f"path '{path}' is outside the data directory {root} (LOSSLENS_DATA_DIR); "
                        "put the file inside it or give a path relative to it")
    return resolved


def _check_upload_size(upload: bytes, filename: str) -> None:
    """DataError when an upload exceeds MAX_UPLOAD_BYTES."""
    if len(upload) > MAX_UPLOAD_BYTES:
        raise DataError(f"upload '{filename}' is {len(upload) / 2**20:.1f} MB, over the "
                        f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB limit (LOSSLENS_MAX_UPLOAD_MB); "
                        "use a local path or a smaller file")


def read_table(source: str | Path | bytes, filename: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet/JSONL table chosen by file extension.

    ``source`` is a local path (confined by resolve_local_path) or the raw bytes of an
    upload (at most MAX_UPLOAD_BYTES), whose ``filename`` gives the extension. CSV/TSV cells
    are read as exact strings (no NA guessing, so "NA", "001" and "" stay as written); JSON
    Lines keep their JSON types. Raises DataError for empty, binary, unreadable or header-only files.
    """
    if isinstance(source, bytes):
        if not filename:
            raise DataError(f"an upload needs a filename with an extension ({SUPPORTED})")
        name, data = Path(filename).name, source
        _check_upload_size(data, name)
    else:
        path = resolve_local_path(source)
        name = path.name
        if not path.is_file():
            raise DataError(f"no such file: '{source}'")
        data = path.read_bytes()
    suffix = Path(name).suffix.lower()
    if suffix not in CSV_SUFFIXES and suffix not in JSONL_SUFFIXES and suffix not in PARQUET_SUFFIXES:
        raise DataError(f"file '{name}' has an unsupported type '{suffix or '(none)'}'; use {SUPPORTED}")
    if not data:
        raise DataError(f"file '{name}' is empty (0 bytes)")
    if suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(data, name)
    else:
        text = _decode_text(data, name)
        if suffix in JSONL_SUFFIXES:
            frame = _read_jsonl(text, name)
        else:
            frame = _read_csv(text, name, CSV_SUFFIXES[suffix])
    if len(frame.columns) == 0:
        raise DataError(f"file '{name}' has no columns")
    if len(frame) == 0:
        raise DataError(f"file '{name}' has a header ({', '.join(map(str, frame.columns))}) but no rows")
    return frame


def decode_bytes(data: bytes) -> str:
    """Text from bytes: UTF-8 (a BOM is stripped), else cp1252, else Latin-1 (never fails)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _decode_text(data: bytes, name: str) -> str:
    """Decode a CSV/TSV/JSONL file (UTF-16 with BOM too); DataError when it looks binary."""
    binary = DataError(f"file '{name}' does not look like text (binary content); expected {SUPPORTED}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM (Excel "Unicode text")
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise binary from None
    if b"\x00" in data[:65536] or data.startswith(b"PAR1"):
        raise binary
    text = decode_bytes(data)
    head = text[:65536]
    if len(_CONTROL.findall(head)) > max(2, len(head) // 100):
        raise binary
    return text


def _read_csv(text: str, name: str, sep: str) -> pd.DataFrame:
    """Parse CSV/TSV text with every cell as an exact string (quoted newlines/commas kept)."""
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                           na_filter=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"file '{name}' has no header row (only blank lines)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"file '{name}' is not a readable {'TSV' if sep == chr(9) else 'CSV'} "
                        f"file: {first_line(exc)}") from None


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    """Parse JSON Lines (one object per line); a whole-file JSON array of objects also works."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(f"file '{name}' is not valid JSON: {first_line(exc)}") from None
    else:
        records = []
        for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit in a value
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"file '{name}' line {number} is not valid JSON: {first_line(exc)}") from None
    if not all(isinstance(record, dict) for record in records):
        raise DataError(f"file '{name}' must hold one JSON object per line (column: value)")
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    """Read Parquet bytes with pyarrow."""
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise DataError(f"file '{name}' is not a readable Parquet file: {first_line(exc)}") from None
