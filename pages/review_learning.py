"""Review, what the decisions teach (not a page): every REFIT_EVERY decisions (and on demand) the
cheap heads are refitted on the decisions in force in a worker process; the focus view's queue
then shows its undecided examples in the new order (the example on screen stays where it is),
and says how many label errors are left. State: one Relearning under st.session_state["relearning"]."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from losslens.errors import LossLensError
from losslens.review.errors_left import ErrorsLeft
from losslens.review.queue import ReviewQuery
from losslens.review.reranking import REFIT_EVERY, RerankInputs, Reranking, TrustedLabels, refit_due, reorder_queue
from losslens.review.snapshot import DecisionsSnapshot
from losslens.worker_jobs import relearning_job
from pages import review_state, reviewer, session
from pages.background import WatchedJob, job_title
from pages.review_screen import ReviewScreen
from pages.state import area_state

RELEARNING = "relearning"


@dataclass
class Relearning:
    """results_key: the results the refit belongs to; reranking / errors_left: the last refit's
    outcome (None before one); used: the decisions in force it learned from; asked: "Re-rank now"
    was pressed; job: the refit running."""

    results_key: str | None = None
    reranking: Reranking | None = None
    errors_left: ErrorsLeft | None = None
    used: int = 0
    asked: bool = False
    job: WatchedJob = field(default_factory=WatchedJob)


def state(screen: ReviewScreen) -> Relearning:
    """This session's Relearning for the results on screen (a new one when the results changed)."""
    found = area_state(RELEARNING, Relearning)
    if found.results_key != screen.results.key:
        found = st.session_state[RELEARNING] = Relearning(results_key=screen.results.key)
    return found


def learns(screen: ReviewScreen) -> bool:
    """Only an encoder's out-of-sample heads can be refitted (a classifier's probabilities are its own)."""
    return screen.results.model_kind == "encoder" and reviewer.is_lead()


def keep_learning(screen: ReviewScreen, decisions: DecisionsSnapshot) -> None:
    """Take a finished refit in; start one when REFIT_EVERY decisions were made (or undone) since
    the last, or when asked. Never waits: the refit runs in a worker."""
    learning = state(screen)
    asked, learning.asked = learning.asked, False
    if (outcome := learning.job.take_outcome()) is not None and not outcome.failed:
        learning.reranking, learning.errors_left = outcome.result
    n = len(decisions.bound.applied)
    if learning.job.running or not (asked or (n and refit_due(n, learning.used))):
        return
    try:
        inputs = RerankInputs.from_results(screen.data, screen.results, session.state().request.settings)
    except LossLensError as exc:
        view_error(exc)
        return
    trusted = TrustedLabels.from_applied(decisions.bound.applied, screen.data.labels, screen.data.label_names)
    learning.used = n
    learning.job.start(f"relearn:{screen.results.key}:{n}", relearning_job(inputs, trusted),
                       title=job_title(f"Re-ranking the queue of {screen.data.name}"))


def view_error(exc: LossLensError) -> None:
    st.caption(f"Re-ranking is off: {exc}")


def ordered(screen: ReviewScreen, query: ReviewQuery, queue: np.ndarray, keep: int | None) -> np.ndarray:
    """The queue with its undecided examples in the last refit's order, when the queue is in the
    default order (most suspicious loss first); `keep` (the example on screen) stays in its slot."""
    learning = state(screen)
    if learning.reranking is None or query.sort_by != "loss" or not query.descending or query.ids:
        return queue
    return reorder_queue(queue, learning.reranking.order, keep)


def caption(screen: ReviewScreen) -> None:
    """When the order last changed and from how many decisions, and the errors left."""
    learning = state(screen)
    parts = []
    if learning.errors_left is not None:
        parts.append(learning.errors_left.describe())
    if learning.reranking is not None:
        parts.append(learning.reranking.describe())
    if learning.job.running:
        parts.append(f"re-ranking from {learning.used:,} decisions in the background")
        take_when_done(learning)
    elif learning.reranking is None:
        parts.append(f"the order is refitted every {REFIT_EVERY} decisions")
    left, check, right = st.columns([4, 1.7, 1.2], vertical_alignment="center")
    line = " · ".join(parts)
    left.caption(line[:1].upper() + line[1:])
    checks = learning.errors_left.checks if learning.errors_left is not None else ()
    if checks:
        check.button(f"Check {len(checks)} further down", key="rv_checks", on_click=check_further_down,
                     args=([str(screen.data.ids[row]) for row in checks],),
                     help="Review a few examples drawn from further down the queue (where the model is unsure "
                          "whether they are errors): the estimate of errors left is only as good as what it has "
                          "seen there. The top of the queue alone cannot tell it.")
    right.button("Re-rank now", key="rv_rerank", disabled=learning.job.running, on_click=ask, args=(learning,),
                 help="Refit the heads on the decisions in force now (it also happens every "
                      f"{REFIT_EVERY} decisions), in the background.")
    if learning.job.failure is not None:
        st.caption(f"The last re-ranking failed: {learning.job.failure}")


@st.fragment(run_every=2.0)
def take_when_done(learning: Relearning) -> None:
    """Every 2 s while a refit runs: once it has finished, the page runs again and shows it (a key
    press would take it in too; this is for the reviewer who waits for it)."""
    if not learning.job.running:
        st.rerun()


def check_further_down(ids: list[str]) -> None:
    """Make the examples drawn further down the queue the queue (a new queue: the whole page runs)."""
    view = review_state.view()
    view.choose(ids, "checks")
    view.rerun_page = True


def ask(learning: Relearning) -> None:
    learning.asked = True
