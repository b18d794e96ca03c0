"""Every setting LossLens takes from the environment, read when it is needed (never at import).

LOSSLENS_HOME           cache + decision store folder (default ~/.cache/losslens)
LOSSLENS_DATA_DIR       when set, every local path a user gives must lie inside it
LOSSLENS_MAX_UPLOAD_MB  largest upload / file read, in MB (default 200)
LOSSLENS_DEMO_SOURCE    what the app scores on first load (default demo:bbc)
LOSSLENS_DEFAULT_MODEL  the model it scores with (default bundled:minilm)
LOSSLENS_DB_URL         the decision store's database (default the SQLite file in LOSSLENS_HOME)
LOSSLENS_BATCHED_SCORING_ROWS  from this many rows on, scores are computed in bounded memory (default 1000000)
LOSSLENS_MAX_CLASSES    most classes (distinct labels) a dataset may have, checked at load before any
                        inference (default 1000; memory grows with rows x classes)
LOSSLENS_MAX_JOBS       heavy jobs (worker processes) that run at once; the rest wait in line (default 1)
LOSSLENS_JOB_THREADS    threads each worker process computes with: torch, BLAS, tokenizers (default every core)
LOSSLENS_RAY_ADDRESS    when set, scoring jobs run the model on this Ray cluster (host:port, or "auto")
HF_HUB_OFFLINE          1/true/yes/on: Hub look-ups fail at once instead of after retries
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from losslens.errors import ConfigError

DEFAULT_DEMO_SOURCE = "demo:bbc"
DEFAULT_MODEL = "bundled:minilm"
DEFAULT_MAX_UPLOAD_MB = 200.0
DEFAULT_BATCHED_SCORING_ROWS = 1_000_000
DEFAULT_MAX_CLASSES = 1_000


def _setting(name: str) -> str:
    return os.environ.get(name, "").strip()


def home() -> Path:
    """$LOSSLENS_HOME (default ~/.cache/losslens), created if missing."""
    return writable_folder(Path(_setting("LOSSLENS_HOME") or Path.home() / ".cache" / "losslens").expanduser())


def writable_folder(folder: Path) -> Path:
    """`folder`, created if missing; ConfigError (pointing at LOSSLENS_HOME) when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {folder}: {exc.strerror or exc}; "
                          "point LOSSLENS_HOME at a writable folder") from None
    return folder


def data_dir() -> Path | None:
    """$LOSSLENS_DATA_DIR resolved (symlinks and .. removed), or None when unset."""
    value = _setting("LOSSLENS_DATA_DIR")
    return Path(value).expanduser().resolve() if value else None


def max_file_bytes() -> int:
    """Largest upload or file LossLens reads, in bytes ($LOSSLENS_MAX_UPLOAD_MB, default 200 MB)."""
    value = _setting("LOSSLENS_MAX_UPLOAD_MB")
    try:
        megabytes = float(value) if value else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        raise ConfigError(f"LOSSLENS_MAX_UPLOAD_MB must be a number of megabytes, not {value[:40]!r}") from None
    if not (math.isfinite(megabytes) and megabytes > 0):   # nan, inf and 1e400 too
        raise ConfigError(f"LOSSLENS_MAX_UPLOAD_MB must be a positive number of megabytes, not {value[:40]!r}")
    return int(megabytes * 1024 * 1024)


def batched_scoring_rows() -> int:
    """Datasets with at least this many rows are scored by losslens.scoring.batched (bounded
    memory) instead of in memory ($LOSSLENS_BATCHED_SCORING_ROWS, default 1,000,000)."""
    return _whole_number("LOSSLENS_BATCHED_SCORING_ROWS", "rows", 1, DEFAULT_BATCHED_SCORING_ROWS)


def max_classes() -> int:
    """Most classes a dataset may have ($LOSSLENS_MAX_CLASSES, default 1,000): probabilities,
    heads and charts grow with rows x classes, so a label column with thousands of distinct
    values (often an id or text column picked by mistake) is refused at load."""
    return _whole_number("LOSSLENS_MAX_CLASSES", "classes", 2, DEFAULT_MAX_CLASSES)



def max_jobs() -> int:
    """Heavy jobs (each a worker process) that run at once; later ones wait in line ($LOSSLENS_MAX_JOBS, default 1)."""
    return _whole_number("LOSSLENS_MAX_JOBS", "jobs", 1, 1)


def job_threads() -> int:
    """Threads a worker process computes with (torch, BLAS, tokenizers) ($LOSSLENS_JOB_THREADS,
    default every core this process may run on)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return _whole_number("LOSSLENS_JOB_THREADS", "threads", 1, cores)


def ray_address() -> str | None:
    """$LOSSLENS_RAY_ADDRESS: the Ray cluster scoring jobs run the model on (host:port, or "auto"); None when unset."""
    return _setting("LOSSLENS_RAY_ADDRESS") or None


def _whole_number(name: str, unit: str, minimum: int, default: int) -> int:
    """The setting `name` as a whole number >= minimum (ASCII digits only), `default` when unset."""
    value = _setting(name)
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < minimum:
        raise ConfigError(f"{name} must be a whole number of {unit} >= {minimum}, not {value[:40]!r}")
    return int(value)


def demo_source() -> str:
    """The dataset the app scores on first load, as a CLI dataset string."""
    return _setting("LOSSLENS_DEMO_SOURCE") or DEFAULT_DEMO_SOURCE


def default_model() -> str:
    """The model the app scores with on first load."""
    return _setting("LOSSLENS_DEFAULT_MODEL") or DEFAULT_MODEL


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE asks for no Hub network calls."""
    return _setting("HF_HUB_OFFLINE").lower() in {"1", "true", "yes", "on"}


def decision_store_path() -> Path:
    """The default SQLite decision store: $LOSSLENS_HOME/decisions.sqlite."""
    return home() / "decisions.sqlite"


def decision_store_url() -> str:
    """$LOSSLENS_DB_URL (a SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db), else the SQLite
    file decision_store_path()."""
    return _setting("LOSSLENS_DB_URL") or str(decision_store_path())
