"""losslens.jobs: background jobs with progress, dedup of running keys, failures recorded."""
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
    # once finished, the same key starts a fresh job
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
    assert "ValueError" in (job.traceback or "")
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


def test_forget_removes_job():
    reg = JobRegistry()
    job = reg.submit("f", lambda p: 1)
    _wait(job)
    reg.forget("f")
    assert reg.get("f") is None
