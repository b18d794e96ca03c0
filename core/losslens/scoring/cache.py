"""On-disk cache: content-addressed keys, atomic checksummed arrays, resumable inference chunks."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from losslens import config
from losslens.errors import ConfigError

CODE_VERSION = "2"  # 2: classifier outputs carry the pooled hidden state; checksummed side files
_MAGIC = b"LOSSLENS-ARRAY-1\n"
_DIGEST_LEN = 64  # sha256 hex
_STALE_TMP_SECONDS = 600


def cache_dir(name: str) -> Path:
    """The folder `name` (outputs, chunks, probs, scores, simulations) under LOSSLENS_HOME, created."""
    return config.writable_folder(config.home() / name)


def cache_key(**parts) -> str:
    """sha256 hex of the sorted JSON of `parts` plus CODE_VERSION (non-JSON values via str())."""
    payload = json.dumps({"parts": parts, "code_version": CODE_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: readers see old or new,
    never half. The file gets the permissions the umask gives a new file (mkstemp's are 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_cache(path: Path, data: bytes) -> None:
    """atomic_write for a cache file; a full or read-only LOSSLENS_HOME is one clear ConfigError."""
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise ConfigError(f"cannot write the cache file {path.name} in {path.parent}: {exc.strerror or exc}; "
                          "free some space or point LOSSLENS_HOME at a writable folder") from None


def save_array(path: str | Path, arr: np.ndarray) -> None:
    """Save `arr` atomically as a header (magic + sha256 of the .npy bytes) followed by the .npy bytes."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    body = buf.getvalue()
    digest = hashlib.sha256(body).hexdigest().encode("ascii")
    _write_cache(Path(path), _MAGIC + digest + b"\n" + body)


def load_array(path: str | Path) -> np.ndarray | None:
    """The array saved at `path`; None when missing. A truncated or corrupt file is deleted and None returned."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    head = len(_MAGIC) + _DIGEST_LEN + 1
    body = raw[head:]
    valid = (
        raw.startswith(_MAGIC)
        and len(raw) > head
        and raw[head - 1 : head] == b"\n"
        and hashlib.sha256(body).hexdigest().encode("ascii") == raw[len(_MAGIC) : head - 1]
    )
    if valid:
        try:
            return np.load(io.BytesIO(body), allow_pickle=False)
        except ValueError:
            pass
    path.unlink(missing_ok=True)
    return None


def save_json(path: str | Path, value: dict) -> None:
    """Save a JSON object atomically with the sha256 of its canonical text (see load_json)."""
    body = json.dumps(value, sort_keys=True)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    _write_cache(Path(path), json.dumps({"sha256": digest, "value": value}, sort_keys=True).encode("utf-8"))


def load_json(path: str | Path) -> dict | None:
    """The object saved at `path`; None when missing. A damaged file is deleted and None returned."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        body = json.dumps(raw["value"], sort_keys=True)
        if hashlib.sha256(body.encode("utf-8")).hexdigest() == raw["sha256"] and isinstance(raw["value"], dict):
            return raw["value"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        pass
    path.unlink(missing_ok=True)
    return None


class ChunkStore:
    """Finished inference chunks under `root`, one checksummed file per chunk index.

    The caller keys `root` by everything that determines the chunks (texts, model, settings),
    so a chunk found here is a valid result; corrupt chunks are dropped and recomputed.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, index: int) -> Path:
        return self.root / f"chunk_{index:06d}.npy"

    def save(self, index: int, arr: np.ndarray) -> None:
        """Atomically store chunk `index`."""
        save_array(self._path(index), arr)

    def load_all(self) -> dict[int, np.ndarray]:
        """{index: array} of every intact chunk (corrupt ones are deleted, stale temp files removed)."""
        if not self.root.is_dir():
            return {}
        for tmp in self.root.glob(".chunk_*.tmp"):  # left by a killed writer (a live one finishes in seconds)
            if time.time() - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                tmp.unlink(missing_ok=True)
        chunks: dict[int, np.ndarray] = {}
        for path in sorted(self.root.glob("chunk_*.npy")):
            try:
                index = int(path.stem.removeprefix("chunk_"))
            except ValueError:
                continue
            arr = load_array(path)
            if arr is not None:
                chunks[index] = arr
        return chunks

    def clear(self) -> None:
        """Remove every chunk (and the folder)."""
        shutil.rmtree(self.root, ignore_errors=True)
