"""Real-browser helpers: `streamlit run app.py` on a free port, waiting for Streamlit to be idle.

Fixtures that drive /usr/bin/chromium through Playwright are in tests/conftest.py.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from losslens.cli.app import SERVE_STREAMLIT

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def start_app(home: Path, demo_source: str, model: str, log: Path, port: int | None = None,
              flags: tuple[str, ...] = (), **settings: str):
    """Run the app as `losslens app` does, on a localhost port (free, unless given) with its own
    LOSSLENS_HOME (and any other LOSSLENS_* `settings`, e.g. LOSSLENS_DB_URL=...) and extra
    Streamlit `flags` (e.g. --secrets.files=...); yield its URL."""
    port = port or free_port()
    env = {**os.environ, "LOSSLENS_HOME": str(home), "LOSSLENS_DEMO_SOURCE": demo_source,
           "LOSSLENS_DEFAULT_MODEL": model, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", **settings}
    if "LOSSLENS_DB_URL" not in settings:
        env.pop("LOSSLENS_DB_URL", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE_STREAMLIT, "run", "app.py", "--server.headless=true",
             f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
             f"--secrets.files={home / 'no-secrets.toml'}", *flags],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/_stcore/health", proc, log, "app", expect=b"ok")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until_serving(url: str, proc: subprocess.Popen, log: Path, what: str, expect: bytes | None = None,
                       seconds: float = 60) -> None:
    """Poll `url` until it answers 200 (with body `expect`, when given); a RuntimeError with the
    end of `log` if `proc` exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200 and (expect is None or reply.read().strip() == expect):
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_selector(IDLE, timeout=timeout)
