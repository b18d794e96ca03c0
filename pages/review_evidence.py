"""Review, the evidence beside the focused example (not a page): why it is here, its
probabilities, every reviewer's decision on it, its nearest neighbours, and "show similar"."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from losslens.review.binding import decisions_by_reviewer
from losslens.scoring.neighbours import EXACT_KNN_LIMIT, similar_to
from pages import session
from pages.markup import md

if TYPE_CHECKING:
    from pages.review_focus import Context


def on_similar(ctx: Context, position: int) -> None:
    """Make the examples at least the slider's similarity to this one the queue."""
    embeddings = ctx.results.entries.outputs.load_embeddings()
    if embeddings is None:
        st.session_state["review_toast"] = "The model outputs are no longer cached: score the dataset again."
        return
    threshold = float(st.session_state.get("rv_similarity", 0.9))
    rows, _ = similar_to(embeddings, position, threshold)
    st.session_state["review_focus_ids"] = [str(ctx.data.ids[p]) for p in [position, *rows.tolist()]]
    st.session_state["review_focus_label"] = (f"Showing {len(rows) + 1} examples: {ctx.data.ids[position]} and those "
                                              f"at least {threshold:.2f} similar to it.")
    st.session_state["rv_rerun_app"] = True   # a new queue: the whole page, not just this fragment


def evidence_panel(ctx: Context, position: int, open_example: Callable[[str], None]) -> None:
    """Why it is here, probabilities, every reviewer's decision, nearest neighbours (a click opens
    one with `open_example(id)`), show similar."""
    st.markdown("**Why it is here**")
    st.markdown("\n".join(f"- {md(reason)}" for reason in ctx.evidence.reasons(position)))
    probs = ctx.evidence.probs[position]
    top = np.argsort(-probs, kind="stable")[:8]
    st.markdown("**Probabilities**")
    st.dataframe(pd.DataFrame({"class": [ctx.names[k] for k in top], "p": probs[top]}), hide_index=True,
                 key="rv_probs", column_config={"p": st.column_config.ProgressColumn(" ", format="percent")},
                 height=35 * (len(top) + 1) + 3, width="stretch")
    example_id = str(ctx.data.ids[position])
    if decided := decisions_by_reviewer(session.decision_store().history(ctx.data.name, example_id),
                                        str(ctx.data.texts[position])):
        st.markdown("**Decisions**\n" + "\n".join(
            f"- {md(name)}: {d.status}" + {"relabeled": f" → {md(d.new_label)}",
                                            "confirmed": f" {md(d.original_label or '')}"}.get(d.status, "")
            + (f" · “{md(d.note)}”" if d.note else "") for name, d in decided.items()))
    near = ctx.evidence.nearest(position, k=5)
    st.markdown("**Nearest neighbours**" + ("" if len(near) else f" — not computed above {EXACT_KNN_LIMIT:,} rows"),
                help="By cosine similarity of the model's embeddings (1.00: the same text); each button shows "
                     "similarity · given label · the start of the text. Click one to open it.")
    shared = bool(st.session_state.get("rv_shared"))   # the shared queue decides what is shown
    for slot, n in enumerate(near.itertuples()):
        excerpt = " ".join(str(ctx.data.texts[n.position]).split())[:70]
        st.button(md(f"{n.similarity:.2f} · {n.label} · {excerpt}"), key=f"rv_near_{slot}", width="stretch",
                  on_click=open_example, args=(str(n.id),), disabled=shared)
    c1, c2 = st.columns([2, 1])
    c1.slider("Similarity at least", 0.5, 1.0, 0.9, 0.01, key="rv_similarity", disabled=shared)
    c2.button("Show similar", key="rv_show_similar", on_click=on_similar, args=(ctx, position), disabled=shared,
              help="Fill the queue with the examples at least this similar to this one (then select them all "
                   "in the Table view to decide in one step).")
