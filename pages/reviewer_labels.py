"""Reviewers' decisions as annotations (not a page; two tabs of Active learning): their CROWDLAB
consensus, quality and agreement, and the next batch that most deserves another reviewer."""
from __future__ import annotations

import numpy as np
import streamlit as st

from losslens.activelab.crowd import dataset_next_batch, reviewer_consensus
from pages import review_state, session


def reviewers_tab() -> None:
    """CROWDLAB consensus of the reviewers' decisions, their quality, and how much they agree."""
    data, results = session.state().data, session.state().results
    if data is None or results is None:
        st.info("Score a dataset on **Data & model** first; the reviewers' decisions are read for it.")
        return
    consensus = reviewer_consensus(data, results.probs(), session.decisions(data).per_reviewer)
    if consensus is None:
        st.info("No reviewer has confirmed or relabeled an example of this dataset yet. When several reviewers "
                "decide the same examples, their consensus, quality and agreement show here.")
        return
    reviewers = len(consensus.annotators) - 1
    c1, c2, c3 = st.columns(3)
    c1.metric("Examples with reviewer labels", f"{len(consensus.examples):,}")
    c2.metric("Seen by 2+ reviewers", f"{consensus.overlap:,}")
    c3.metric("Agreement (Krippendorff's alpha)", "n/a" if np.isnan(consensus.alpha) else f"{consensus.alpha:.2f}",
              help="Among the reviewers, on the examples two or more of them labelled: 1 is full agreement, 0 what "
                   "chance gives, below 0 systematic disagreement.")
    st.caption(f"CROWDLAB (cleanlab.multiannotator) weighs {reviewers} reviewer(s), the given label and the model's "
               "out-of-sample probabilities. Quality in [0, 1]: how often an annotator agrees with the consensus, "
               "weighted by how sure the consensus is.")
    st.dataframe(consensus.annotators, hide_index=True, key="al_annotators",
                 column_config={"quality": st.column_config.NumberColumn(format="%.2f"),
                                "agreement_with_consensus": st.column_config.NumberColumn(format="%.2f")})
    st.dataframe(consensus.examples.sort_values("consensus_quality"), hide_index=True, key="al_consensus",
                 column_config={"consensus_quality": st.column_config.NumberColumn(format="%.2f"),
                                "agreement": st.column_config.NumberColumn(format="%.2f")})


def next_batch_tab() -> None:
    data, results = session.state().data, session.state().results
    if data is None or results is None:
        st.info("Score a dataset on **Data & model** first; the next batch is ranked from its results.")
        return
    batch = st.number_input("Examples in the batch", 1, 500, 25, key="al_next_b")
    shown = dataset_next_batch(data, results.probs(), session.decisions(data).per_reviewer, int(batch))
    st.caption("The given label counts as one annotation and each reviewer's decision as another; lowest "
               "ActiveLab score first: the examples that most deserve one more reviewer's look.")
    st.dataframe(shown[["id", "text", "label", "consensus", "annotations", "activelab_score"]],
                 hide_index=True, key="al_next_table")
    if st.button("Review these examples", type="primary", key="al_to_review"):
        review_state.view().choose(shown["id"].tolist(), "activelab")
        st.switch_page("pages/review.py")
