"""Active learning, the ActiveLab vs random simulation tab (not a page): where the annotations come
from, the protocol's settings, the run in the background, the curves.

State: one SimulationRun under st.session_state["simulation"] (pages.state lists every key).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import streamlit as st

from losslens.activelab.annotations import FORMATS, MultiAnnotatorData, load_annotations, simulated_crowd
from losslens.activelab.charts import accuracy_figure, ratio_figure
from losslens.activelab.results import SimulationResult, SimulationSettings
from losslens.activelab.simulation import cached_simulation, fitted_settings, request_key
from losslens.errors import LossLensError
from losslens.jobs import Job
from losslens.sources.files import resolve_user_path
from losslens.worker_jobs import simulation_job
from pages import reviewer, session
from pages.background import WatchedJob, duration_text, job_title, show_failure, show_progress
from pages.markup import md
from pages.state import area_state

SIMULATION = "simulation"
SIMULATED, FILE = "Simulated annotators on the current dataset", "A multi-annotator file"
FIELDS = ("rounds", "batch", "seeds", "initial", "pool", "test")
FIELD_HELP = {
    "rounds": "How many times a batch of new annotations is collected (accuracy is measured before each).",
    "batch": "Annotations collected per round, one each for that many examples.",
    "seeds": "Independent repeats with other splits; the charts show their mean and spread.",
    "initial": "Examples labelled at the start, with 2 annotations each.",
    "pool": "Unlabelled examples both strategies may choose from.",
    "test": "Examples whose annotators all agree, held out to measure accuracy.",
}

TABLE_LABELS = {"activelab_mean": "ActiveLab accuracy", "activelab_std": "ActiveLab ± std",
                "random_mean": "random accuracy", "random_std": "random ± std", "error_ratio": "error ratio"}


class SimulationWidget:
    """Keys of the simulation tab's widgets whose values the code reads."""

    SOURCE = "al_source"


@dataclass
class SimulationRun:
    """settings: the protocol last run (None: the defaults fitted to the data); job: the simulation
    job while awaited, and the last failure."""

    settings: SimulationSettings | None = None
    job: WatchedJob = field(default_factory=WatchedJob)


def run_state() -> SimulationRun:
    return area_state(SIMULATION, SimulationRun)


@st.cache_data(max_entries=4, show_spinner=False)
def read_upload(raw: bytes, name: str, fmt: str) -> MultiAnnotatorData:
    return load_annotations(raw, fmt, filename=name)


@st.cache_data(max_entries=4, show_spinner=False)
def read_path(path: str, modified: float, fmt: str) -> MultiAnnotatorData:
    """`modified` (mtime) only keys the cache, so an edited file is read again."""
    return load_annotations(path, fmt)


def choose_annotations() -> MultiAnnotatorData | None:
    """Where the annotations come from: simulated crowd on the current dataset, or a file."""
    source = st.radio("Annotations", [SIMULATED, FILE], horizontal=True, key=SimulationWidget.SOURCE)
    if source == SIMULATED:
        dataset = session.state().data
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


def settings_form(data: MultiAnnotatorData) -> tuple[SimulationSettings, bool]:
    """The protocol parameters (defaults shrunk to fit the data); returns the settings in force and
    whether Run simulation was pressed."""
    defaults = fitted_settings(data)
    run = run_state()
    current, pressed = run.settings or defaults, False
    with st.form("al_form"):
        cols = st.columns(len(FIELDS))
        values = {f: col.number_input(f.capitalize(), min_value=0 if f == "pool" else 1, help=FIELD_HELP[f],
                                      value=int(getattr(current, f)), step=1, key=f"al_{f}")
                  for f, col in zip(FIELDS, cols)}
        if st.form_submit_button("Run simulation", type="primary"):
            current = run.settings = SimulationSettings(**{**asdict(defaults), **values})
            pressed = True
    return current, pressed


