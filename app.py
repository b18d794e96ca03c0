"""LossLens: find and fix mislabeled examples. Entry point: `streamlit run app.py`.

Router + shared sidebar only; each page is a thin module in pages/ over the losslens library.
"""
from __future__ import annotations

import streamlit as st

from losslens.errors import LossLensError, StoreError
from losslens.review.access import require_data_dir
from pages import review_state, reviewer, session
from pages.markup import md

st.set_page_config(page_title="LossLens", page_icon="🔎", layout="wide")

try:   # a damaged secrets file or decision store stops here with its one line, before any page runs
    reviewer.require_sign_in()   # first: with sign-in configured, signed in and allowed, or stopped here
    require_data_dir(reviewer.team_settings(), st.get_option("server.address") or "localhost")
    session.decision_store()
except StoreError as exc:   # its details (database host, user, name) are for leads only
    st.error(md(exc) if reviewer.is_lead() else "The decision database is unreachable: ask a lead to look at it.")
    st.stop()
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
