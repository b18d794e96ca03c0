"""Background jobs: long work (scoring, simulations) in a daemon thread, polled by the UI.

The worker function never touches Streamlit. It receives a `progress(done, total)` callback;
every call is timestamped so the page can show examples/s and time left. A registry (held by
the app in `st.cache_resource`) keeps jobs by key, so a page switch or a rerun finds the
running job instead of starting a second one.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

ProgressFn = Callable[[int, int], None]
JobStatus = Literal["running", "done", "failed"]


@dataclass
class Job:
    """One unit of background work. Fields are written by the worker thread under `_lock`."""

    key: str
    status: JobStatus = "running"
    result: Any = None
    error: str | None = None            # one-line message of the exception, when failed
    exception: BaseException | None = None
    traceback: str | None = None        # for logs only; never shown to users
    done: int = 0                       # examples finished
    total: int = 0                      # examples in all (0 until the first progress call)
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    _first: tuple[float, int] | None = None   # (time, done) of the first progress call
    _last: tuple[float, int] | None = None    # (time, done) of the latest progress call
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self, done: int, total: int) -> None:
        """Progress callback handed to the worker: `done` of `total` examples finished."""
        now = time.monotonic()
        with self._lock:
            self.done, self.total = int(done), int(total)
            if self._first is None:
                self._first = (now, self.done)
            self._last = (now, self.done)

    @property
    def fraction(self) -> float:
        """Share finished, 0.0..1.0 (1.0 once done)."""
        if self.status == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def rate(self) -> float | None:
        """Examples per second since the first progress call, or None before two calls."""
        with self._lock:
            if self._first is None or self._last is None:
                return None
            (t0, d0), (t1, d1) = self._first, self._last
        if t1 <= t0 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate, or None when unknown."""
        rate = self.rate
        if rate is None or not self.total:
            return None
        return max(0.0, (self.total - self.done) / rate)

    @property
    def elapsed(self) -> float:
        """Seconds since submit (until finished, when finished)."""
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at


class JobRegistry:
    """Thread-safe map key -> Job. `submit` runs `fn(progress)` in a daemon thread."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, fn: Callable[[ProgressFn], Any]) -> Job:
        """Start `fn` under `key`; if a job with that key is still running, return it instead."""
        with self._lock:
            existing = self._jobs.get(key)
            if existing is not None and existing.status == "running":
                return existing
            job = Job(key=key)
            self._jobs[key] = job
        thread = threading.Thread(target=self._run, args=(job, fn), name=f"losslens-job-{key[:24]}",
                                  daemon=True)
        thread.start()
        return job

    def get(self, key: str) -> Job | None:
        """The job under `key`, or None."""
        with self._lock:
            return self._jobs.get(key)

    def forget(self, key: str) -> None:
        """Drop a finished job (a running one keeps running but is no longer listed)."""
        with self._lock:
            self._jobs.pop(key, None)

    def running(self) -> list[Job]:
        """Jobs still running."""
        with self._lock:
            return [j for j in self._jobs.values() if j.status == "running"]

    @staticmethod
    def _run(job: Job, fn: Callable[[ProgressFn], Any]) -> None:
        try:
            result = fn(job.report)
        except BaseException as exc:  # noqa: BLE001 — the job records any failure for the page
            with job._lock:
                job.exception = exc
                job.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                job.traceback = traceback.format_exc()
                job.finished_at = time.monotonic()
                job.status = "failed"
            return
        with job._lock:
            job.result = result
            job.finished_at = time.monotonic()
            job.status = "done"