def describe_progress(job: Job) -> str:
    left = f" · about {duration_text(seconds)} left" if (seconds := job.eta_seconds) is not None else ""
    return f"Embedding the texts (when new), then playing the rounds: {job.fraction:.0%}{left}"


def show_result(result: SimulationResult, target: float) -> None:
    if result.flat:
        st.warning(f"With every annotation this classifier reaches only {result.ceiling:.0%} (chance: "
                   f"{result.chance:.0%}), so the comparison will look flat whatever is chosen. Try the fine-tuned "
                   "classifier (`losslens simulate --classifier finetune`, on a GPU) or a task the embeddings separate.")
    st.plotly_chart(accuracy_figure(result, target), key="al_accuracy")
    st.caption("Lines: mean test accuracy over the seeds; bands: ± one standard deviation. Round 1 is the same start "
               "for both (majority vote of the initial annotations). Dashed line: the same test accuracy when the "
               f"classifier trains on every annotation of the initial and pool examples ({result.ceiling:.1%}), where "
               "both curves head as annotations are collected.")
    st.plotly_chart(ratio_figure(result), key="al_ratio")
    first, last = min(2, result.settings.rounds), min(9, result.settings.rounds)
    reached = result.annotations_to_reach(target / 100)
    c1, c2 = st.columns(2)
    c1.metric(f"Mean error ratio, rounds {first}–{last}", f"{result.mean_error_ratio(first, last):.2f}",
              help="ActiveLab test error / random test error over the rounds in which the selection has acted; "
                   "below 1 means ActiveLab is ahead.")
    saved = (f"{reached['random'] - reached['activelab']:,}" if None not in reached.values()
             else "target not reached" if reached["activelab"] is None else "random never reaches it")
    c2.metric(f"Annotations ActiveLab saves to reach {target}%", saved,
              help=f"ActiveLab: {reached['activelab'] or '—'}; random: {reached['random'] or '—'} annotations "
                   "(means over the seeds).")
    st.dataframe(result.round_table(), hide_index=True, key="al_table",
                 column_config={"annotations": st.column_config.NumberColumn(format="%,d"),
                                **{c: st.column_config.NumberColumn(label, format="%.3f") for c, label in
                                   TABLE_LABELS.items()}})
    st.download_button("Download raw results (JSON)", json.dumps(result.to_json(), indent=1),
                       file_name="activelab_simulation.json", mime="application/json")


def tab() -> None:
    """The tab: annotations, settings, the run and its result."""
    data = choose_annotations()
    if data is None:
        return
    simulated = st.session_state.get(SimulationWidget.SOURCE) == SIMULATED
    st.caption(f"{len(data):,} examples · {data.n_annotations:,} annotations · {len(data.annotators):,} annotators · "
               f"classes: {md(', '.join(data.label_names))}")
    try:
        settings, pressed = settings_form(data)
    except LossLensError as exc:
        st.error(md(exc))
        return
    target = st.slider("Target accuracy (%)", 50, 100, 90, key="al_target")
    try:
        result = cached_simulation(data, settings)
        key = "simulate:" + request_key(data, settings)
    except LossLensError as exc:
        st.error(md(exc))
        return
    job = run_state().job
    if pressed and result is None:
        if not reviewer.is_lead():   # a simulation runs the model: a lead's call, as scoring is
            st.info("Only leads run simulations; results a lead has run show here.")
            return
        job.start(key, simulation_job(data, settings, simulated), title=job_title(f"ActiveLab simulation on {data.source}"))
    elif result is None and job.key != key:   # one a lead (or another tab) started on these settings
        job.follow(key)
    if job.key == key and (outcome := job.take_outcome()) is not None:   # its result is in the cache, or it failed
        result = result or outcome.result
    if result is None and job.key == key:
        show_progress(job, describe_progress)
    elif result is None:
        show_failure(job, "The simulation failed (see the server log).")
    if result is None:
        st.info("Set the rounds and press **Run simulation** (defaults follow the published protocol).")
        return
    show_result(result, target)
