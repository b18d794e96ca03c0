"""Data & model: choose a dataset and a model, score in the background, see the summary."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from losslens.sources.datasets import ColumnMapping, DatasetSource
from losslens.errors import LabelMismatchError, LossLensError, NotScoredError
from losslens.scoring.heads import HEAD_CHOICES
from losslens.scoring.models import BUNDLED_MINILM, DEVICES, PRECISIONS, ModelSpec
from losslens.scoring.request import ScoreRequest, default_request
from losslens.scoring.scores import QUALITY_METHODS
from losslens.sources.files import is_hub_name, read_table
from pages import reviewer, session, summary
from pages.background import JobCancelled
from pages.markup import code, md

SOURCES = {"demo": "Demo dataset", "upload": "Upload a file", "file": "Local file", "hf": "Hugging Face dataset"}
MODELS = {"bundled": "Bundled encoder (MiniLM, offline)", "hub": "Hugging Face Hub id", "folder": "Local model folder"}
FILE_TYPES = ["csv", "tsv", "parquet", "jsonl", "json"]
NONE = "(none)"


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def preview_table(source: DatasetSource, stamp: float):
    """(first rows, row count, columns) of a file or an upload; `stamp` invalidates on edits."""
    table = read_table(source.upload if source.kind == "upload" else source.location, source.location)
    return table.head(5), len(table), list(table.columns)


def source_tab(source: DatasetSource) -> str:
    if source == default_request().source:
        return "demo"
    return {"hub": "hf", "disk": "hf"}.get(source.kind, source.kind)


def choose_columns(columns: list[str], current: ColumnMapping | None) -> ColumnMapping:
    """Selectboxes mapping the file's columns to text / label / id / second text."""
    current = current or ColumnMapping()
    pick = lambda want, fallback: columns.index(want) if want in columns else fallback  # noqa: E731
    optional = [NONE, *columns]
    c1, c2, c3, c4 = st.columns(4)
    text = c1.selectbox("Text column", columns, index=pick(current.text, 0))
    label = c2.selectbox("Label column", columns, index=pick(current.label, min(1, len(columns) - 1)))
    id_col = c3.selectbox("Id column", optional, index=optional.index(current.id) if current.id in optional else 0,
                          help="Stable example ids; (none) derives each id from the example's text, so "
                               "inserting, deleting or moving rows never moves a decision.")
    text2 = c4.selectbox("Second text column", optional,
                         index=optional.index(current.text2) if current.text2 in optional else 0,
                         help="Joined to the text with a newline, e.g. title + description.")
    return ColumnMapping(text=text, label=label, id=None if id_col == NONE else id_col,
                         text2=None if text2 == NONE else text2)


def dataset_section(request: ScoreRequest) -> dict | None:
    """Dataset widgets; returns the ScoreRequest fields they decide, or None when incomplete."""
    current, tabs = request.source, list(SOURCES)
    tab = st.radio("Dataset source", tabs, format_func=SOURCES.get, horizontal=True, index=tabs.index(source_tab(current)),
                   key="dm_source")
    if tab == "demo":
        source = default_request().source
        st.caption(f"{code(source.cli())} — BBC News, 2,225 articles in 5 topics, bundled for offline use."
                   if source.kind == "demo" else f"{code(source.cli())} (set by LOSSLENS_DEMO_SOURCE)")
        return {"source": source, "columns": None}
    if tab == "hf":
        c1, c2 = st.columns([3, 1])
        field = c1.text_input("Dataset name (NAME or NAME:CONFIG) or a save_to_disk folder",
                              value=current.hub_field(), key="dm_hub_name").strip()
        split = c2.text_input("Split", value=current.split)
        c3, c4 = st.columns(2)
        columns = ColumnMapping(text=c3.text_input("Text column", "text"), label=c4.text_input("Label column", "label"))
        if not field:
            return None
        try:
            return {"source": DatasetSource.from_hub_field(field, split), "columns": columns}
        except LossLensError as exc:
            st.error(f"{md(exc)}")
            return None
    if tab == "upload":
        file = st.file_uploader("CSV, TSV, Parquet or JSON Lines", type=FILE_TYPES)
        st.caption(f"Uploads up to {st.get_option('server.maxUploadSize')} MB; "
                   "for bigger files use **Local file** or the `losslens score` CLI.")
        if file is None:
            return None
        source, stamp = DatasetSource.from_upload(file.name, file.getvalue()), 0.0
    else:
        path = st.text_input("Path to a CSV, TSV, Parquet or JSON Lines file", key="dm_path",
                             value=current.location if current.kind == "file" else "").strip()
        if not path:
            return None
        source = DatasetSource("file", path)
        local = source.local_path()
        stamp = local.stat().st_mtime if local is not None and local.is_file() else 0.0
    try:
        head, n_rows, columns = preview_table(source, stamp)
    except LossLensError as exc:
        st.error(f"{md(exc)}. Choose another file or fix this one.")
        return None
    st.caption(f"Preview: first rows of {n_rows:,}")
    st.dataframe(head, hide_index=True)
    mapping = choose_columns(columns, request.columns)
    drop_empty = st.checkbox("Drop rows with empty text", value=request.drop_empty,
                             help="Otherwise empty or whitespace-only texts are reported as an error.")
    return {"source": source, "columns": mapping, "drop_empty": drop_empty}


