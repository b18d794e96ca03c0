"""Shared UI state for every page (not a page itself).

st.session_state keys:
  "request"            ScoreRequest: what the user asked to score (dataset + model + settings)
  "job_key"            key of the scoring job the pages watch
  "adopted_key"        key of the job whose outcome is already in the session
  "data" / "results"   LabeledTexts / ScoredResults of the last finished job
  "review_focus_ids"   list of example ids; when set, Review shows only those (Active learning)
  "review_cell"        (given, predicted) label indices; when set, Review shows that cell
  "reviewer"           the sidebar's reviewer name

Defaults on first load: dataset $LOSSLENS_DEMO_SOURCE (else "demo:bbc"), model
$LOSSLENS_DEFAULT_MODEL (else "bundled:minilm"); the default is scored in the background at once,
so a cached result shows immediately.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import streamlit as st

from losslens.cache import losslens_home
from losslens.data import ColumnMapping, LabeledTexts, load_dataset_source
from losslens.jobs import Job, JobRegistry
from losslens.models import LabelMismatchError, ModelSpec
from losslens.pipeline import ScoredResults, ScoreSettings, score_dataset
from losslens.store import DecisionStore


@dataclass(frozen=True)
class ScoreRequest:
    """Everything that decides a results table; `key` names its background job."""

    source: str = "demo:bbc"
    columns: ColumnMapping | None = None
    split: str = "train"
    upload: bytes | None = field(default=None, repr=False)
    drop_empty: bool = False
    spec: ModelSpec = ModelSpec()
    settings: ScoreSettings = ScoreSettings()
    label_map: tuple[tuple[str, str], ...] = ()   # (model label, dataset label) pairs

    @property
    def key(self) -> str:
        parts = asdict(self) | {"upload": None, "home": str(losslens_home())}
        parts["upload_sha"] = hashlib.sha256(self.upload).hexdigest() if self.upload else None
        if self.upload is None and Path(self.source).is_file():   # an edited file is a new job
            stat = Path(self.source).stat()
            parts["file"] = (stat.st_mtime_ns, stat.st_size)
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class LabelMappingNeeded(LabelMismatchError):
    """A classifier's labels differ from the dataset's; carries both lists for the mapping UI."""

    def __init__(self, message: str, model_labels: list[str], dataset_labels: list[str]):
        super().__init__(message)
        self.model_labels, self.dataset_labels = model_labels, dataset_labels


def default_request() -> ScoreRequest:
    """$LOSSLENS_DEMO_SOURCE (else the BBC demo) scored with $LOSSLENS_DEFAULT_MODEL (else MiniLM)."""
    source = os.environ.get("LOSSLENS_DEMO_SOURCE") or "demo:bbc"
    model = os.environ.get("LOSSLENS_DEFAULT_MODEL") or "bundled:minilm"
    return ScoreRequest(source=source, spec=ModelSpec(name=model))


def run_request(request: ScoreRequest, progress) -> tuple[LabeledTexts, ScoredResults]:
    """The job body (worker thread; never calls st.*): load the data, then score it."""
    data = load_dataset_source(request.source, columns=request.columns, split=request.split,
                               upload=request.upload, drop_empty=request.drop_empty)
    try:
        results = score_dataset(data, request.spec, request.settings, progress=progress,
                                label_map=dict(request.label_map) or None)
    except LabelMismatchError as exc:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(request.spec.name)
        model_labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        raise LabelMappingNeeded(str(exc), model_labels, list(data.label_names)) from exc
    return data, results


@st.cache_resource
def job_registry() -> JobRegistry:
    """One registry per server process: jobs survive reruns, page switches and new tabs."""
    return JobRegistry()


@st.cache_resource
def _store_at(path: str) -> DecisionStore:
    return DecisionStore(Path(path))


def decision_store() -> DecisionStore:
    """The decision store under $LOSSLENS_HOME (one per home directory)."""
    return _store_at(str(losslens_home() / "decisions.sqlite"))


def submit(request: ScoreRequest) -> Job:
    """Make `request` current and start (or reuse) its background job."""
    st.session_state["request"] = request
    st.session_state["job_key"] = request.key
    registry = job_registry()
    job = registry.get(request.key)
    if job is not None and job.status != "failed":
        return job          # running, or finished earlier in this process: reuse its result
    return registry.submit(request.key, lambda progress: run_request(request, progress))


def active_job() -> Job | None:
    """The job the pages watch, or None."""
    key = st.session_state.get("job_key")
    return job_registry().get(key) if key else None


def sync() -> None:
    """Called by app.py on every run: start the default job once; adopt a finished job's data."""
    if "request" not in st.session_state:
        submit(default_request())
    job = active_job()
    if job is None or job.status == "running" or st.session_state.get("adopted_key") == job.key:
        return
    st.session_state["adopted_key"] = job.key
    if job.status == "done":
        data, results = job.result
        old = st.session_state.get("data")
        if old is None or old.source_key != data.source_key:
            st.session_state.pop("review_focus_ids", None)
            st.session_state.pop("review_cell", None)
        st.session_state["data"], st.session_state["results"] = data, results


def job_needs_rerun() -> bool:
    """True when the watched job finished but the session has not adopted its outcome yet."""
    job = active_job()
    return job is not None and job.status != "running" and st.session_state.get("adopted_key") != job.key


def current_dataset() -> LabeledTexts | None:
    return st.session_state.get("data")


def current_results() -> ScoredResults | None:
    return st.session_state.get("results")


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 — no login name in some containers
        return "reviewer"


def reviewer_name() -> str:
    """The reviewer typed in the sidebar (default: the OS user)."""
    return (st.session_state.get("reviewer") or "").strip() or default_reviewer()


def render_sidebar() -> None:
    """The shared sidebar: reviewer name and what is loaded."""
    st.session_state.setdefault("reviewer", default_reviewer())
    st.sidebar.text_input("Reviewer", key="reviewer",
                          help="Stored with every decision you make on the Review page.")
    request: ScoreRequest | None = st.session_state.get("request")
    data = current_dataset()
    if data is not None:
        st.sidebar.caption(f"Dataset: {data.source_key} · {len(data):,} rows")
    if request is not None:
        st.sidebar.caption(f"Model: {request.spec.name}")


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
    if job_needs_rerun():   # finished: adopt its outcome here too, so this can never loop
        sync()
        st.rerun()
    if job.status == "running":
        st.progress(job.fraction, text=format_progress(job))
