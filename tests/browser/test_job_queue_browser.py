"""Real browser, two tabs on one server: heavy jobs wait in line, and Cancel stops them cleanly.

With the default LOSSLENS_MAX_JOBS (1), tab A scores a large local CSV with the bundled MiniLM (cold
cache: a worker process, child of the server, really computes). While it runs, tab B asks for
another CSV: the page shows its place in line ("Waiting for 1 job(s) ahead ...", then A's title,
share done and time left) and the server still has exactly one worker child. B's Cancel takes its
job out of line (B says it was cancelled, no job starts, A's worker keeps running); A's Cancel stops
A's worker: the page says "Cancelled: nothing of it was kept.", the process is gone, the server
still answers and scores again, and the cache holds no finished entry (outputs, probabilities,
scores) for A's request, only intact resumable chunks.
"""
from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from browser_app import REVIEWS, child_pids, server_pid, start_app, wait_idle
from losslens.scoring.cache import load_array

pytestmark = pytest.mark.browser

CANCELLED = "Cancelled: nothing of it was kept."
PATH_FIELD = "Path to a CSV, TSV, Parquet or JSON Lines file"
FINISHED_ENTRIES = ("outputs", "probs", "scores", "neighbours")   # what a finished scoring run leaves
JOB_STATE = 600_000   # ms: a hang guard for job states on a busy machine, not a speed claim


@pytest.fixture(autouse=True)
def patient_expect():
    """Every `expect` here waits up to JOB_STATE (Playwright's default is 5 s), then back to 5 s."""
    from playwright.sync_api import expect

    expect.set_options(timeout=JOB_STATE)
    yield
    expect.set_options(timeout=5_000)


