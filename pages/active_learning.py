"""Active learning: ActiveLab vs random selection (simulation) and the next batch worth a look."""
from __future__ import annotations

import streamlit as st

from pages import reviewer_labels, simulation

st.title("Active learning")
st.caption("Which examples to label next: ActiveLab (cleanlab) against random selection, on "
           "multi-annotator data. Accuracy is measured on a test set with unanimous annotators.")
compared, upcoming, reviewers = st.tabs(["ActiveLab vs random", "Next batch", "Reviewers"])
with compared:
    simulation.tab()
with upcoming:
    reviewer_labels.next_batch_tab()
with reviewers:
    reviewer_labels.reviewers_tab()
