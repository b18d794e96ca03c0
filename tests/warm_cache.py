"""A session-wide warmed cache: each (dataset file, model) pair is scored once per test session into
a template LOSSLENS_HOME, and a test that opens the app on it copies the template's cache (never
its decisions) into its own home, so the app's first load is a cache hit instead of a cold run.
The templates are removed when the test session's process exits."""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from losslens import DatasetSource, ModelSpec, ScoreRequest, score

_TEMPLATES: dict[tuple[str, str], Path] = {}
_NOT_CACHE = shutil.ignore_patterns("decisions*", "backups")


def warm_home(home: Path, dataset: str | Path, model: str | Path) -> Path:
    """Copy into `home` the cache of scoring the file `dataset` with `model` under the app's
    default settings (scored once per session and content); returns `home`."""
    key = (hashlib.sha256(Path(dataset).read_bytes()).hexdigest(), str(model))
    if key not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="losslens-warm-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        previous = os.environ.get("LOSSLENS_HOME")
        os.environ["LOSSLENS_HOME"] = str(template)
        try:
            score(ScoreRequest(DatasetSource.parse(str(dataset)), model=ModelSpec(str(model))))
        finally:
            if previous is None:
                os.environ.pop("LOSSLENS_HOME")
            else:
                os.environ["LOSSLENS_HOME"] = previous
        _TEMPLATES[key] = template
    shutil.copytree(_TEMPLATES[key], home, ignore=_NOT_CACHE, dirs_exist_ok=True)
    return home
