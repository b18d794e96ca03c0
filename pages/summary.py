"""The results summary on the Data & model page (not a page): counts, charts, the cell to review,
and retraining the heads on the reviewers' corrected labels."""
from __future__ import annotations

import streamlit as st

from losslens.scoring.charts import confusion_figure, loss_histogram
from losslens.sources.datasets import LabeledTexts
from losslens.errors import LossLensError
from losslens.scoring.request import ScoreRequest
from losslens.scoring.results import ScoredResults
from losslens.scoring.retrain import TrustedAccuracy, rescore_with_decisions
from losslens.review.queue import confusion_counts, most_confused_cell
from pages import reviewer, session
from pages.markup import md

HEAD_NAMES = {("embedding", "tfidf", "knn"): "embedding + TF-IDF + nearest-neighbour heads, averaged",
              ("embedding", "tfidf"): "embedding + TF-IDF heads, averaged (no neighbour graph above 100,000 rows)",
              ("embedding",): "a logistic regression on the embeddings",
              ("finetune",): "the encoder fine-tuned per fold"}


def retrain_section(results: ScoredResults, data: LabeledTexts | None, request: ScoreRequest) -> None:
    """Refit the heads on the corrected labels in the background; report the trusted-set accuracy."""
    registry, me = session.job_registry(), session.session_id()
    key = st.session_state.get("retrain_key")
    job = registry.get(key) if key else None
    if job is not None and job.status == "running":
        watch_retrain(key)
    elif job is not None:
        if job.status == "done":
            st.session_state["results"], st.session_state["retrain_report"] = job.result
        else:
            st.error(md(job.exception) if isinstance(job.exception, LossLensError) else "Retraining failed "
                     "(see the server log).")
        st.session_state["retrain_key"] = None
        registry.release(key, me)
        st.rerun()
    if isinstance(report := st.session_state.get("retrain_report"), TrustedAccuracy):
        explain(report)
    if data is None or not results.out_of_sample:
        return
    applied = session.bound_decisions(data).applied
    if len(applied) and reviewer.is_lead() and st.button(f"Retrain on corrected labels ({len(applied):,} decisions)", key="retrain",
                                  help="Refit the heads with relabeled examples' new labels, removed ones left out; "
                                       "every example is then ranked again."):
        key = "retrain:" + results.key
        st.session_state["retrain_key"] = key
        registry.submit(key, lambda progress: rescore_with_decisions(data, request.model, request.settings, results,
                                                                     applied), watcher=me)
        st.rerun()


@st.fragment(run_every=1.0)
def watch_retrain(key: str) -> None:
    job = session.job_registry().get(key)
    if job is None or job.status != "running":
        st.rerun()
    st.info(f"Retraining the heads on the corrected labels… ({job.elapsed:.0f} s)")


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
    c3.metric("Flagged as likely label issues", f"{results.n_issues:,}")
    c4.metric("Probabilities", "out-of-sample" if results.out_of_sample else "in-sample")
    st.caption(f"Out-of-sample: each probability comes from heads that never saw that example's label "
               f"({HEAD_NAMES.get(results.heads, ', '.join(results.heads))})."
               if results.out_of_sample else
               "In-sample: this classifier may have been trained on these very examples, "
               "so it can be confident about labels it memorised, wrong ones included.")
    disagree = int((table["predicted_label"] != table["label"]).sum())
    st.caption(f"The model disagrees with {disagree:,} given label(s). cleanlab flags only the confident errors among "
               "them; the Review page's default loss order shows every disagreement first, with why each is there.")
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
    if c3.button(f"Review this cell ({counts[given, predicted]:,})"):
        st.session_state["review_cell"] = (int(given), int(predicted))
        st.switch_page("pages/review.py")
    if st.button("Review the top losses →", type="primary"):
        st.session_state.pop("review_cell", None)
        st.switch_page("pages/review.py")


