"""The one reader of user files (datasets, uploads, annotation files) and the rules for every path
or name a user gives.

- Formats: CSV / TSV (every cell an exact string), JSON Lines (or a JSON array of objects) and
  Parquet, chosen by the file extension.
- Encodings: UTF-8 (BOM stripped), UTF-16 with a BOM, else cp1252, else Latin-1; binary refused.
  One encoding per file: a file that is not UTF-8 but holds UTF-8 characters (rows pasted from
  two sources), or a byte-order mark starting a later line (two files joined), is refused with
  the line number instead of being decoded wrongly as a whole.
- Size cap: config.max_file_bytes() for uploads and files alike (checked before reading).
- Confinement: with LOSSLENS_DATA_DIR set, a local path (relative paths are taken relative to
  it) must resolve, symlinks and `..` included, inside it.
- Hub names: a name is looked up on the Hugging Face Hub only when it has Hub syntax
  (NAME or ORG/NAME) and names no local path; anything else is a local path and confined.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd

from losslens import config
from losslens.errors import DataError, excerpt, first_line, one_line

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SUPPORTED = ".csv, .tsv, .parquet, .jsonl"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # control chars but tab/LF/CR
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")                # a \uD800-\uDFFF escape in a JSON line
_SURROGATE_IN_VALUE = re.compile("[\ud800-\udfff]")               # ... that decoded to a lone surrogate
_UTF8_CHARACTER = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HUB_PART = r"[A-Za-z0-9](?:[\w.-]*[\w-])?"
_HUB_NAME = re.compile(rf"{_HUB_PART}(?:/{_HUB_PART})?")


def resolve_user_path(path: str | Path) -> Path:
    """Absolute path for a local path a user gave; DataError when it cannot be one.

    With LOSSLENS_DATA_DIR set, relative paths are taken relative to it and the result (after
    resolving `..` and symlinks) must lie inside it. Existence is the caller's check.
    """
    root = config.data_dir()
    try:
        given = Path(path).expanduser()
        resolved = (given if root is None or given.is_absolute() else root / given).resolve()
        resolved.exists()   # raises for a name the filesystem refuses (NUL byte, too long)
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte, a name too long
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc, 60)
        raise DataError(f"path {excerpt(path, 80)} cannot be used: {why}") from None
    if root is not None and not resolved.is_relative_to(root):
        raise DataError(f"path {excerpt(path, 80)} is outside the data directory {root} (LOSSLENS_DATA_DIR); "
                        "put the file inside it or give a path relative to it")
    return resolved


def hub_name_or_local_path(name: str) -> str | Path:
    """`name` itself when it is a Hub repo id (NAME or ORG/NAME) naming no local path, else the
    confined local Path it names (see resolve_user_path). Libraries that take Hub ids also open
    local folders of the same name, so a name that exists locally is never sent to the Hub."""
    name = name.strip()
    root = config.data_dir()
    try:
        local = Path(name).expanduser().exists() or (root is not None and (root / name).exists())
    except (OSError, ValueError):   # not a name the filesystem takes: not a Hub name either
        local = True
    if _HUB_NAME.fullmatch(name) and not local:
        return name
    return resolve_user_path(name)


def is_hub_name(name: str) -> bool:
    """True when `name` would be looked up on the Hub (see hub_name_or_local_path); never raises."""
    try:
        return isinstance(hub_name_or_local_path(name), str)
    except DataError:
        return False


def read_table(source: str | Path | bytes, filename: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet/JSONL table chosen by file extension.

    `source` is a local path (confined by resolve_user_path) or the raw bytes of an upload,
    whose `filename` gives the extension. CSV/TSV cells are read as exact strings (no NA
    guessing, so "NA", "001" and "" stay as written); JSON Lines keep their JSON types. Raises
    DataError for a missing, too large, empty, binary, unreadable or header-only file.
    """
    limit = config.max_file_bytes()
    if isinstance(source, bytes):
        if not filename:
            raise DataError(f"an upload needs a filename with an extension ({SUPPORTED})")
        name, data = Path(filename).name, source
        _check_size(len(data), limit, f"upload {excerpt(name, 80)}")
    else:
        path = resolve_user_path(source)
        name = path.name
        if not path.is_file():
            raise DataError(f"no such file: {excerpt(source, 120)}")
        _check_size(path.stat().st_size, limit, f"file {excerpt(name, 80)}")
        data = path.read_bytes()
    suffix = Path(name).suffix.lower()
    if suffix not in CSV_SUFFIXES and suffix not in JSONL_SUFFIXES and suffix not in PARQUET_SUFFIXES:
        raise DataError(f"file {excerpt(name, 80)} has an unsupported type {excerpt(suffix or '(none)', 20)}; "
                        f"use {SUPPORTED}")
    if not data:
        raise DataError(f"file {excerpt(name, 80)} is empty (0 bytes)")
    if suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(data, name)
    else:
        text = _decode_text(data, name)
        frame = _read_jsonl(text, name) if suffix in JSONL_SUFFIXES else _read_csv(text, name, CSV_SUFFIXES[suffix])
    frame.columns = [str(c) for c in frame.columns]
    if len(frame.columns) == 0:
        raise DataError(f"file {excerpt(name, 80)} has no columns")
    if len(frame) == 0:
        raise DataError(f"file {excerpt(name, 80)} has a header ({one_line(', '.join(frame.columns), 120)}) "
                        "but no rows")
    return frame


