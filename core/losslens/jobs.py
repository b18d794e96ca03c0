"""Background jobs: long work (scoring, simulations) in a daemon thread, polled by the UI.

The worker function never touches Streamlit. It receives a `progress(done, total)` callback;
every call is timestamped so the page can show examples/s and time left. A registry (held by
the app in `st.cache_resource`) keeps jobs by key, so a page switch or a rerun finds the
running job instead of starting a second one.

Release: each session that waits for a job is one of its watchers. A session takes the outcome
into its own state and releases the job; a finished job that no session watches is dropped, and
one whose watchers went away is dropped `keep_seconds` after it finished. A failed job keeps its
message and exception, not the frames of its traceback (which hold the job's data).
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from losslens.errors import LossLensError, first_line

Progress = Callable[[int, int], None]  # progress(done, total): `done` of `total` units finished
JobStatus = Literal["running", "done", "failed"]
_LOG = logging.getLogger("losslens.jobs")


@dataclass
class Job:
    """One unit of background work. Fields are written by the worker thread under `_lock`."""

    key: str
    status: JobStatus = "running"
    result: Any = None
    error: str | None = None            # one-line message of the exception, when failed
    exception: BaseException | None = None   # without its traceback frames
    done: int = 0                       # examples finished
    total: int = 0                      # examples in all (0 until the first progress call)
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    _first: tuple[float, int] | None = None   # (time, done) of the first progress call
    _last: tuple[float, int] | None = None    # (time, done) of the latest progress call
    watchers: set[str] = field(default_factory=set)
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

    def __init__(self, keep_seconds: float = 600.0) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.keep_seconds = keep_seconds

    def submit(self, key: str, fn: Callable[[Progress], Any], watcher: str = "") -> Job:
        """Start `fn` under `key` watched by `watcher`; a job under `key` that is running (or
        finished and not yet released) is returned instead, with `watcher` added."""
        with self._lock:
            self._prune()
            job = self._jobs.get(key)
            if job is not None and job.status != "failed":
                job.watchers.add(watcher)
                return job
            job = self._jobs[key] = Job(key=key, watchers={watcher})
        thread = threading.Thread(target=self._run, args=(job, fn), name=f"losslens-job-{key[:24]}",
                                  daemon=True)
        thread.start()
        return job

    def watch(self, key: str, watcher: str) -> Job | None:
        """Join the job under `key` as `watcher` without starting anything; None when there is none."""
        with self._lock:
            self._prune()
            job = self._jobs.get(key)
            if job is not None:
                job.watchers.add(watcher)
            return job

    def get(self, key: str) -> Job | None:
        """The job under `key`, or None."""
        with self._lock:
            self._prune()
            return self._jobs.get(key)

    def release(self, key: str, watcher: str = "") -> None:
        """`watcher` no longer needs the job; a finished job with no watcher left is dropped."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                return
            job.watchers.discard(watcher)
            if job.status != "running" and not job.watchers:
                del self._jobs[key]
            self._prune()

    def running(self) -> list[Job]:
        """Jobs still running."""
        with self._lock:
            return [j for j in self._jobs.values() if j.status == "running"]

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def _prune(self) -> None:
        """Drop finished jobs whose watchers left without releasing them (closed tabs)."""
        now = time.monotonic()
        for key in [k for k, j in self._jobs.items()
                    if j.finished_at is not None and now - j.finished_at > self.keep_seconds]:
            del self._jobs[key]

    def _run(self, job: Job, fn: Callable[[Progress], Any]) -> None:
        """Run the job; record its outcome and, when no session watches it any more (its session
        moved on while it ran), drop it in the same step."""
        outcome: dict[str, Any] = {}
        try:
            outcome = {"result": fn(job.report), "status": "done"}
        except BaseException as exc:  # noqa: BLE001 — the job records any failure for the page
            if isinstance(exc, LossLensError):
                _LOG.info("job %s: %s", job.key[:12], exc)
            else:
                _LOG.warning("job %s failed:\n%s", job.key[:12], traceback.format_exc())
            outcome = {"exception": _without_frames(exc), "error": first_line(exc), "status": "failed"}
        with self._lock, job._lock:
            for name, value in outcome.items():
                setattr(job, name, value)
            job.finished_at = time.monotonic()
            if not job.watchers and self._jobs.get(job.key) is job:
                del self._jobs[job.key]


def _without_frames(exc: BaseException) -> BaseException:
    """`exc` with no traceback, cause or context: its frames (and the data they hold) can go."""
    exc.__traceback__ = exc.__cause__ = exc.__context__ = None
    return exc
