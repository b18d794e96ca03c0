"""LossLens: find and fix mislabeled examples. Entry point: `streamlit run app.py`.

Router + shared sidebar only; each page is a thin module in pages/ over the losslens library.
"""
from __future__ import annotations

import streamlit as st

from pages import session

st.set_page_config(page_title="LossLens", page_icon="🔎", layout="wide")

session.sync()
navigation = st.navigation([
    st.Page("pages/data_model.py", title="Data & model", default=True),
    st.Page("pages/review.py", title="Review"),
    st.Page("pages/export.py", title="Export"),
    st.Page("pages/active_learning.py", title="Active learning"),
])
session.render_sidebar()
navigation.run()