def model_section(request: ScoreRequest) -> dict:
    """Model widgets; returns the ScoreRequest fields they decide."""
    name = request.model.name
    current = "bundled" if name == BUNDLED_MINILM else "hub" if is_hub_name(name) else "folder"
    kinds = list(MODELS)
    kind = st.radio("Model", kinds, format_func=MODELS.get, horizontal=True, index=kinds.index(current))
    if kind == "bundled":
        name = BUNDLED_MINILM
        st.caption("Embeddings + 5-fold heads (embedding, TF-IDF and nearest-neighbour, averaged): every "
                   "probability is out-of-sample.")
    else:
        label = "Hub id (e.g. textattack/bert-base-uncased-ag-news)" if kind == "hub" else "Model folder"
        name = st.text_input(label, value="" if current != kind else name).strip()
    c1, c2, c3 = st.columns(3)
    device = c1.selectbox("Device", DEVICES, index=DEVICES.index(request.model.device))
    precision = c2.selectbox("Precision", PRECISIONS, index=PRECISIONS.index(request.model.precision),
                             help="auto: bf16 where the hardware supports it, else fp32.")
    batch = c3.number_input("Batch size", 1, 1024, request.settings.batch_size)
    with st.expander("More settings"):
        name_field = st.text_input("Dataset name", value=request.name or "", placeholder="default: the file's name",
                                   help="Review decisions are grouped under this name.")
        max_length = st.number_input("Max tokens per text", 16, 4096, request.settings.max_length)
        folds = st.number_input("Folds (encoder head)", 2, 20, request.settings.folds)
        method = st.selectbox("cleanlab label-quality method", QUALITY_METHODS,
                              index=QUALITY_METHODS.index(request.settings.quality_method))
        head = st.selectbox("Out-of-sample head (encoders)", HEAD_CHOICES, index=HEAD_CHOICES.index(request.settings.head),
                            help="ensemble: embedding + TF-IDF + nearest-neighbour heads (best measured on CPU); "
                                 "finetune: the encoder fine-tuned per fold (hours on a CPU, minutes on a GPU; the "
                                 "progress bar's estimate is measured as it runs); auto: finetune with a CUDA GPU.")
    settings = replace(request.settings, batch_size=int(batch), max_length=int(max_length), folds=int(folds),
                       quality_method=method, head=head)
    return {"model": ModelSpec(name=name or BUNDLED_MINILM, device=device, precision=precision),
            "settings": settings, "name": name_field.strip() or None}


def failure_section(request: ScoreRequest) -> None:
    """What went wrong with the last job and what to do next (a label mapping when it helps)."""
    failure = session.state().job.failure
    if isinstance(failure, LabelMismatchError):
        st.warning("The model's labels do not match the dataset's labels. "
                   "Map each model label to a dataset label, then score again.")
        names, mapping = list(failure.dataset_labels), []
        for k, model_label in enumerate(failure.model_labels):
            index = names.index(model_label) if model_label in names else min(k, len(names) - 1)
            mapping.append((model_label, st.selectbox(f"Model label “{md(model_label)}” means", names,
                                                      index=index, key=f"map:{model_label}")))
        if st.button("Score with this mapping", type="primary", key="dm_score_mapped"):
            session.submit(replace(request, label_map=tuple(mapping)))
            st.rerun()
    elif isinstance(failure, (NotScoredError, JobCancelled)):
        st.info(md(failure))
    elif failure is not None:
        message = str(failure) if isinstance(failure, LossLensError) else "an unexpected error (see the server log)"
        st.error(f"Scoring failed: {md(message)}. Change the choices above and press **Score** again.")


st.title("Data & model")
scoring = session.state()
if (ready := scoring.results) is not None:
    disputed = int((ready.table["predicted_label"] != ready.table["label"]).sum())
    st.page_link("pages/review.py", label=f"Results ready: {len(ready.table):,} examples, the model disputes "
                                          f"{disputed:,} labels. Review them →")
request: ScoreRequest = scoring.request or default_request()
st.subheader("1. Dataset")
data_fields = dataset_section(request)
st.subheader("2. Model")
model_fields = model_section(request)
lead = reviewer.is_lead()
if st.button("Score" if lead else "Open", type="primary", disabled=data_fields is None or scoring.job.running,
             key="dm_score", help="Runs in the background; you can switch pages meanwhile." if lead else
             "Opens results a lead has scored (only leads score new datasets or settings)."):
    session.submit(ScoreRequest(**{"drop_empty": False, **data_fields, **model_fields}))
    st.rerun()
session.show_job_progress()
failure_section(scoring.request or request)
if (results := scoring.results) is not None:
    if scoring.job.running:
        st.caption("Below: the results you had before this job; they are replaced when it finishes.")
    summary.show(results, scoring.data, scoring.request or request)