def write_reviews(path: Path, rows: int, tag: str) -> Path:
    """`rows` distinct short reviews (the film reviews, numbered), labels as given."""
    texts = [f"{REVIEWS[i % len(REVIEWS)][0]} ({tag} {i})" for i in range(rows)]
    labels = [REVIEWS[i % len(REVIEWS)][1] for i in range(rows)]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def until(condition, what: str, seconds: float = 600.0) -> None:
    """Poll `condition` until true; fail naming `what` after `seconds` (a hang guard)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def finished_files(home: Path) -> set[str]:
    """Every file of a finished scoring entry under `home` (relative paths)."""
    return {str(path.relative_to(home)) for name in FINISHED_ENTRIES if (home / name).is_dir()
            for path in (home / name).rglob("*") if path.is_file()}


def ask_to_score(tab, url: str, csv: Path) -> None:
    """Open Data & model (the app's default page), pick the local file `csv` (the model stays the
    bundled MiniLM, the app's default here) and press Score."""
    tab.goto(url)
    tab.get_by_role("heading", name="Data & model").wait_for()
    wait_idle(tab)
    tab.get_by_text("Local file", exact=True).click()
    wait_idle(tab)
    tab.get_by_label(PATH_FIELD).fill(str(csv))
    tab.get_by_label(PATH_FIELD).press("Enter")
    tab.get_by_text(re.compile(r"Preview: first rows of [\d,]+")).wait_for()
    wait_idle(tab)
    tab.get_by_text("Bundled encoder (MiniLM, offline)").click()
    wait_idle(tab)
    tab.get_by_role("button", name="Score", exact=True).click()


def test_a_second_job_waits_in_line_and_cancel_stops_queued_and_running_jobs(page, tmp_path, artifacts):
    from playwright.sync_api import expect

    small = tmp_path / "reviews.csv"                          # the first-load dataset: warmed, a cache hit
    pd.DataFrame(REVIEWS, columns=["text", "label"]).to_csv(small, index=False)
    big_a = write_reviews(tmp_path / "big_a.csv", 60_000, "showing")   # long enough to still run when cancelled
    big_b = write_reviews(tmp_path / "big_b.csv", 5_000, "screening")
    home = tmp_path / "home"
    page.set_default_timeout(JOB_STATE)
    with start_app(home, str(small), "bundled:minilm", tmp_path / "app.log") as url:
        server = server_pid(int(url.rsplit(":", 1)[1]))
        assert child_pids(server) == []
        before = finished_files(home)
        assert any(name.startswith("scores/") for name in before)   # the warmed first-load dataset

        # 1. Tab A starts a cold scoring job: one worker process, child of the server, computes.
        ask_to_score(page, url, big_a)
        until(lambda: len(child_pids(server)) == 1, "tab A's worker to start")
        [worker] = child_pids(server)
        expect(page.get_by_role("button", name="Cancel")).to_be_visible()

        # Tab B asks for another dataset: it waits in line behind A, and no second worker starts.
        tab_b = page.context.new_page()
        tab_b.set_default_timeout(JOB_STATE)
        ask_to_score(tab_b, url, big_b)
        waiting = tab_b.get_by_text(re.compile(r"Waiting for \d+ job\(s\) ahead of it to finish"))
        expect(waiting).to_have_text("Waiting for 1 job(s) ahead of it to finish "
                                      "(one heavy job runs at a time on this server; it starts by itself).")
        expect(tab_b.get_by_role("listitem").filter(has_text="Scoring big_a.csv")).to_have_text(re.compile(
            r"^Scoring big_a\.csv with bundled:minilm \(started by .+\): running, \d+% done, "
            r"(about (\d+ (s|min)|\d+ h \d\d min) left|time left not known yet)$"))
        expect(tab_b.get_by_role("button", name="Score", exact=True)).to_be_disabled()
        expect(tab_b.get_by_text("Below: the results you had before this job")).to_be_visible()
        assert child_pids(server) == [worker] and alive(worker)
        tab_b.screenshot(path=str(artifacts / "job_queue.png"))

        # 2. B cancels while queued: it leaves the line and says so; A's worker keeps running.
        tab_b.get_by_role("button", name="Cancel").click()
        expect(tab_b.get_by_text(CANCELLED)).to_be_visible()
        expect(tab_b.get_by_text("Scoring failed")).to_have_count(0)   # information, not an error
        wait_idle(tab_b)
        expect(waiting).to_have_count(0)
        expect(tab_b.get_by_role("button", name="Cancel")).to_have_count(0)
        expect(tab_b.get_by_role("button", name="Score", exact=True)).to_be_enabled()
        assert child_pids(server) == [worker] and alive(worker)

        # 3. A cancels while its worker computes (some examples done, so some chunks are on disk).
        expect(page.get_by_test_id("stProgress")).to_contain_text(re.compile(r"[1-9][\d,]* / 60,000 examples"))
        page.get_by_role("button", name="Cancel").click()
        expect(page.get_by_text(CANCELLED)).to_be_visible()
        until(lambda: not alive(worker), "the cancelled worker to end", seconds=120)
        assert child_pids(server) == []
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=30) as reply:
            assert reply.read().strip() == b"ok"

        # Nothing half-written is read later: no finished entry for A's request, intact chunks only.
        assert finished_files(home) == before
        chunks = list((home / "chunks").rglob("chunk_*.npy"))
        assert all(load_array(chunk) is not None for chunk in chunks)
        assert len({chunk.parent for chunk in chunks}) <= 1          # A's at most: B's job never started
        assert not [p for name in FINISHED_ENTRIES for p in (home / name).glob(".*.tmp")]

        # The page is usable: the first-load dataset scores again (a cache hit, no worker).
        wait_idle(page)
        expect(page.get_by_role("button", name="Score", exact=True)).to_be_enabled()
        page.get_by_text("Demo dataset", exact=True).click()
        wait_idle(page)
        page.get_by_role("button", name="Score", exact=True).click()
        expect(page.get_by_text(CANCELLED)).to_have_count(0)
        wait_idle(page)
        expect(page.get_by_text(re.compile(r"Results ready: 20 examples"))).to_be_visible()
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Dataset: reviews.csv · 20 rows")
        assert child_pids(server) == [] and finished_files(home) == before
