"""Active learning: ActiveLab vs random selection (simulation) and the next batch worth a look."""
from __future__ import annotations

import json
from dataclasses import asdict

import streamlit as st

from losslens.activelab.annotations import FORMATS, MultiAnnotatorData, load_annotations, simulated_crowd
from losslens.activelab.charts import accuracy_figure, ratio_figure
from losslens.activelab.crowd import dataset_next_batch
from losslens.activelab.results import SimulationSettings
from losslens.activelab.simulation import cached_simulation, fitted_settings, request_key, simulate
from losslens.errors import LossLensError
from losslens.tables import resolve_user_path
from pages import session
from pages.markup import md

SIMULATED, FILE = "Simulated annotators on the current dataset", "A multi-annotator file"
FIELDS = ("rounds", "batch", "seeds", "initial", "pool", "test")


@st.cache_data(max_entries=4, show_spinner=False)
def read_upload(raw: bytes, name: str, fmt: str) -> MultiAnnotatorData:
    return load_annotations(raw, fmt, filename=name)


@st.cache_data(max_entries=4, show_spinner=False)
def read_path(path: str, modified: float, fmt: str) -> MultiAnnotatorData:
    """`modified` (mtime) only keys the cache, so an edited file is read again."""
    return load_annotations(path, fmt)


def choose_annotations() -> MultiAnnotatorData | None:
    """Where the annotations come from: simulated crowd on the current dataset, or a file."""
    source = st.radio("Annotations", [SIMULATED, FILE], horizontal=True, key="al_source")
    if source == SIMULATED:
        dataset = session.current_dataset()
        if dataset is None:
            st.info("Load a dataset on **Data & model** first, or pick a multi-annotator file.")
            return None
        st.warning("These annotators are **simulated**, not real people: 20 annotators with error rates "
                   "from 5% to 40%, 5 per example, each treating the dataset's label as the truth.")
        return simulated_crowd(dataset)
    upload = st.file_uploader("Multi-annotator file (CSV, TSV, Parquet, JSONL)",
                              type=["csv", "tsv", "parquet", "jsonl"], key="al_upload")
    path = st.text_input("…or a local path", key="al_path", placeholder="../shared/data/politeness/wikipedia.annotated.csv")
    fmt = st.selectbox("Format", FORMATS, key="al_format",
                       help="wide: one column per annotator · long: id, annotator, label · "
                            "politeness: Request, Score1..5, TurkId1..5 (polite when score > 13)")
    try:
        if upload is not None:
            return read_upload(upload.getvalue(), upload.name, fmt)
        if path.strip():
            resolved = resolve_user_path(path.strip())
            return read_path(str(resolved), resolved.stat().st_mtime if resolved.is_file() else 0.0, fmt)
    except LossLensError as exc:
        st.error(md(exc))
    return None


def settings_form(data: MultiAnnotatorData) -> SimulationSettings:
    """The protocol parameters (defaults shrunk to fit the data); returns the settings in force."""
    defaults = fitted_settings(data)
    current = st.session_state.get("al_settings") or defaults
    with st.form("al_form"):
        cols = st.columns(len(FIELDS))
        values = {f: col.number_input(f.capitalize(), min_value=0 if f == "pool" else 1,
                                      value=int(getattr(current, f)), step=1, key=f"al_{f}")
                  for f, col in zip(FIELDS, cols)}
        if st.form_submit_button("Run simulation", type="primary"):
            current = SimulationSettings(**{**asdict(defaults), **values})
            st.session_state["al_settings"] = current
            st.session_state["al_run"] = True
    return current


def start_job(data: MultiAnnotatorData, settings: SimulationSettings, simulated: bool, key: str):
    """Run the simulation in the background; its result lands in the simulation cache."""
    st.session_state["al_failure"] = None
    return session.job_registry().submit(key, lambda progress: simulate(data, settings, progress=progress,
                                                                        simulated_annotators=simulated),
                                         watcher=session.session_id())


@st.fragment(run_every=1.0)
def watch_job(key: str) -> None:
    job = session.job_registry().get(key)
    if job is None:
        return
    if job.status == "running":
        st.progress(job.fraction, text=f"Embedding the texts, then simulating… {job.done:,} / {job.total:,}")
    else:
        st.rerun()


def show_result(result, target: float) -> None:
    st.plotly_chart(accuracy_figure(result, target), key="al_accuracy")
    st.plotly_chart(ratio_figure(result), key="al_ratio")
    last = min(8, result.settings.rounds)
    st.metric(f"Mean error ratio, rounds 1–{last}", f"{result.mean_error_ratio(1, last):.2f}",
              help="ActiveLab test error / random test error; below 1 means ActiveLab is ahead.")
    st.dataframe(result.round_table(), hide_index=True, key="al_table")
    st.download_button("Download raw results (JSON)", json.dumps(result.to_json(), indent=1),
                       file_name="activelab_simulation.json", mime="application/json")


def simulation_tab() -> None:
    data = choose_annotations()
    if data is None:
        return
    simulated = st.session_state.get("al_source") == SIMULATED
    st.caption(f"{len(data):,} examples · {data.n_annotations:,} annotations · {len(data.annotators)} annotators")
    settings = settings_form(data)
    target = st.slider("Target accuracy (%)", 50, 100, 90, key="al_target")
    try:
        result = cached_simulation(data, settings)
        key = "simulate:" + request_key(data, settings)
    except LossLensError as exc:
        st.error(md(exc))
        return
    if st.session_state.pop("al_run", False) and result is None:
        start_job(data, settings, simulated, key)
    job = session.job_registry().get(key)
    if job is not None and job.status != "running":   # its result is in the cache, or it failed
        st.session_state["al_failure"] = job.exception if job.status == "failed" else None
        session.job_registry().release(key, session.session_id())
        result = result or (job.result if job.status == "done" else None)
    if result is None and (failure := st.session_state.get("al_failure")) is not None:
        st.error(md(failure) if isinstance(failure, LossLensError) else "The simulation failed (see the server log).")
    if result is None and job is not None and job.status == "running":
        watch_job(key)
    if result is None:
        st.info("Set the rounds and press **Run simulation** (defaults follow the published protocol).")
        return
    show_result(result, target)


def next_batch_tab() -> None:
    data, results = session.current_dataset(), session.current_results()
    if data is None or results is None:
        st.info("Score a dataset on **Data & model** first; the next batch is ranked from its results.")
        return
    batch = st.number_input("Examples in the batch", 1, 500, 25, key="al_next_b")
    shown = dataset_next_batch(data, results.probs(), session.bound_decisions(data).applied, int(batch))
    st.caption("The given label counts as one annotation and each reviewer decision as another; "
               "lowest ActiveLab score first (least sure of the true label).")
    st.dataframe(shown[["id", "text", "label", "consensus", "annotations", "activelab_score"]],
                 hide_index=True, key="al_next_table")
    if st.button("Review these examples", type="primary", key="al_to_review"):
        st.session_state["review_focus_ids"] = shown["id"].tolist()
        st.switch_page("pages/review.py")


st.title("Active learning")
st.caption("Which examples to label next: ActiveLab (cleanlab) against random selection, on "
           "multi-annotator data. Accuracy is measured on a test set with unanimous annotators.")
simulation, upcoming = st.tabs(["ActiveLab vs random", "Next batch"])
with simulation:
    simulation_tab()
with upcoming:
    next_batch_tab()
