"""Issue 22, CLI numbers: an integer option out of its range is argparse's one line and exit 2
before anything runs, never an OverflowError or ValueError traceback (seeds and rounds size
result arrays; `losslens app --port` is covered in test_team_server_guards.py)."""
from __future__ import annotations

import pytest

from losslens.cli import main

HUGE = str(10**30)
COMMANDS = {   # each reads a file that does not exist: without the range check it stops there instead of running
    "evaluate": ["evaluate", "absent.csv"],
    "simulate": ["simulate", "--annotations", "absent.csv"],
}


@pytest.mark.parametrize("command, option, value, expected", [
    ("evaluate", "--seeds", HUGE, "must be a whole number from 1 to 1,000 (got 1000"),
    ("evaluate", "--seeds", "0", "must be a whole number from 1 to 1,000 (got 0)"),
    ("simulate", "--seeds", HUGE, "must be a whole number from 1 to 1,000 (got 1000"),
    ("simulate", "--rounds", HUGE, "must be a whole number from 1 to 10,000"),
    ("simulate", "--rounds", str(2**63), "must be a whole number from 1 to 10,000"),
    ("simulate", "--batch", HUGE, "must be a whole number from 1 to 1,000,000,000"),
    ("simulate", "--pool", "-1", "must be a whole number from 0 to 1,000,000,000"),
    ("simulate", "--finetune-epochs", "0", "must be a whole number from 1 to 1,000"),
    ("simulate", "--finetune-epochs", "-1", "must be a whole number from 1 to 1,000"),
    ("simulate", "--max-annotations", "many", "invalid int value: 'many'"),
])
def test_integer_options_out_of_range_are_one_line(capsys, tmp_path, monkeypatch, command, option, value, expected):
    monkeypatch.chdir(tmp_path)
    assert main([*COMMANDS[command], option, value]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1, err
    assert lines[0].startswith(f"losslens: error: argument {option}: {expected}"), err
