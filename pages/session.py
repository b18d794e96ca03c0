"""The scoring session and the decision store, shared by every page (not a page itself): which
request is shown, its background job, the data and results it gave. Everything else lives in
losslens.

State: one ScoringSession under st.session_state["scoring"] (pages.state lists every key).
On first load the default request (losslens.scoring.request.default_request) is scored in the
background at once, so a cached result shows immediately.
"""
from __future__ import annotations

import atexit
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from losslens import config
from losslens.jobs import Job
from losslens.review.snapshot import DecisionsSnapshot
from losslens.worker_jobs import scoring_job
from losslens.scoring.request import ScoreRequest, default_request
from losslens.scoring.results import ScoredResults
from losslens.sources.datasets import LabeledTexts
from losslens.store.decisions import DecisionStore
from pages import review_state, reviewer
from pages.background import WatchedJob, duration_text, job_title, show_progress
from pages.markup import md
from pages.state import area_state

SCORING = "scoring"


@dataclass
class ScoringSession:
    """request: the ScoreRequest shown on Data & model (None before the first run); job: its
    scoring job while awaited, and the last failure; data / results: what the last finished job
    gave (results: or those retrained on the reviewers' decisions, pages.summary)."""

    request: ScoreRequest | None = None
    job: WatchedJob = field(default_factory=WatchedJob)
    data: LabeledTexts | None = None
    results: ScoredResults | None = None


def state() -> ScoringSession:
    return area_state(SCORING, ScoringSession)


@st.cache_resource
def _store_at(path: str) -> DecisionStore:
    store = DecisionStore(path)
    atexit.register(store.backup)   # a backup when the server stops, besides every 50 decisions
    return store


def decision_store() -> DecisionStore:
    """The decision store of $LOSSLENS_DB_URL, else the one under $LOSSLENS_HOME (one per place)."""
    return _store_at(config.decision_store_url())


def decisions(data: LabeledTexts) -> DecisionsSnapshot:
    """A fresh look at the stored decisions on `data` (each part read once, when first used)."""
    return DecisionsSnapshot(decision_store(), data)


def submit(request: ScoreRequest) -> None:
    """Make `request` the one shown and start (or join) its background job."""
    compute = reviewer.is_lead()   # a team's reviewer only opens what a lead has scored
    scoring = state()
    scoring.request = request
    scoring.job.start(request.job_key() + ("" if compute else ":cached-only"), scoring_job(request, compute),
                      title=job_title(scoring_title(request)))


def scoring_title(request: ScoreRequest) -> str:
    """"Scoring news.csv with bundled:minilm": a local file or folder (dataset or model) by its
    own name only, so others on the server see no path of this machine."""
    source, model = request.source, request.model.name
    dataset = request.name or (Path(source.location).name if source.kind in ("file", "disk") else source.cli())
    return f"Scoring {dataset} with {Path(model).name if Path(model).is_dir() else model}"


def sync() -> None:
    """Called by app.py on every run: start the default job once; take in a finished job."""
    scoring = state()
    if scoring.request is None:
        submit(default_request())
    elif scoring.job.key and scoring.job.job() is None:   # dropped while this session was away: again (a cache hit)
        submit(scoring.request)
    outcome = scoring.job.take_outcome()
    if outcome is None or outcome.failed:
        return
    data, results = outcome.result
    if scoring.data is None or scoring.data.name != data.name:
        review_state.view().forget_dataset()
    scoring.data, scoring.results = data, results


def use_retrained(results: ScoredResults) -> None:
    """Show `results`, the heads refitted on the reviewers' decisions, instead of the scored ones."""
    state().results = results


def show_job_progress() -> None:
    """The scoring job's progress while it runs or waits to be taken in (the app then reruns)."""
    if state().job.key:
        show_progress(state().job, format_progress)


def render_sidebar() -> None:
    """The shared sidebar: the reviewer (pages.reviewer) and what is loaded."""
    reviewer.render_sidebar()
    scoring = state()
    if scoring.data is not None:
        st.sidebar.caption(f"Dataset: {md(scoring.data.name)} · {len(scoring.data):,} rows")
    if scoring.request is not None:
        st.sidebar.caption(f"Model: {md(scoring.request.model.name)}")


def format_progress(job: Job) -> str:
    """'1,200 / 2,225 examples · 95 examples/s · about 11 s left' (or a loading line)."""
    if not job.total:
        return f"Loading the data and the model… ({job.elapsed:.0f} s)"
    text = f"{job.done:,} / {job.total:,} examples"
    if job.rate:
        text += f" · {job.rate:,.0f} examples/s"
    if (left := job.eta_seconds) is not None:
        text += f" · about {duration_text(left)} left"
    return text
