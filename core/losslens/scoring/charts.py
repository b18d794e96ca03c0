"""Plotly figures of a results table (no Streamlit): confusion matrix and loss histogram.

Label names are HTML-escaped: plotly renders a few HTML tags in axis labels and hover text."""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go


def confusion_figure(counts: np.ndarray, label_names: Sequence[str]) -> go.Figure:
    """Heatmap of a (K, K) confusion matrix, rows = given label, columns = predicted label."""
    safe = [html.escape(str(n)) for n in label_names]
    return px.imshow(counts, x=safe, y=safe, text_auto=True, color_continuous_scale="Blues",
                     labels={"x": "Predicted label", "y": "Given label", "color": "Examples"},
                     title="Confusion matrix (given × predicted)")


def loss_histogram(loss: np.ndarray, is_issue: np.ndarray, bins: int = 40) -> go.Figure:
    """Histogram of per-example loss (nats) on a log count axis, with a line where the examples
    cleanlab flags start (the lowest loss among them), when any is flagged."""
    freq, edges = np.histogram(loss, bins=bins)
    figure = px.bar(x=(edges[:-1] + edges[1:]) / 2, y=freq, log_y=True, title="Loss histogram",
                    labels={"x": "Loss (nats)", "y": "Examples (log scale)"})
    if is_issue.any():
        start = float(loss[is_issue].min())
        figure.add_vline(x=start, line_dash="dash", line_color="firebrick",
                         annotation_text=f"flagged from loss {start:.2f}", annotation_position="top right")
    return figure