def decode_bytes(data: bytes) -> str:
    """Text from bytes: UTF-8 (a BOM is stripped), else cp1252, else Latin-1 (never fails)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise DataError(f"{what} is {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit "
                        "(LOSSLENS_MAX_UPLOAD_MB); raise the limit, or use a smaller file")


def _decode_text(data: bytes, name: str) -> str:
    """Decode a CSV/TSV/JSONL file (UTF-16 with BOM too); DataError when it looks binary."""
    binary = DataError(f"file {excerpt(name, 80)} does not look like text (binary content); expected {SUPPORTED}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM (Excel "Unicode text")
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise binary from None
    if b"\x00" in data[:65536] or data.startswith(b"PAR1"):
        raise binary
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")   # not utf-8-sig: its error offsets skip the BOM
    except UnicodeDecodeError as exc:
        _refuse_mixed_encodings(data, exc.start, name)
        text = decode_bytes(data)
    head = text[:65536]
    if len(_CONTROL.findall(head)) > max(2, len(head) // 100):
        raise binary
    header = text.split("\n", 1)[0].rstrip("\r")
    joined = text.find("\n\ufeff" + header) if header else -1
    while joined >= 0:   # a byte-order mark and the header again: a second file appended (a cell may start with U+FEFF)
        after = joined + 2 + len(header)
        if text[after:after + 1] in ("", "\n", "\r"):
            line = text.count("\n", 0, joined) + 2
            raise DataError(f"file {excerpt(name, 80)} line {line} starts with a byte-order mark (U+FEFF) and the "
                            "header again: two files joined into one? Remove it and the repeated header row")
        joined = text.find("\n\ufeff" + header, joined + 1)
    return text


def _refuse_mixed_encodings(data: bytes, bad: int, name: str) -> None:
    """DataError when `data`, which is not UTF-8 at byte offset `bad`, is UTF-8 elsewhere (a UTF-8
    character or byte-order mark): decoding it all as cp1252 would turn every "é" there into "Ã©"."""
    bom = data.startswith(b"\xef\xbb\xbf")
    utf8 = _UTF8_CHARACTER.search(data, 3 if bom else 0)
    if utf8 is None and not bom:
        return
    line_start = data.rfind(b"\n", 0, bad) + 1
    line_end = data.find(b"\n", bad)
    shown = data[max(line_start, bad - 30):bad + 10 if line_end < 0 else min(line_end, bad + 10)]
    utf8_part = f"line {_line_number(data, utf8.start())} is" if utf8 else "the file starts with a UTF-8 byte-order mark"
    raise DataError(f"file {excerpt(name, 80)} mixes text encodings: line {_line_number(data, bad)} is not UTF-8 "
                    f"(byte 0x{data[bad]:02x} in {excerpt(decode_bytes(shown), 40)}) but {utf8_part}; "
                    "save the whole file as UTF-8 (Excel: CSV UTF-8)")


def _line_number(data: bytes, offset: int) -> int:
    """1-based line of byte `offset` in `data`."""
    return data.count(b"\n", 0, offset) + 1


def _read_csv(text: str, name: str, sep: str) -> pd.DataFrame:
    """Parse CSV/TSV text with every cell as an exact string (quoted newlines/commas kept)."""
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"file {excerpt(name, 80)} has no header row (only blank lines)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"file {excerpt(name, 80)} is not a readable {'TSV' if sep == chr(9) else 'CSV'} "
                        f"file: {first_line(exc)}") from None


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    """Parse JSON Lines (one object per line); a whole-file JSON array of objects also works."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(f"file {excerpt(name, 80)} is not valid JSON: {first_line(exc)}") from None
    else:
        records = []
        for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit in a value
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"file {excerpt(name, 80)} line {number} is not valid JSON: "
                                f"{first_line(exc)}") from None
            if _SURROGATE.search(line) and _SURROGATE_IN_VALUE.search(json.dumps(records[-1], ensure_ascii=False)):
                raise DataError(f"file {excerpt(name, 80)} line {number} holds text that is not valid Unicode "
                                "(an escaped lone surrogate such as \\ud800); fix or remove it")
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise DataError(f"file {excerpt(name, 80)} must hold one JSON object per line (column: value)")
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    """Read Parquet bytes with pyarrow."""
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise DataError(f"file {excerpt(name, 80)} is not a readable Parquet file: {first_line(exc)}") from None
