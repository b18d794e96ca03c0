"""Shared fixtures: offline Hub, an isolated LOSSLENS_HOME, tiny models built from a config."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The suite runs two pytest processes on two cores, so OpenMP threads (torch in job workers, Ray
# actors, this process) often wait on a core the other process holds; spinning there burns CPU the
# other process needs. Measured on 300 demo articles, 2 torch threads, with a busy loop on one core:
# 43 -> 33 CPU-s and 37 -> 31 s wall with passive waiting (idle: 36 CPU-s either way, 18.6 -> 20.6 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

from browser_app import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tiny_models import build_tiny_classifier, build_tiny_encoder

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
POLITENESS_CSV = SHARED_DATA / "politeness" / "wikipedia.annotated.csv"


@pytest.fixture(autouse=True)
def losslens_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache/store directory (and a LOSSLENS_DB_URL of the caller's is ignored)."""
    home = tmp_path / "losslens_home"
    monkeypatch.setenv("LOSSLENS_HOME", str(home))
    monkeypatch.delenv("LOSSLENS_DB_URL", raising=False)
    return home


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory) -> Path:
    """A random tiny classifier with labels ['neg', 'pos']."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny_clf"), ["neg", "pos"])


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A random tiny encoder (no head)."""
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny_enc"))


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster (Debian's initdb + pg_ctl), for the whole test session."""
    from postgres_server import postgres_cluster

    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_place(request, tmp_path):
    """Where a DecisionStore under test lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "decisions.sqlite"
    from postgres_server import fresh_database

    server = request.getfixturevalue("postgres_server")
    return fresh_database(server, "t_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:20])


@pytest.fixture(scope="module")
def browser():
    """One Debian Chromium (headless shell) per test module (two Playwright instances cannot live in one thread)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium-headless-shell)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
