"""AppTest: the Active learning page runs a tiny simulation in the background and ranks a next batch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import worker_targets
from losslens.workers import JobSpec
from app_harness import review_view, scored_app, use_app_defaults, wait_for_jobs, write_review_fixture
from losslens.activelab.annotations import simulate_annotators

PAGE = "pages/active_learning.py"


def write_crowd(path: Path, n: int = 200) -> tuple[Path, np.ndarray]:
    """Wide multi-annotator CSV (8 annotators, 4 labels each) + cluster features by true class."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, n)
    labels, _ = simulate_annotators(truth, 2, n_annotators=8, per_example=4, error_range=(0.05, 0.3))
    frame = pd.DataFrame({f"ann{m}": pd.array([None if np.isnan(v) else int(v) for v in labels[:, m]], dtype="Int64")
                          for m in range(8)})
    frame.insert(0, "text", [f"request number {i}" for i in range(n)])
    frame.insert(0, "id", [f"r{i}" for i in range(n)])
    frame.to_csv(path, index=False)
    return path, rng.normal(size=(n, 4)) + 1.5 * truth[:, None]


@pytest.fixture
def app_env(tmp_path, monkeypatch, tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv"), tiny_classifier_dir)
    crowd, features = write_crowd(tmp_path / "crowd.csv")
    # the encoder is not what this test is about: synthetic embeddings stand in for MiniLM
    monkeypatch.setattr("losslens.activelab.simulation.embed_annotation_texts", lambda data, model, progress=None: features)
    monkeypatch.setattr("pages.simulation.simulation_job", lambda data, settings, simulated: JobSpec(
        worker_targets.simulate_on_features, (data, settings, simulated, features)))   # the same, in the worker
    return crowd


def table_with(at, column: str) -> pd.DataFrame:
    """The table with this column (read-only tables carry no key an AppTest can see)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def open_page():
    return scored_app(PAGE)


def test_simulation_runs_in_background_and_shows_both_curves(app_env):
    at = open_page()
    assert at.title[0].value == "Active learning"
    at.radio(key="al_source").set_value("A multi-annotator file").run()
    at.text_input(key="al_path").set_value(str(app_env)).run()
    assert not at.error, [e.value for e in at.error]
    assert any(c.value.startswith("200 examples") for c in at.caption)
    for name, value in {"rounds": 3, "batch": 5, "seeds": 2, "initial": 30, "pool": 100, "test": 50}.items():
        at.number_input(key=f"al_{name}").set_value(value)
    at.button(key="FormSubmitter:al_form-Run simulation").click()
    at.run()
    wait_for_jobs()
    at.run()
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    import json
    figure = json.loads(charts[0].proto.spec)
    names = {trace.get("name") for trace in figure["data"]}
    assert {"ActiveLab", "Random"} <= names
    assert any(shape.get("line", {}).get("dash") == "dot" for shape in figure["layout"]["shapes"])
    table = table_with(at, "round")
    assert table["round"].tolist() == [1, 2, 3]
    assert table["annotations"].tolist() == [60, 65, 70]
    assert any(m.label.startswith("Mean error ratio") for m in at.metric)

    # the same settings in a new session come straight from the cache: no new job, charts at once
    from losslens.activelab.simulation import request_key
    from losslens.activelab.results import SimulationSettings
    from losslens.activelab.annotations import load_annotations
    from pages.background import job_registry

    settings = SimulationSettings(rounds=3, batch=5, seeds=2, initial=30, pool=100, test=50)
    key = "simulate:" + request_key(load_annotations(app_env), settings)
    assert job_registry().get(key) is None   # the session took the result in and released the job
    again = open_page()
    again.radio(key="al_source").set_value("A multi-annotator file").run()
    again.text_input(key="al_path").set_value(str(app_env)).run()
    for name, value in {"rounds": 3, "batch": 5, "seeds": 2, "initial": 30, "pool": 100, "test": 50}.items():
        again.number_input(key=f"al_{name}").set_value(value)
    again.button(key="FormSubmitter:al_form-Run simulation").click()
    again.run()
    assert len(again.get("plotly_chart")) == 2
    assert job_registry().get(key) is None
    assert table_with(again, "round").equals(table)


def test_bad_file_and_simulated_annotators_are_explained(app_env, tmp_path):
    at = open_page()
    at.radio(key="al_source").set_value("A multi-annotator file").run()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,annotator\n1,a\n")
    at.selectbox(key="al_format").set_value("long").run()
    at.text_input(key="al_path").set_value(str(bad)).run()
    assert "needs column(s) label" in at.error[0].value.replace("\\", "")   # shown escaped, literally
    at.radio(key="al_source").set_value("Simulated annotators on the current dataset").run()
    assert "simulated" in at.warning[0].value.lower()


def test_next_batch_links_into_review(app_env):
    at = open_page()
    table = table_with(at, "activelab_score")
    assert len(table) == 24 and table["activelab_score"].is_monotonic_increasing
    at.button(key="al_to_review").click().run()
    assert review_view(at).chosen.ids == tuple(table["id"])
