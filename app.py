"""LossLens: find and fix mislabeled examples. Entry point: `streamlit run app.py`.

Router + shared sidebar only; each page is a thin module in pages/ over core/.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import session

st.set_page_config(page_title="LossLens", page_icon="🔎", layout="wide")

session.sync()
pages = [
    st.Page("pages/data_model.py", title="Data & model", default=True),
    st.Page("pages/review.py", title="Review"),
    st.Page("pages/export.py", title="Export"),
]
if (Path(__file__).parent / "pages" / "active_learning.py").exists():
    pages.append(st.Page("pages/active_learning.py", title="Active learning"))
navigation = st.navigation(pages)
session.render_sidebar()
navigation.run()
