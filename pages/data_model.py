"""Data & model: choose a dataset and a model, score in the background, see the summary."""
from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import numpy as np
import plotly.express as px
import streamlit as st

from losslens.data import ColumnMapping, DataError, read_table
from losslens.models import DEVICES, PRECISIONS, ModelSpec
from losslens.pipeline import ScoreSettings
from pages import session
from pages.session import LabelMappingNeeded, ScoreRequest

SOURCES = {"demo": "Demo dataset", "upload": "Upload a file", "path": "Local file", "hf": "Hugging Face dataset"}
MODELS = {"bundled": "Bundled encoder (MiniLM, offline)", "hub": "Hugging Face Hub id", "folder": "Local model folder"}
FILE_TYPES = ["csv", "tsv", "parquet", "jsonl", "json"]
NONE = "(none)"


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def preview_table(source: str, upload: bytes | None, stamp: float):
    """(first rows, row count, columns) of a file or an upload; `stamp` invalidates on edits."""
    table = read_table(upload if upload is not None else source, source)
    return table.head(5), len(table), [str(c) for c in table.columns]


def source_kind(request: ScoreRequest) -> str:
    if request.upload is not None:
        return "upload"
    if request.source == session.default_request().source:
        return "demo"
    return "hf" if request.source.startswith("hf:") else "path"


def choose_columns(columns: list[str], current: ColumnMapping | None) -> ColumnMapping:
    """Selectboxes mapping the file's columns to text / label / id / second text."""
    current = current or ColumnMapping()
    pick = lambda want, fallback: columns.index(want) if want in columns else fallback  # noqa: E731
    c1, c2, c3, c4 = st.columns(4)
    text = c1.selectbox("Text column", columns, index=pick(current.text, 0))
    label = c2.selectbox("Label column", columns, index=pick(current.label, min(1, len(columns) - 1)))
    optional = [NONE, *columns]
    id_col = c3.selectbox("Id column", optional, index=optional.index(current.id) if current.id in optional else 0,
                          help="Stable example ids keep your decisions attached; (none) uses the row number.")
    text2 = c4.selectbox("Second text column", optional,
                         index=optional.index(current.text2) if current.text2 in optional else 0,
                         help="Joined to the text with a newline, e.g. title + description.")
    return ColumnMapping(text=text, label=label, id=None if id_col == NONE else id_col,
                         text2=None if text2 == NONE else text2)


def dataset_section(request: ScoreRequest) -> dict | None:
    """Dataset widgets; returns the ScoreRequest fields they decide, or None when incomplete."""
    kinds = list(SOURCES)
    kind = st.radio("Dataset source", kinds, format_func=SOURCES.get, horizontal=True,
                    index=kinds.index(source_kind(request)))
    if kind == "demo":
        source = session.default_request().source
        st.caption(f"`{source}` — BBC News, 2,225 articles in 5 topics, bundled for offline use."
                   if source == "demo:bbc" else f"`{source}` (set by LOSSLENS_DEMO_SOURCE)")
        return {"source": source, "columns": None, "upload": None}
    if kind == "hf":
        c1, c2 = st.columns([3, 1])
        name = c1.text_input("Dataset name (NAME or NAME:CONFIG, or a save_to_disk folder)",
                             value=request.source.removeprefix("hf:") if request.source.startswith("hf:") else "")
        split = c2.text_input("Split", value=request.split)
        c3, c4 = st.columns(2)
        columns = ColumnMapping(text=c3.text_input("Text column", "text"), label=c4.text_input("Label column", "label"))
        if not name.strip():
            return None
        source = name.strip() if Path(name.strip()).is_dir() else f"hf:{name.strip()}"
        return {"source": source, "columns": columns, "split": split.strip() or "train", "upload": None}
    upload = None
    if kind == "upload":
        file = st.file_uploader("CSV, TSV, Parquet or JSON Lines", type=FILE_TYPES)
        st.caption(f"Uploads up to {st.get_option('server.maxUploadSize')} MB; "
                   "for bigger files use **Local file** or the `losslens score` CLI.")
        if file is None:
            return None
        source, upload, stamp = file.name, file.getvalue(), 0.0
    else:
        source = st.text_input("Path to a CSV, TSV, Parquet or JSON Lines file", key="dm_path",
                               value=request.source if source_kind(request) == "path" else "").strip()
        if not source:
            return None
        stamp = Path(source).stat().st_mtime if Path(source).is_file() else 0.0
    try:
        head, n_rows, columns = preview_table(source, upload, stamp)
    except DataError as exc:
        st.error(f"{exc}. Choose another file or fix this one.")
        return None
    st.caption(f"Preview: first rows of {n_rows:,}")
    st.dataframe(head, hide_index=True)
    mapping = choose_columns(columns, request.columns)
    drop_empty = st.checkbox("Drop rows with empty text", value=request.drop_empty,
                             help="Otherwise empty or whitespace-only texts are reported as an error.")
    return {"source": source, "columns": mapping, "upload": upload, "drop_empty": drop_empty}


