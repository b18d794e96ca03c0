"""Review, the evidence beside the current example (not a page): why it is here, its
probabilities, every reviewer's decision on it, its nearest neighbours, and "show similar"."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from losslens.review.evidence import NEIGHBOUR_MIN_SIMILARITY
from losslens.review.snapshot import DecisionsSnapshot
from losslens.scoring.neighbours import EXACT_KNN_LIMIT, similar_to
from pages.markup import md
from pages.review_screen import ReviewScreen
from pages.review_state import ReviewWidget, view

DEFAULT_SIMILARITY = 0.75   # cosine: near-copies and close paraphrases with the bundled encoder



def on_similar(screen: ReviewScreen, position: int) -> None:
    """Make the examples at least the slider's similarity to this one the queue."""
    embeddings = screen.results.entries.outputs.load_embeddings()
    if embeddings is None:
        view().toast = "The model outputs are no longer cached: score the dataset again."
        return
    threshold = float(st.session_state.get(ReviewWidget.SIMILARITY, DEFAULT_SIMILARITY))
    rows, _ = similar_to(embeddings, position, threshold)
    if not len(rows):
        nearest = float(np.max(np.delete(embeddings @ embeddings[position], position), initial=0.0))
        view().toast = (f"No other example is at least {threshold:.2f} similar to this one (the nearest is "
                        f"{nearest:.2f}): lower the similarity.")
        return
    view().choose([str(screen.data.ids[p]) for p in [position, *rows.tolist()]], "similar", threshold)
    view().rerun_page = True   # a new queue: the whole page, not just the focus view


def distinct_texts(screen: ReviewScreen, near: pd.DataFrame, position: int) -> pd.DataFrame:
    """The rows of `near` (Evidence.nearest) whose text is not the example's own and not already
    listed: a corpus with repeated articles shows each text once."""
    seen = {" ".join(str(screen.data.texts[position]).split())}
    keep = []
    for row in near["position"]:
        text = " ".join(str(screen.data.texts[row]).split())
        keep.append(text not in seen)
        seen.add(text)
    return near[keep].reset_index(drop=True)


def said(decision) -> str:
    """One reviewer's decision in force in words, e.g. 'ann: relabeled → tech · “a note”' (a row
    of DecisionsSnapshot.per_reviewer)."""
    label = {"relabeled": f" → {md(decision.new_label)}",
             "confirmed": f" {md(decision.original_label or '')}"}.get(decision.status, "")
    note = f" · “{md(decision.note)}”" if isinstance(decision.note, str) and decision.note else ""
    return f"{md(decision.reviewer)}: {decision.status}{label}{note}"


def evidence_panel(screen: ReviewScreen, decisions: DecisionsSnapshot, position: int,
                   open_example: Callable[[str], None]) -> None:
    """Why it is here, probabilities, every reviewer's decision, nearest neighbours (a click opens
    one with `open_example(id)`), show similar."""
    st.markdown("**Why it is here**")
    st.markdown("\n".join(f"- {md(reason)}" for reason in screen.evidence.reasons(position)))
    probs = screen.evidence.probs[position]
    top = np.argsort(-probs, kind="stable")[:8]
    st.markdown("**Probabilities**")
    st.dataframe(pd.DataFrame({"class": [screen.names[k] for k in top], "p": probs[top]}), hide_index=True,
                 key="rv_probs", column_config={"p": st.column_config.ProgressColumn(" ", format="percent")},
                 height=35 * (len(top) + 1) + 3, width="stretch")
    decided = decisions.decisions_on(str(screen.data.ids[position]))
    if len(decided):
        st.markdown("**Decisions**\n" + "\n".join(f"- {said(d)}" for d in decided.itertuples()))
    near = distinct_texts(screen, screen.evidence.nearest(position, k=10), position)[:5]
    st.markdown("**Nearest neighbours**" + ("" if len(near) else f" — not computed above {EXACT_KNN_LIMIT:,} rows"),
                help="By cosine similarity of the model's embeddings (1.00: the same text); each button shows "
                     "similarity · given label · the start of the text. Click one to open it.")
    if len(near) and near["similarity"].max() < NEIGHBOUR_MIN_SIMILARITY:
        st.caption(f"Even the nearest is only {near['similarity'].max():.2f} similar: too far to say anything "
                   "about this example's label.")
    shared = bool(st.session_state.get(ReviewWidget.SHARED))   # the shared queue decides what is shown
    for slot, n in enumerate(near.itertuples()):
        excerpt = " ".join(str(screen.data.texts[n.position]).split())[:70]
        st.button(md(f"{n.similarity:.2f} · {n.label} · {excerpt}"), key=f"rv_near_{slot}", width="stretch",
                  on_click=open_example, args=(str(n.id),), disabled=shared)
    c1, c2 = st.columns([2, 1])
    c1.slider("Similarity at least", 0.0, 1.0, DEFAULT_SIMILARITY, 0.01, key=ReviewWidget.SIMILARITY, disabled=shared,
              help="1.00: the same text. Its nearest neighbours' similarities are listed above.")
    c2.button("Show similar", key="rv_show_similar", on_click=on_similar, args=(screen, position), disabled=shared,
              help="Fill the queue with the examples at least this similar to this one (then select them all "
                   "in the Table view to decide in one step).")
