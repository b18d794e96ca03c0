"""The results summary on the Data & model page (not a page): counts, charts, the cell to review,
and retraining the heads on the reviewers' corrected labels.

State: one Retraining under st.session_state["retraining"] (pages.state lists every key).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from losslens.scoring.charts import confusion_figure, loss_histogram
from losslens.sources.datasets import LabeledTexts
from losslens.scoring.request import ScoreRequest
from losslens.scoring.results import ScoredResults
from losslens.scoring.retrain import TrustedAccuracy
from losslens.worker_jobs import retraining_job
from losslens.review.queue import confusion_counts, most_confused_cell
from pages import review_state, reviewer, session
from pages.background import WatchedJob, job_title, show_failure, show_progress
from pages.state import area_state

RETRAINING = "retraining"
HEAD_NAMES = {("embedding", "tfidf", "knn"): "embedding + TF-IDF + nearest-neighbour heads, averaged",
              ("embedding", "tfidf"): "embedding + TF-IDF heads, averaged (no neighbour graph above 100,000 rows)",
              ("embedding",): "a logistic regression on the embeddings",
              ("finetune",): "the encoder fine-tuned per fold"}


@dataclass
class Retraining:
    """job: the retraining job while awaited, and the last failure; report: the trusted-set
    accuracy of the retrained results whose key is results_key (shown while those are shown)."""

    job: WatchedJob = field(default_factory=WatchedJob)
    report: TrustedAccuracy | None = None
    results_key: str | None = None


def retraining() -> Retraining:
    return area_state(RETRAINING, Retraining)


def retrain_section(results: ScoredResults, data: LabeledTexts | None, request: ScoreRequest) -> None:
    """Refit the heads on the corrected labels in the background; report the trusted-set accuracy."""
    state = retraining()
    if (outcome := state.job.take_outcome()) is not None:
        if not outcome.failed:
            retrained, state.report = outcome.result
            state.results_key = retrained.key
            session.use_retrained(retrained)
            st.rerun()
    if state.job.running:
        show_progress(state.job, lambda job: f"Retraining the heads on the corrected labels… ({job.elapsed:.0f} s)",
                      bar=False)
    show_failure(state.job, "Retraining failed (see the server log).")
    if state.report is not None and state.results_key == results.key:
        explain(state.report)
    if data is None or not results.out_of_sample:
        return
    applied = session.decisions(data).bound.applied
    if len(applied) and reviewer.is_lead() and st.button(f"Retrain on corrected labels ({len(applied):,} decisions)",
                                                         key="retrain", help="Refit the heads with relabeled examples' "
                                                         "new labels, removed ones left out; every example is then "
                                                         "ranked again."):
        state.job.start("retrain:" + results.key, retraining_job(data, request.model, request.settings, results,
                                                                 applied), title=job_title(f"Retraining on {data.name}"))
        st.rerun()


def explain(report: TrustedAccuracy) -> None:
    if report.n == 0:
        st.info("Retrained on the corrected labels. No example is confirmed or relabeled yet, so there is no "
                "trusted set to compare on.")
        return
    st.info(f"Retrained on the corrected labels. On the {report.n:,} examples reviewers confirmed or relabeled, the "
            f"model agrees with the reviewed label {report.before:.0%} of the time before and {report.after:.0%} "
            f"after (95% bootstrap intervals {report.before_interval[0]:.0%}–{report.before_interval[1]:.0%} and "
            f"{report.after_interval[0]:.0%}–{report.after_interval[1]:.0%}). These examples were mostly chosen "
            "because the model disagreed with them, so 'before' is low by design: the change shows what the "
            "corrections taught the model, not its accuracy on new data.")


DISAGREE_METRIC = "Labels the model disputes"


def show(results: ScoredResults, data: LabeledTexts | None, request: ScoreRequest) -> None:
    """Rows, accuracy, flags, sample kind, confusion matrix, loss histogram, cell to review."""
    table, names = results.table, list(results.label_names)
    st.subheader("Results")
    (st.success if results.from_cache else st.info)(
        f"{'Loaded from cache' if results.from_cache else 'Scored'} in {results.seconds:.1f} s.")
    retrain_section(results, data, request)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rows", f"{len(table):,}")
    c2.metric("Model accuracy vs given labels", f"{results.accuracy:.1%}")
    disagree = int((table["predicted_label"] != table["label"]).sum())
    c3.metric(DISAGREE_METRIC, f"{disagree:,}",
              help="What to review first: every example whose given label the model would not predict.")
    c4.metric("Probabilities", "out-of-sample" if results.out_of_sample else "in-sample")
    st.caption(f"Out-of-sample: each probability comes from heads that never saw that example's label "
               f"({HEAD_NAMES.get(results.heads, ', '.join(results.heads))})."
               if results.out_of_sample else
               "In-sample: this classifier may have been trained on these very examples, "
               "so it can be confident about labels it memorised, wrong ones included.")
    st.caption(f"cleanlab flags {results.n_issues:,} of them as confident errors ('Flagged only' on the Review page); "
               "the Review page's default loss order shows every disagreement first, with why each is there.")
    if results.n_truncated:
        st.caption(f"{results.n_truncated:,} texts are longer than the max length in tokens: "
                   "the model saw only their beginning (raise 'Max tokens per text' to see more).")
    counts = confusion_counts(table["label"].to_numpy(), table["predicted_label"].to_numpy(), len(names))
    left, right = st.columns(2)
    left.plotly_chart(confusion_figure(counts, names))
    right.plotly_chart(loss_histogram(table["loss"].to_numpy(), table["is_issue"].to_numpy(dtype=bool)))
    g0, p0 = most_confused_cell(counts)
    c1, c2, c3 = st.columns([2, 2, 1])
    given = c1.selectbox("Given label", range(len(names)), index=g0, format_func=names.__getitem__)
    predicted = c2.selectbox("Predicted label", range(len(names)), index=p0, format_func=names.__getitem__)
    c3.write("")
    if c3.button(f"Review this cell ({counts[given, predicted]:,})", key="review_this_cell"):
        review_state.view().cell = (int(given), int(predicted))
        st.switch_page("pages/review.py")
    if st.button("Review the top losses →", type="primary", key="review_top_losses"):
        review_state.view().cell = None
        st.switch_page("pages/review.py")


