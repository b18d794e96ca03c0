"""LossLens: find and fix mislabeled examples. Entry point: `streamlit run app.py`.

Router + shared sidebar only; each page is a thin module in pages/ over the losslens library.
"""
from __future__ import annotations

import streamlit as st

from losslens.errors import LossLensError
from pages import review_state, reviewer, session
from pages.markup import md

st.set_page_config(page_title="LossLens", page_icon="🔎", layout="wide")

try:   # a damaged decision store or secrets file stops here with its one line, before any page runs
    session.decision_store()
    reviewer.require_sign_in()   # with sign-in configured: signed in and allowed, or stopped here
except LossLensError as exc:
    st.error(md(exc))
    st.stop()
session.sync()
review_state.keep_widget_values()
navigation = st.navigation([
    st.Page("pages/data_model.py", title="Data & model", default=True),
    st.Page("pages/review.py", title="Review"),
    st.Page("pages/export.py", title="Export"),
    st.Page("pages/active_learning.py", title="Active learning"),
])
session.render_sidebar()
navigation.run()