def model_section(request: ScoreRequest) -> dict:
    """Model widgets; returns the ScoreRequest fields they decide."""
    name = request.spec.name
    current = "bundled" if name.startswith("bundled:") else "folder" if Path(name).is_dir() else "hub"
    kinds = list(MODELS)
    kind = st.radio("Model", kinds, format_func=MODELS.get, horizontal=True, index=kinds.index(current))
    if kind == "bundled":
        name = "bundled:minilm"
        st.caption("Embeddings + a 5-fold logistic-regression head: probabilities are out-of-sample.")
    else:
        label = "Hub id (e.g. textattack/bert-base-uncased-ag-news)" if kind == "hub" else "Model folder"
        name = st.text_input(label, value="" if current != kind else name).strip()
    c1, c2, c3 = st.columns(3)
    device = c1.selectbox("Device", DEVICES, index=DEVICES.index(request.spec.device))
    precision = c2.selectbox("Precision", PRECISIONS, index=PRECISIONS.index(request.spec.precision),
                             help="auto: bf16 where the hardware supports it, else fp32.")
    batch = c3.number_input("Batch size", 1, 1024, request.settings.batch_size)
    with st.expander("More settings"):
        max_length = st.number_input("Max tokens per text", 16, 4096, request.settings.max_length)
        folds = st.number_input("Folds (encoder head)", 2, 20, request.settings.folds)
        methods = ["self_confidence", "normalized_margin"]
        method = st.selectbox("cleanlab label-quality method", methods,
                              index=methods.index(request.settings.quality_method))
    settings = replace(request.settings, batch_size=int(batch), max_length=int(max_length),
                       folds=int(folds), quality_method=method)
    return {"spec": ModelSpec(name=name or "bundled:minilm", device=device, precision=precision),
            "settings": settings}


def job_section(request: ScoreRequest) -> None:
    """Progress of the running job, or what went wrong and what to do next."""
    job = session.active_job()
    if job is None:
        return
    if job.status == "running" or session.job_needs_rerun():
        session.job_progress()
    elif job.status == "failed" and isinstance(job.exception, LabelMappingNeeded):
        label_mapping(job.exception, request)
    elif job.status == "failed":
        st.error(f"Scoring failed: {job.error}. Change the choices above and press **Score** again.")


def label_mapping(problem: LabelMappingNeeded, request: ScoreRequest) -> None:
    """Let the user map each model label to a dataset label, then score again."""
    st.warning("The model's labels do not match the dataset's labels. "
               "Map each model label to a dataset label, then score again.")
    st.text(str(problem))
    names = problem.dataset_labels
    mapping = []
    for k, model_label in enumerate(problem.model_labels):
        index = names.index(model_label) if model_label in names else min(k, len(names) - 1)
        mapping.append((model_label, st.selectbox(f"Model label “{model_label}” means", names, index=index,
                                                  key=f"map:{model_label}")))
    if st.button("Score with this mapping", type="primary"):
        session.submit(replace(request, label_map=tuple(mapping)))
        st.rerun()


