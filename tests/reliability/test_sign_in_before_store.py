"""Issue 22 item 8: the app signs a visitor in before it opens the decision store, so an
unreachable database's details (host, user, database name) never reach someone not signed in."""
from __future__ import annotations

import streamlit as st
from streamlit.testing.v1 import AppTest

from app_harness import ROOT, use_app_defaults, write_review_fixture

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "secret",
        "client_id": "losslens", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


def test_an_unreachable_database_is_not_described_before_sign_in(tmp_path, monkeypatch, request,
                                                                  tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv"), tiny_classifier_dir, warm=False)
    monkeypatch.setenv("LOSSLENS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOSSLENS_DB_URL", "postgresql+psycopg://secretuser:pw@127.0.0.1:9/secretdb")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[auth]\n" + "".join(f'{key} = "{value}"\n' for key, value in AUTH.items()))
    from streamlit import config

    previous = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(secrets)])
    monkeypatch.setattr(st.secrets, "_secrets", None)
    monkeypatch.setattr(st.secrets, "_programmatic_secrets", None)
    request.addfinalizer(lambda: config.set_option("secrets.files", previous))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    shown = " ".join(e.value for e in [*at.error, *at.markdown, *at.title]) + " ".join(b.label for b in at.button)
    assert "sign in to review" in shown and "Sign in" in shown
    assert "secretuser" not in shown and "secretdb" not in shown and "127.0.0.1" not in shown
    assert not at.error
