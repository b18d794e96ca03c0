"""Background jobs, polled by the pages: heavy work in worker processes, light work in threads.

`JobRegistry.submit(key, work, watcher, title)` runs `work` under `key`:

- a JobSpec (losslens.workers; the app's heavy work in losslens.worker_jobs) runs in a worker
  process. At most config.max_jobs() workers run at once (default 1); later specs wait in line,
  first come first served, with status "queued" and their place in `position` (1 = next);
  `ahead_of(job)` tells a queued job what it waits for, by title and progress. A
  spec whose `cached` step finds its result in the cache finishes without a worker and without
  waiting. `cancel(key)` terminates a running worker (SIGTERM, SIGKILL after
  CANCEL_GRACE_SECONDS; the job ends "cancelled") or takes a queued job out of line and out of
  the registry. A worker that dies (killed, out of memory, crashed) fails its job with one line
  (WorkerDiedError) and the registry goes on serving.
- a plain callable `work(progress)` runs at once in a daemon thread of this process (light
  work; it cannot be cancelled).

The work never touches Streamlit. It receives a `progress(done, total)` callback; every call is
timestamped so the page can show examples/s and time left. A registry (held by the app in
`st.cache_resource`) keeps jobs by key, so a page switch or a rerun finds the job instead of
starting a second one.

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

from losslens import config
from losslens.errors import LossLensError, first_line
from losslens.workers import JobSpec, WorkerDiedError, WorkerOutcome, WorkerProcess, death_message, rebuild_exception

Progress = Callable[[int, int], None]  # progress(done, total): `done` of `total` units finished
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: tuple[JobStatus, ...] = ("done", "failed", "cancelled")
CANCEL_GRACE_SECONDS = 3.0   # a cancelled or finished worker's time to exit before SIGKILL
_LOG = logging.getLogger("losslens.jobs")


@dataclass(eq=False)
class Job:
    """One unit of background work. Fields are written by the registry's threads under `_lock`.

    status: "queued" (a spec waiting for a worker), "running", then "done", "failed" or
    "cancelled". title: what it does, in words, for whoever waits behind it ("" = untitled).
    position: place in line while queued (1 = next), else None. pid: the worker
    process's id once it started (kept after it ended); cpu_seconds: the CPU seconds the worker
    used, once it sent its outcome (None for thread jobs).
    """

    key: str
    title: str = ""
    status: JobStatus = "running"
    result: Any = None
    error: str | None = None            # one-line message of the exception, when failed
    exception: BaseException | None = None   # without its traceback frames
    done: int = 0                       # examples finished
    total: int = 0                      # examples in all (0 until the first progress call)
    position: int | None = None
    pid: int | None = None
    cpu_seconds: float | None = None
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    _first: tuple[float, int] | None = None   # (time, done) of the first progress call
    _last: tuple[float, int] | None = None    # (time, done) of the latest progress call
    watchers: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self, done: int, total: int) -> None:
        """Progress callback handed to the work: `done` of `total` examples finished."""
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


@dataclass(frozen=True)
class JobAhead:
    """A job another one waits for, as it stood at one moment: its title, status ("running" or
    "queued"), place in line (queued; 1 = next), share done 0..1 and seconds left at its own rate
    (running; None when not known yet)."""

    title: str
    status: JobStatus
    position: int | None
    fraction: float
    eta_seconds: float | None

    @classmethod
    def of(cls, job: Job) -> JobAhead:
        return cls(job.title, job.status, job.position, job.fraction, job.eta_seconds)


class JobRegistry:
    """Thread-safe map key -> Job, with the line of specs waiting for a worker (module docstring)."""

    def __init__(self, keep_seconds: float = 600.0) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)   # the line moved or a worker ended
        self._line: list[Job] = []                        # specs not started yet, first come first
        self._workers: dict[str, WorkerProcess] = {}      # running specs' workers, by job key
        self._stopping: set[str] = set()                  # keys whose worker `cancel` stopped
        self.keep_seconds = keep_seconds

    def submit(self, key: str, work: JobSpec | Callable[[Progress], Any], watcher: str = "",
               title: str = "") -> Job:
        """Run `work` under `key` watched by `watcher`: a JobSpec in a worker process (in line),
        a callable `work(progress)` at once in a thread. A job under `key` that is queued, running,
        or done and not yet released is returned instead, with `watcher` added. A spec that cannot
        be pickled raises here."""
        payload = work.payload() if isinstance(work, JobSpec) else None
        with self._lock:
            self._prune()
            job = self._jobs.get(key)
            if job is not None and job.status not in ("failed", "cancelled"):
                job.watchers.add(watcher)
                return job
            job = self._jobs[key] = Job(key=key, title=title, watchers={watcher})
            if payload is not None:
                job.status = "queued"
                self._line.append(job)
                self._number_line()
        run, args = (self._run_spec, (job, work, payload)) if payload is not None else (self._run_thread, (job, work))
        threading.Thread(target=run, args=args, name=f"losslens-job-{key[:24]}", daemon=True).start()
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
            if job.status in FINISHED and not job.watchers:
                del self._jobs[key]
            self._prune()

    def cancel(self, key: str) -> bool:
        """Stop the job under `key`: a queued one leaves the line and the registry (its status
        "cancelled"); a running worker is terminated and its job ends "cancelled" once the process
        is gone. False when there is nothing to stop: no such job, a finished one, or a thread job."""
        with self._changed:
            job = self._jobs.get(key)
            if job is None:
                return False
            if job in self._line:
                self._line.remove(job)
                self._number_line()
                del self._jobs[key]
                with job._lock:
                    job.status, job.position, job.finished_at = "cancelled", None, time.monotonic()
                self._changed.notify_all()
                return True
            worker = self._workers.get(key)
            if worker is None or key in self._stopping:
                return False
            self._stopping.add(key)
        worker.stop(CANCEL_GRACE_SECONDS)
        return True

    def running(self) -> list[Job]:
        """Jobs running (a worker or a thread)."""
        with self._lock:
            return [j for j in self._jobs.values() if j.status == "running"]

    def queued(self) -> list[Job]:
        """Specs waiting for a worker, first in line first."""
        with self._lock:
            return list(self._line)

    def ahead_of(self, job: Job) -> list[JobAhead]:
        """What a queued `job` waits for, taken at one moment: the jobs running in worker
        processes, then those before it in line (first in line first); [] for a job not in line."""
        with self._lock:
            if job not in self._line:
                return []
            running = [self._jobs[key] for key in self._workers if key in self._jobs]
            return [JobAhead.of(other) for other in running + self._line[:self._line.index(job)]]

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def _prune(self) -> None:
        """Drop finished jobs whose watchers left without releasing them (closed tabs)."""
        now = time.monotonic()
        for key in [k for k, j in self._jobs.items()
                    if j.finished_at is not None and now - j.finished_at > self.keep_seconds]:
            del self._jobs[key]

    def _number_line(self) -> None:
        """Each queued job's `position` from its place in line (call under `_lock`)."""
        for place, job in enumerate(self._line, start=1):
            job.position = place

    def _run_thread(self, job: Job, fn: Callable[[Progress], Any]) -> None:
        self._end(job, _outcome_of(job.key, lambda: fn(job.report)))

    def _run_spec(self, job: Job, spec: JobSpec, payload: bytes) -> None:
        """Check the cache, wait for a worker, run the spec in it, finish it in the server."""
        cached = _outcome_of(job.key, lambda: spec.cached(*spec.args)) if spec.cached is not None else None
        if cached is not None and (cached["status"] == "failed" or cached["result"] is not None):
            self._leave_line(job)
            self._end(job, cached)
            return
        try:
            worker = self._start_when_first(job)
        except BaseException as exc:   # noqa: BLE001 — a bad LOSSLENS_MAX_JOBS, no process to start
            self._leave_line(job)
            self._end(job, _failure(job.key, exc, traceback.format_exc()))
            return
        if worker is None:   # cancelled while in line
            return
        try:
            outcome = self._await_worker(job, worker, payload)
        finally:
            with self._changed:
                del self._workers[job.key]
                self._stopping.discard(job.key)
                self._changed.notify_all()
        if outcome["status"] == "done" and spec.finish is not None:
            value = outcome["result"]
            outcome = {"cpu_seconds": outcome["cpu_seconds"], **_outcome_of(job.key, lambda: spec.finish(value, *spec.args))}
        self._end(job, outcome)

    def _start_when_first(self, job: Job) -> WorkerProcess | None:
        """Wait until `job` is first in line and fewer than config.max_jobs() workers run, then
        start its worker; None when it was cancelled meanwhile."""
        with self._changed:
            while job in self._line and not (self._line[0] is job and len(self._workers) < config.max_jobs()):
                self._changed.wait()
            if job not in self._line:
                return None
            worker = WorkerProcess(config.job_threads())
            self._line.remove(job)
            self._number_line()
            self._workers[job.key] = worker
            with job._lock:
                job.status, job.position, job.pid = "running", None, worker.pid
            self._changed.notify_all()
            return worker

    def _await_worker(self, job: Job, worker: WorkerProcess, payload: bytes) -> dict[str, Any]:
        """Send the work, pass its progress to the job until its outcome arrives or it dies; the
        job's outcome fields."""
        outcome: WorkerOutcome | None = None
        try:
            worker.send_work(payload)
            for message in worker.messages():
                if message[0] == "progress":
                    job.report(message[1], message[2])
                else:
                    outcome = message[1]
        except OSError:
            pass   # the worker died before it read its work
        except BaseException as exc:   # noqa: BLE001 — e.g. a result whose class the server cannot import
            return _failure(job.key, exc, traceback.format_exc())
        finally:
            returncode = worker.end(CANCEL_GRACE_SECONDS)
        if outcome is not None and outcome.failure is None:
            return {"result": outcome.value, "status": "done", "cpu_seconds": outcome.cpu_seconds}
        if outcome is not None:
            failed = _failure(job.key, rebuild_exception(outcome.failure), outcome.traceback)
            return {**failed, "cpu_seconds": outcome.cpu_seconds}
        if job.key in self._stopping:
            return {"status": "cancelled"}
        line = death_message(returncode)
        _LOG.warning("job %s: %s", job.key[:12], line)
        return {"exception": WorkerDiedError(line), "error": line, "status": "failed"}

    def _leave_line(self, job: Job) -> None:
        with self._changed:
            if job in self._line:
                self._line.remove(job)
                self._number_line()
                self._changed.notify_all()

    def _end(self, job: Job, outcome: dict[str, Any]) -> None:
        """Record the job's outcome and, when no session watches it any more (its session moved on
        while it ran), drop it in the same step. A job cancelled while in line stays cancelled."""
        with self._lock, job._lock:
            if job.status == "cancelled":
                return
            for name, value in outcome.items():
                setattr(job, name, value)
            job.position, job.finished_at = None, time.monotonic()
            if not job.watchers and self._jobs.get(job.key) is job:
                del self._jobs[job.key]


def _outcome_of(key: str, call: Callable[[], Any]) -> dict[str, Any]:
    """The job outcome fields of `call()`: its result, or its failure."""
    try:
        return {"result": call(), "status": "done"}
    except BaseException as exc:  # noqa: BLE001 — the job records any failure for the page
        return _failure(key, exc, traceback.format_exc())


def _failure(key: str, exc: BaseException, trace: str) -> dict[str, Any]:
    """The outcome fields of a failed job, logged (a LossLensError in one line, anything else
    with its traceback `trace`)."""
    if isinstance(exc, LossLensError):
        _LOG.info("job %s: %s", key[:12], exc)
    else:
        _LOG.warning("job %s failed:\n%s", key[:12], trace)
    return {"exception": _without_frames(exc), "error": first_line(exc), "status": "failed"}


def _without_frames(exc: BaseException) -> BaseException:
    """`exc` with no traceback, cause or context: its frames (and the data they hold) can go."""
    exc.__traceback__ = exc.__cause__ = exc.__context__ = None
    return exc
