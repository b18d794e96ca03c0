"""Plotly figures for a simulation result (no Streamlit): accuracy curves and error-rate ratio."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from losslens.activelab.results import SimulationResult

COLORS = {"activelab": "#1f77b4", "random": "#ff7f0e"}
NAMES = {"activelab": "ActiveLab", "random": "Random"}


def _band_color(hex_color: str, alpha: float = 0.18) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _round_step(rounds: int) -> int:
    """Rounds between two ticks of the x axis: whole rounds, at most about 12 ticks."""
    return max(1, math.ceil(rounds / 12))


def accuracy_figure(result: SimulationResult, target: float | None = None) -> go.Figure:
    """Test accuracy (%) vs round: mean line and ±1 std band per strategy; dotted target line (%);
    dashed line at the ceiling (result.ceiling, when known): the same test accuracy with every annotation."""
    table = result.round_table()
    fig = go.Figure()
    x = table["round"].tolist()
    for s in ("activelab", "random"):
        mean, std = 100 * table[f"{s}_mean"], 100 * table[f"{s}_std"]
        fig.add_trace(go.Scatter(x=x + x[::-1], y=(mean + std).tolist() + (mean - std).tolist()[::-1],
                                 fill="toself", fillcolor=_band_color(COLORS[s]), line={"width": 0}, mode="lines",
                                 hoverinfo="skip", showlegend=False, name=f"{NAMES[s]} ±1 std"))
        fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", name=NAMES[s],
                                 line={"color": COLORS[s], "width": 2},
                                 customdata=table["annotations"],
                                 hovertemplate="round %{x} · %{customdata} annotations<br>%{y:.1f}%"))
    if target is not None:
        fig.add_hline(y=target, line_dash="dot", line_color="gray",
                      annotation_text=f"target {target:.0f}%", annotation_position="bottom right")
    if math.isfinite(result.ceiling):
        fig.add_hline(y=100 * result.ceiling, line_dash="dash", line_color="#2ca02c",
                      annotation_text=f"every annotation {100 * result.ceiling:.1f}%", annotation_position="top right")
    fig.update_layout(title="Test accuracy per round (mean ± 1 std over seeds)", xaxis_title="round",
                      yaxis_title="test accuracy (%)", height=430, margin={"t": 60, "b": 40},
                      legend={"orientation": "h", "y": -0.25}, xaxis={"dtick": _round_step(len(x))})
    return fig


def ratio_figure(result: SimulationResult) -> go.Figure:
    """ActiveLab error / random error per round; below the dashed 1.0 line ActiveLab is better."""
    table = result.round_table()
    fig = go.Figure(go.Bar(x=table["round"], y=table["error_ratio"], marker_color=COLORS["activelab"],
                           name="error ratio", hovertemplate="round %{x}: %{y:.2f}"))
    fig.add_hline(y=1.0, line_dash="dash", line_color="gray")
    fig.update_layout(title="ActiveLab's test error as a share of random's (below 1: ActiveLab ahead)",
                      xaxis_title="round", yaxis_title="error ratio (ActiveLab / random)", height=320,
                      margin={"t": 60, "b": 40}, xaxis={"dtick": _round_step(len(table))})
    return fig
