"""AppTest for the Review page's queue (issue 20): the lead's shared-queue tools offered only where
a team works."""
from __future__ import annotations

import pytest

from app_harness import review_view, scored_app, scoring, second_reviewer_decides, use_app_defaults, write_review_fixture

TEAM_TOOLS = "Shared queue for the team (lead)"


@pytest.fixture
def app_env(tmp_path, monkeypatch, tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv"), tiny_classifier_dir)
    return tmp_path


def test_a_solo_user_is_not_offered_the_team_s_shared_queue(app_env):
    at = scored_app("pages/review.py")
    assert TEAM_TOOLS not in [e.label for e in at.expander]             # local mode, one reviewer, SQLite
    second_reviewer_decides(at)                                          # another reviewer: a team
    assert TEAM_TOOLS in [e.label for e in at.expander]


def test_with_sign_in_only_leads_are_offered_the_shared_queue(app_env, monkeypatch):
    import losslens.review.access as access
    from losslens.review.access import AccessPolicy, SignInSettings
    from pages import reviewer

    at = scored_app("pages/review.py")
    signed_in = {"email": "ann@example.org"}
    monkeypatch.setattr(reviewer, "team_settings",
                        lambda: SignInSettings(True, AccessPolicy(leads=("lead@example.org",))))
    monkeypatch.setattr(reviewer, "require_sign_in", lambda: None)     # signed in and allowed
    monkeypatch.setattr(reviewer, "signed_in_email", lambda: signed_in["email"])
    monkeypatch.setattr(access, "require_data_dir", lambda *args: None)
    at.run()
    assert TEAM_TOOLS not in [e.label for e in at.expander] and not at.exception   # a reviewer
    signed_in["email"] = "lead@example.org"
    at.run()
    assert TEAM_TOOLS in [e.label for e in at.expander]                  # a lead, alone so far
