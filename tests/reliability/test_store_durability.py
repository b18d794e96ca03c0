"""Decision store under concurrent writers and SIGKILL, on SQLite and PostgreSQL: nothing committed is ever lost."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from losslens.store.decisions import DecisionStore

REPO = Path(__file__).resolve().parents[2]
KEY = "file:train.csv"

WRITER = textwrap.dedent(
    """
    import sys
    from losslens.store.decisions import DecisionStore
    path, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = DecisionStore(path)
    for i in range(count):
        decision = store.record("file:train.csv", f"{writer}-{i}", "sport", "tech", "relabeled", writer, text_hash=None)
        print(decision.example_id, flush=True)  # printed only after the commit returned
    """
)


def _writer(path: Path, name: str, count: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "core"), str(REPO)])}   # this tree's losslens
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), name, str(count)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _integrity(place) -> str:
    """SQLite's own integrity check; PostgreSQL's WAL recovery is the server's job ("ok" when it answers)."""
    if not isinstance(place, Path):
        DecisionStore(place).dataset_keys()
        return "ok"
    db = sqlite3.connect(place)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def test_two_processes_writing_1000_decisions_each_lose_nothing(store_place):
    path = store_place  # both writers create/migrate the fresh file (or empty database) at once
    writers = [_writer(path, name, 1000) for name in ("ann", "bob")]
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert len(out.split()) == 1000
    current = DecisionStore(path).in_force(KEY)
    assert len(current) == 2000
    expected = {f"{w}-{i}" for w in ("ann", "bob") for i in range(1000)}
    assert set(current["example_id"]) == expected
    assert current.groupby("reviewer").size().to_dict() == {"ann": 1000, "bob": 1000}
    assert _integrity(path) == "ok"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_write_loses_at_most_the_write_in_flight(store_place):
    path = store_place
    DecisionStore(path)
    proc = _writer(path, "ann", 1_000_000)
    committed = []
    while len(committed) < 300:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        committed.append(line.strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    committed += proc.stdout.read().split()  # lines printed before the kill, still in the pipe
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    assert _integrity(path) == "ok"
    store = DecisionStore(path)  # reopens after the crash (WAL recovered)
    present = store.in_force(KEY)["example_id"].tolist()
    # every decision whose commit returned is there; at most one more (committed, not yet printed)
    assert present[: len(committed)] == committed
    assert len(committed) <= len(present) <= len(committed) + 1
    assert present == [f"ann-{i}" for i in range(len(present))]
    store.record(KEY, "after-crash", "sport", None, "confirmed", "ann", text_hash=None)
    assert (store.in_force(KEY)["status"] == "confirmed").sum() == 1
