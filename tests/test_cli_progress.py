"""The CLI's stderr progress line: the rate counts from the first call (resumed units do not inflate
it) and is left out until work was timed; `losslens --help` names every command."""
from __future__ import annotations

from losslens.cli import build_parser
from losslens.cli import arguments


def test_the_rate_counts_from_the_first_call(monkeypatch, capsys):
    clock = iter([10.0, 10.0, 12.0])
    monkeypatch.setattr(arguments.time, "perf_counter", lambda: next(clock))
    progress = arguments.StderrProgress("scoring", width=10)
    progress(512, 1000)            # resumed from the cache: no rate yet
    progress(512, 1000)            # no time has passed
    progress(712, 1000)            # 200 units in 2 s
    lines = capsys.readouterr().err.split("\r")[1:]
    assert lines == ["scoring [#####-----] 512/1000", "scoring [#####-----] 512/1000",
                     "scoring [#######---] 712/1000 100.0/s"]


def test_help_names_every_command():
    text = build_parser().format_help()
    flat = " ".join(text.split())
    assert "score, export, evaluate, simulate, decisions, app" in flat
    for command in ("score", "export", "evaluate", "simulate", "decisions", "app"):
        assert f"    {command} " in text
