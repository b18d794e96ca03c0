"""Export: the corrected dataset (original columns + review outcome) as CSV or Parquet."""
from __future__ import annotations

import streamlit as st

from losslens.activelab.crowd import reviewer_consensus
from losslens.export import corrected_frame, file_stem
from losslens.writers import hf_zip_bytes, neutralise_formulas, parquet_bytes, to_csv_bytes
from pages import reviewer, session
from pages.markup import md

st.title("Export")
results, data = session.state().results, session.state().data
if results is None or data is None:
    st.info("No results yet. Score a dataset on the **Data & model** page first.")
    session.show_job_progress()
    st.stop()
if not reviewer.is_lead():
    st.info("Only leads export: the team's settings ([losslens] leads in the secrets file) name them.")
    st.stop()

decisions = session.decisions(data)
bound = decisions.bound
c1, c2, c3 = st.columns(3)
labels_as = c1.radio("Labels as", ["names", "ints"], horizontal=True, key="ex_labels_as",
                     help="ints: the index of the label in the dataset's sorted label list")
changed_only = c1.checkbox("Changed rows only", key="ex_changed_only", help="Only rows with a decision")
drop_removed = c2.checkbox("Drop rows marked Remove", key="ex_drop_removed")
drop_ambiguous = c2.checkbox("Drop rows marked Ambiguous", key="ex_drop_ambiguous")
with_consensus = c3.checkbox("Reviewer consensus", key="ex_consensus",
                             help="Add consensus_label and consensus_quality: CROWDLAB's consensus of every reviewer's "
                                  "decision, the given label and the model (Active learning → Reviewers).")
consensus = None
if with_consensus:
    found = reviewer_consensus(data, results.probs(), decisions.per_reviewer)
    consensus = None if found is None else found.examples
frame = corrected_frame(data, results.table, bound, labels_as=labels_as, changed_only=changed_only,
                        drop_removed=drop_removed, drop_ambiguous=drop_ambiguous, consensus=consensus)

counts = frame["status"].value_counts()
metrics = st.columns(6)
metrics[0].metric("Rows exported", f"{len(frame):,}")
for column, status in zip(metrics[1:], ["relabeled", "confirmed", "ambiguous", "removed", "unreviewed"]):
    column.metric(status.capitalize(), f"{int(counts.get(status, 0)):,}")
if labels_as == "ints":
    st.caption("Label indices: " + ", ".join(f"{k} = {md(name)}" for k, name in enumerate(data.label_names)))
if len(bound.stale):
    st.caption(f"{len(bound.stale):,} stored decision(s) do not apply to this dataset (see Review) and are not exported.")

stem = file_stem(data.name)
raw = st.checkbox("Raw CSV", key="ex_raw", help="Cells starting with = + - @ tab or CR get a leading ' in the CSV so a "
                  "spreadsheet never runs them as formulas; tick this for byte-exact cells. Parquet is always exact.")
risky = neutralise_formulas(frame)[1]
if risky and not raw:
    st.caption(f"{risky:,} CSV cell(s) start like a spreadsheet formula and get a leading ' (tick Raw CSV to keep them "
               "exact).")
c1, c2, c3 = st.columns(3)
# Callables: the file is built when the button is clicked, not on every rerun.
c1.download_button("Download CSV", lambda: to_csv_bytes(frame, raw), file_name=f"{stem}_corrected.csv",
                   mime="text/csv", type="primary", on_click="ignore")
c2.download_button("Download Parquet", lambda: parquet_bytes(frame), file_name=f"{stem}_corrected.parquet",
                   mime="application/octet-stream", on_click="ignore")
c3.download_button("Download Hugging Face dataset (.zip)", lambda: hf_zip_bytes(frame, data.label_names),
                   file_name=f"{stem}_corrected_hf.zip", mime="application/zip", on_click="ignore",
                   help="A datasets save_to_disk folder (corrected_label is a ClassLabel): unzip, then "
                        "datasets.load_from_disk('dataset'). `losslens export --out FOLDER` writes it directly, "
                        "`--push-to-hub ORG/NAME` sends it to the Hub.")
st.caption("Preview (100 rows, those with a decision first): the review outcome first, then the original columns")
first = ["corrected_label", "status", "note"]
decided_first = frame.iloc[(frame["status"] == "unreviewed").to_numpy().argsort(kind="stable")[:100]]
preview = decided_first[first + [c for c in frame.columns if c not in first]]
st.dataframe(preview.astype(object).where(preview.notna(), ""), hide_index=True)   # empty, as in the CSV
