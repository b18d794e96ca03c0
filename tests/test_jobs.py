"""losslens.jobs: background jobs with progress, dedup of running keys, failures recorded, release."""
from __future__ import annotations

import threading

from losslens.jobs import Job, JobRegistry


def _wait(job: Job, timeout: float = 5.0) -> None:
    """Block until the job leaves 'running' (worker sets finished_at under its lock)."""
    import time

    deadline = time.monotonic() + timeout
    while job.status == "running" and time.monotonic() < deadline:
        time.sleep(0.005)
    assert job.status != "running", "job did not finish"


def test_job_runs_and_records_result_and_progress():
    reg = JobRegistry()

    def work(progress):
        for i in range(1, 5):
            progress(i * 10, 40)
        return "ok"

    job = reg.submit("k", work)
    _wait(job)
    assert job.status == "done"
    assert job.result == "ok"
    assert (job.done, job.total) == (40, 40)
    assert job.fraction == 1.0
    assert reg.get("k") is job


def test_second_submit_while_running_returns_same_job():
    reg = JobRegistry()
    gate = threading.Event()
    calls = []

    def work(progress):
        calls.append(1)
        gate.wait(5)
        return len(calls)

    first = reg.submit("same", work)
    second = reg.submit("same", work)
    assert second is first
    assert [j.key for j in reg.running()] == ["same"]
    gate.set()
    _wait(first)
    assert first.result == 1 and calls == [1]
    assert reg.submit("same", work) is first   # finished, not yet released: still shared
    reg.release("same")
    # once finished and released, the same key starts a fresh job
    third = reg.submit("same", lambda p: "again")
    _wait(third)
    assert third is not first and third.result == "again"


def test_failure_records_one_line_message_and_exception():
    reg = JobRegistry()

    def work(progress):
        raise ValueError("column 'txt' missing; columns: a, b\nmore detail")

    job = reg.submit("bad", work)
    _wait(job)
    assert job.status == "failed"
    assert job.error == "column 'txt' missing; columns: a, b"
    assert isinstance(job.exception, ValueError)
    assert job.exception.__traceback__ is None   # the frames (and the data they hold) are gone
    assert job.result is None


def test_rate_and_eta_from_timestamped_progress():
    job = Job(key="x")
    assert job.rate is None and job.eta_seconds is None and job.fraction == 0.0
    job.report(0, 100)
    job._first = (10.0, 0)           # deterministic clock: 50 examples in 2 s
    job._last = (12.0, 50)
    job.done, job.total = 50, 100
    assert job.rate == 25.0
    assert job.eta_seconds == 2.0
    assert job.fraction == 0.5


def test_a_finished_job_is_dropped_once_every_watcher_released_it():
    reg = JobRegistry()
    gate = threading.Event()
    job = reg.submit("f", lambda p: gate.wait(5), watcher="tab-1")
    assert reg.submit("f", lambda p: 0, watcher="tab-2") is job
    reg.release("f", "tab-1")
    assert reg.get("f") is job          # running: kept whatever the watchers
    gate.set()
    _wait(job)
    assert reg.get("f") is job          # tab-2 has not taken the result yet
    reg.release("f", "tab-2")
    assert reg.get("f") is None and len(reg) == 0


def test_finished_jobs_of_vanished_sessions_are_pruned():
    reg = JobRegistry(keep_seconds=0.0)
    job = reg.submit("old", lambda p: 1, watcher="closed-tab")
    _wait(job)
    gate = threading.Event()
    reg.submit("new", lambda p: gate.wait(5), watcher="tab")
    assert reg.get("old") is None and reg.get("new").status == "running"   # running jobs are never pruned
    gate.set()


def test_a_job_its_session_left_while_it_ran_is_dropped_when_it_finishes():
    reg = JobRegistry()
    gate = threading.Event()
    job = reg.submit("superseded", lambda p: (gate.wait(5), bytearray(2**20))[1], watcher="tab")
    reg.release("superseded", "tab")          # the session submitted another request meanwhile
    assert reg.get("superseded") is job       # still running
    gate.set()
    _wait(job)
    assert reg.get("superseded") is None and len(reg) == 0


def test_memory_returns_to_baseline_after_repeated_failed_jobs():
    """Eight failed jobs that each held 28 MB (as a failed 28 MB upload did) leave nothing behind."""
    import gc
    import tracemalloc

    reg = JobRegistry()

    def failing_upload(progress):
        upload = bytearray(28 * 2**20)  # referenced from this frame when the error is raised
        raise ValueError(f"file is not a readable CSV ({len(upload)} bytes)")

    tracemalloc.start()
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    for n in range(8):
        job = reg.submit(f"upload-{n}", failing_upload, watcher="tab")
        _wait(job)
        assert job.status == "failed" and "not a readable CSV" in job.error
        reg.release(job.key, "tab")
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    assert len(reg) == 0
    assert grown < 2 * 2**20, f"{grown / 2**20:.1f} MB still held"


def test_watch_joins_a_job_without_starting_one():
    reg = JobRegistry()
    assert reg.watch("none", "tab-2") is None and len(reg) == 0     # nothing to join: nothing started
    gate = threading.Event()
    job = reg.submit("w", lambda p: gate.wait(5) and "result", watcher="tab-1")
    assert reg.watch("w", "tab-2") is job and job.watchers == {"tab-1", "tab-2"}
    gate.set()
    _wait(job)
    reg.release("w", "tab-1")
    assert reg.get("w") is job                                       # tab-2 has not taken it yet
    reg.release("w", "tab-2")
    assert reg.get("w") is None
