"""Running `losslens` as a user does: a subprocess with its own LOSSLENS_HOME (also one killed with
SIGKILL right after it stored its first inference chunk), and the pattern of `losslens score`'s
one-line summary."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUMMARY = re.compile(
    r"^rows=(\d+) accuracy=([\d.]+) issues=(\d+) seconds=([\d.]+) cache=(hit|miss) "
    r"probabilities=(in-sample|out-of-sample) truncated=(\d+)"
)


def losslens(*args: str, env_home: Path, timeout: int = 3600) -> subprocess.CompletedProcess:
    """`python -m losslens.cli ARGS` with LOSSLENS_HOME=env_home, offline; output captured as text.
    `timeout` (seconds) only guards against a hang: no result depends on it."""
    env = {**os.environ, "LOSSLENS_HOME": str(env_home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "losslens.cli", *args], capture_output=True, text=True,
        env=env, timeout=timeout, cwd=ROOT,
    )


# Run the CLI with ChunkStore.save patched to SIGKILL the process once the first chunk is on disk:
# the kill lands at the same point on any machine, however busy, with no clock involved.
DIE_AFTER_FIRST_CHUNK = """
import os, signal, sys
from losslens.scoring.cache import ChunkStore
save = ChunkStore.save
def save_then_die(self, index, array):
    save(self, index, array)
    os.kill(os.getpid(), signal.SIGKILL)
ChunkStore.save = save_then_die
from losslens.cli import main
sys.exit(main(sys.argv[1:]))
"""


def losslens_killed_after_first_chunk(*args: str, env_home: Path) -> None:
    """`losslens ARGS`, SIGKILLed right after its first finished inference chunk was stored;
    AssertionError if it ended any other way."""
    env = {**os.environ, "LOSSLENS_HOME": str(env_home), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", DIE_AFTER_FIRST_CHUNK, *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, start_new_session=True)
    assert run.returncode == -signal.SIGKILL, f"the run was not killed after its first chunk: {run.stderr[-2000:]}"