def summary(results) -> None:
    """Rows, accuracy, flags, sample kind, confusion matrix, loss histogram, cell to review."""
    table, names = results.table, list(results.label_names)
    st.subheader("Results")
    if results.from_cache:
        st.success(f"Loaded from cache in {results.seconds:.1f} s.")
    else:
        st.info(f"Scored in {results.seconds:.1f} s.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rows", f"{len(table):,}")
    c2.metric("Model accuracy vs given labels", f"{results.accuracy:.1%}")
    c3.metric("Flagged as likely label issues", f"{results.n_issues:,}")
    c4.metric("Probabilities", "out-of-sample" if results.out_of_sample else "in-sample")
    st.caption("Out-of-sample: each probability comes from a K-fold head that never saw that example."
               if results.out_of_sample else
               "In-sample: this classifier may have been trained on these very examples, "
               "so it can be confident about labels it memorised, wrong ones included.")
    if results.n_truncated:
        st.caption(f"{results.n_truncated:,} texts are longer than the max length in tokens: "
                   "the model saw only their beginning (raise 'Max tokens per text' to see more).")
    k = len(names)
    counts = np.bincount(table["label"].to_numpy() * k + table["predicted_label"].to_numpy(),
                         minlength=k * k).reshape(k, k)
    safe = [html.escape(n) for n in names]
    left, right = st.columns(2)
    heat = px.imshow(counts, x=safe, y=safe, text_auto=True, color_continuous_scale="Blues",
                     labels={"x": "Predicted label", "y": "Given label", "color": "Examples"},
                     title="Confusion matrix (given × predicted)")
    left.plotly_chart(heat)
    freq, edges = np.histogram(table["loss"].to_numpy(), bins=40)
    hist = px.bar(x=(edges[:-1] + edges[1:]) / 2, y=freq, labels={"x": "Loss (nats)", "y": "Examples"},
                  title="Loss histogram")
    right.plotly_chart(hist)
    off = counts - np.diag(np.diag(counts))
    g0, p0 = np.unravel_index(int(off.argmax()), off.shape)
    c1, c2, c3 = st.columns([2, 2, 1])
    given = c1.selectbox("Given label", range(k), index=int(g0), format_func=names.__getitem__)
    predicted = c2.selectbox("Predicted label", range(k), index=int(p0), format_func=names.__getitem__)
    c3.write("")
    if c3.button(f"Review this cell ({counts[given, predicted]:,})"):
        st.session_state["review_cell"] = (int(given), int(predicted))
        st.switch_page("pages/review.py")
    if st.button("Review the top losses →", type="primary"):
        st.session_state.pop("review_cell", None)
        st.switch_page("pages/review.py")


st.title("Data & model")
if (ready := session.current_results()) is not None:
    st.page_link("pages/review.py",
                 label=f"Results ready: {len(ready.table):,} examples, {ready.n_issues:,} flagged. "
                       "Review the top losses →")
request: ScoreRequest = st.session_state.get("request") or session.default_request()
st.subheader("1. Dataset")
data_fields = dataset_section(request)
st.subheader("2. Model")
model_fields = model_section(request)
running = (job := session.active_job()) is not None and job.status == "running"
if st.button("Score", type="primary", disabled=data_fields is None or running,
             help="Runs in the background; you can switch pages meanwhile."):
    fields = {"split": "train", "drop_empty": False, **data_fields, **model_fields}
    session.submit(ScoreRequest(**fields))
    st.rerun()
job_section(st.session_state.get("request", request))
if (results := session.current_results()) is not None:
    summary(results)
