"""Shared UI state for every page (not a page itself): which request is shown, its background job,
the finished data and results, the reviewer. Everything else lives in losslens.

st.session_state keys:
  "session_id"         this browser session's id (it watches jobs under it)
  "request"            ScoreRequest shown on the Data & model page
  "job_key"            key of the scoring job this session waits for (None once its outcome is in)
  "data" / "results"   LabeledTexts / ScoredResults of the last finished job
  "failure"            the last failed job's exception (a LossLensError for anything the user can fix)
  "review_focus_ids"   list of example ids; when set, Review shows only those (Active learning)
  "review_cell"        (given, predicted) label indices; when set, Review shows that cell
  "reviewer"           the sidebar's reviewer name (pages.reviewer)

On first load the default request (losslens.scoring.request.default_request) is scored in the
background at once, so a cached result shows immediately.
"""
from __future__ import annotations

import atexit
import uuid

import streamlit as st

from losslens import config
from losslens.sources.datasets import LabeledTexts
from losslens.review.binding import BoundDecisions, bind_decisions
from losslens.jobs import Job, JobRegistry
from losslens.scoring.pipeline import score
from losslens.scoring.request import ScoreRequest, default_request
from losslens.scoring.results import ScoredResults
from losslens.store.decisions import DecisionStore
from pages import reviewer
from pages.markup import md


@st.cache_resource
def job_registry() -> JobRegistry:
    """One registry per server process: jobs survive reruns, page switches and new tabs."""
    return JobRegistry()


@st.cache_resource
def _store_at(path: str) -> DecisionStore:
    store = DecisionStore(path)
    atexit.register(store.backup)   # a backup when the server stops, besides every 50 decisions
    return store


def decision_store() -> DecisionStore:
    """The decision store of $LOSSLENS_DB_URL, else the one under $LOSSLENS_HOME (one per place)."""
    return _store_at(config.decision_store_url())


def session_id() -> str:
    return st.session_state.setdefault("session_id", uuid.uuid4().hex)


def submit(request: ScoreRequest) -> Job:
    """Make `request` current and start (or join) its background job."""
    previous = st.session_state.get("job_key")
    compute = reviewer.is_lead()   # a team's reviewer only opens what a lead has scored
    key = request.job_key() + ("" if compute else ":cached-only")
    if previous and previous != key:
        job_registry().release(previous, session_id())
    st.session_state["request"], st.session_state["job_key"] = request, key
    st.session_state.pop("failure", None)
    return job_registry().submit(key, lambda progress: score(request, progress, compute), watcher=session_id())


def active_job() -> Job | None:
    """The scoring job this session waits for, or None."""
    key = st.session_state.get("job_key")
    return job_registry().get(key) if key else None


def sync() -> None:
    """Called by app.py on every run: start the default job once; take in a finished job."""
    if "request" not in st.session_state:
        submit(default_request())
    key = st.session_state.get("job_key")
    job = active_job()
    if key and job is None:   # dropped while this session was away: run it again (a cache hit)
        job = submit(st.session_state["request"])
    if job is None or job.status == "running":
        return
    if job.status == "done":
        data, results = job.result
        old = st.session_state.get("data")
        if old is None or old.name != data.name:
            st.session_state.pop("review_focus_ids", None)
            st.session_state.pop("review_cell", None)
        st.session_state["data"], st.session_state["results"] = data, results
        st.session_state.pop("retrain_report", None)   # these results are the model's own, not retrained
    else:
        st.session_state["failure"] = job.exception
    st.session_state["job_key"] = None
    job_registry().release(job.key, session_id())


KEPT_WIDGETS = ("rv_sort", "rv_order", "rv_search", "rv_size", "rv_given", "rv_pred", "rv_status", "rv_flagged",
                "rv_conflicts", "rv_view", "rv_similarity", "rv_shared")


def keep_widget_state() -> None:
    """Streamlit forgets a widget's value on a page where it is not drawn; writing the Review
    page's view settings back on every run keeps them when the reviewer comes back."""
    for key in KEPT_WIDGETS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def job_needs_rerun() -> bool:
    """True when the watched job finished but the session has not taken its outcome in yet."""
    job = active_job()
    return job is not None and job.status != "running"


def current_dataset() -> LabeledTexts | None:
    return st.session_state.get("data")


def current_results() -> ScoredResults | None:
    return st.session_state.get("results")


def bound_decisions(data: LabeledTexts, per_reviewer: bool = False) -> BoundDecisions:
    """The stored decisions for `data`, split into those that apply and stale ones (with
    per_reviewer, every reviewer's own latest decision per example)."""
    return bind_decisions(data, decision_store().in_force(data.name, per_reviewer), per_reviewer)


def render_sidebar() -> None:
    """The shared sidebar: the reviewer (pages.reviewer) and what is loaded."""
    reviewer.render_sidebar()
    data = current_dataset()
    if data is not None:
        st.sidebar.caption(f"Dataset: {md(data.name)} · {len(data):,} rows")
    request: ScoreRequest | None = st.session_state.get("request")
    if request is not None:
        st.sidebar.caption(f"Model: {md(request.model.name)}")


def format_progress(job: Job) -> str:
    """'1,200 / 2,225 examples · 95 examples/s · about 11 s left' (or a loading line)."""
    if not job.total:
        return f"Loading the data and the model… ({job.elapsed:.0f} s)"
    text = f"{job.done:,} / {job.total:,} examples"
    if job.rate:
        text += f" · {job.rate:,.0f} examples/s"
    if job.eta_seconds is not None:
        text += f" · about {job.eta_seconds:,.0f} s left"
    return text


@st.fragment(run_every=1.0)
def job_progress() -> None:
    """Progress bar of the watched job; reruns the whole app once the job has finished."""
    job = active_job()
    if job is None:
        return
    if job_needs_rerun():   # finished: take its outcome in here too, so this can never loop
        sync()
        st.rerun()
    if job.status == "running":
        st.progress(job.fraction, text=format_progress(job))


def my_decided_ids(data: LabeledTexts) -> list[str]:
    """Ids of the examples of `data` on which this reviewer's latest decision is in force."""
    each = bound_decisions(data, per_reviewer=True).applied
    return each.loc[each["reviewer"] == reviewer.reviewer_name(), "example_id"].tolist()
