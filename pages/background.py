"""Background work for every page (not a page): scoring, retraining and the ActiveLab simulation.

A page area keeps a `WatchedJob` in its state. `start` submits the work under a key (or joins the
job already under it), `take_outcome` takes a finished job's result (or failure) into that state
once and releases the job, `show_progress` polls it while it runs and `show_failure` says what went
wrong. The work is a losslens.workers.JobSpec: it runs in a worker process (one heavy job at a time
by default; others wait in line, their place shown, and Cancel stops the process), never in the
web server, which only opens what the worker left in the cache.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from losslens import config
from losslens.errors import LossLensError
from losslens.jobs import Job, JobAhead, JobRegistry
from losslens.workers import JobSpec
from pages import reviewer
from pages.markup import md


UNFINISHED = ("queued", "running")
CANCELLED = "Cancelled: nothing of it was kept."


class JobCancelled(LossLensError):
    """The awaited job was cancelled (the user's own choice, shown as information, not an error)."""


@st.cache_resource
def job_registry() -> JobRegistry:
    """One registry per server process: jobs survive reruns, page switches and new tabs."""
    return JobRegistry()


@dataclass(frozen=True)
class Outcome:
    """A finished job, taken in once: its result, or failed (the exception is in WatchedJob.failure)."""

    result: Any
    failed: bool


@dataclass
class WatchedJob:
    """The background job one page area waits for. key: the job's key (None when none is awaited);
    failure: the last failed job's exception (a LossLensError for anything the user can fix);
    watcher: this browser session's name for the job registry."""

    key: str | None = None
    failure: BaseException | None = None
    watcher: str = field(default_factory=lambda: uuid.uuid4().hex)

    def start(self, key: str, work: JobSpec, title: str = "") -> None:
        """Run `work` in a worker process under `key` (or at once from the cache, see JobSpec), or
        join the job already under it; a job awaited before under another key is given up. title:
        what it does, in words, shown to whoever waits behind it."""
        self._give_up_other(key)
        self.key, self.failure = key, None
        job_registry().submit(key, work, watcher=self.watcher, title=title)

    def follow(self, key: str) -> bool:
        """Await the job someone else started under `key`, when there is one (nothing starts)."""
        if job_registry().watch(key, self.watcher) is None:
            return False
        self._give_up_other(key)
        self.key = key
        return True

    def job(self) -> Job | None:
        """The awaited job, or None (none awaited, or dropped while this session was away)."""
        return job_registry().get(self.key) if self.key else None

    @property
    def running(self) -> bool:
        """True while the awaited job waits in line or runs."""
        return (job := self.job()) is not None and job.status in UNFINISHED

    def take_outcome(self) -> Outcome | None:
        """The awaited job's outcome once it has finished (then it is released and no longer
        awaited, a failure kept in `failure`); None while it runs or when none is awaited (a job
        dropped while this session was away is no longer awaited either)."""
        job = self.job()
        if job is None:
            self.key = None
            return None
        if job.status in UNFINISHED:
            return None
        failed = job.status != "done"
        self.failure = (job.exception if job.status == "failed" else
                        JobCancelled(CANCELLED) if failed else None)
        self.key = None
        job_registry().release(job.key, self.watcher)
        return Outcome(None if failed else job.result, failed)

    def cancel(self) -> None:
        """Stop the awaited job. A running one ends "cancelled" once its process is gone (then
        `take_outcome` says so); one taken out of line leaves the registry at once, so it is no
        longer awaited and its failure says it was cancelled here (else the page would take it for
        a job dropped while the session was away, and start it again)."""
        job = self.job()
        if job is not None and job_registry().cancel(job.key) and job_registry().get(job.key) is not job:
            self.key, self.failure = None, JobCancelled(CANCELLED)

    def _give_up_other(self, key: str) -> None:
        if self.key and self.key != key:
            job_registry().release(self.key, self.watcher)


@st.fragment(run_every=1.0)
def show_progress(watched: WatchedJob, describe: Callable[[Job], str], bar: bool = True) -> None:
    """While the awaited job runs, once a second: `describe(job)` under a progress bar (a plain
    line without `bar`), or while it waits in line, each job ahead of it (waiting_text); a Cancel
    button either way. Once it has finished, the whole app runs again and the page takes its
    outcome in; call this only while `watched.running`."""
    job = watched.job()
    if job is None or job.status not in UNFINISHED:
        st.rerun()
    if job.status == "queued":
        st.info(waiting_text(job_registry().ahead_of(job), max_jobs_text()))
    elif bar:
        st.progress(job.fraction, text=describe(job))
    else:
        st.info(describe(job))
    if st.button("Cancel", key=f"cancel_{job.key[:40]}", help="Stop the work now; nothing half-done is kept."):
        watched.cancel()
        st.rerun()


def job_title(what: str) -> str:
    """What a job does and who started it, for whoever waits behind it: "Scoring news.csv with
    bundled:minilm (started by ann@example.org)"."""
    return f"{what} (started by {reviewer.reviewer_name()})"


def waiting_text(ahead: list[JobAhead], capacity: str) -> str:
    """Markdown for a job waiting in line: how many jobs are ahead of it, then one line each (its
    title, and how far it is and the time left at its own rate, or its place in line)."""
    lines = [f"Waiting for {len(ahead)} job(s) ahead of it to finish ({capacity} on this server; "
             "it starts by itself)."]
    for other in ahead:
        title = md(other.title or "a job")
        if other.status == "queued":
            lines.append(f"- {title}: waiting, number {other.position} in line")
            continue
        left = "time left not known yet" if other.eta_seconds is None else f"about {duration_text(other.eta_seconds)} left"
        lines.append(f"- {title}: running, {other.fraction:.0%} done, {left}")
    return "\n".join(lines)


def duration_text(seconds: float) -> str:
    """A duration for people: "40 s", "3 min", "1 h 05 min"."""
    if seconds < 60:
        return f"{max(int(round(seconds)), 1)} s"
    minutes = int(round(seconds / 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def max_jobs_text() -> str:
    """How many heavy jobs this server runs at once, in words (LOSSLENS_MAX_JOBS)."""
    try:
        n = config.max_jobs()
    except LossLensError:   # a bad setting fails the job itself, in one line
        n = 1
    return "one heavy job runs at a time" if n == 1 else f"{n} heavy jobs run at a time"


def show_failure(watched: WatchedJob, unexpected: str) -> None:
    """The last failure as st.error: a LossLensError in its own words, anything else as `unexpected`."""
    if isinstance(watched.failure, JobCancelled):
        st.info(md(watched.failure))
    elif watched.failure is not None:
        st.error(md(watched.failure) if isinstance(watched.failure, LossLensError) else unexpected)
