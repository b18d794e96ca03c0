"""AppTest for the Review page's queue (issue 20): a chosen queue's banner that stays true after a
reload, and the lead's shared-queue tools offered only where a team works."""
from __future__ import annotations

import pytest

from app_harness import review_view, scored_app, scoring, second_reviewer_decides, use_app_defaults, write_review_fixture

TEAM_TOOLS = "Shared queue for the team (lead)"


@pytest.fixture
def app_env(tmp_path, monkeypatch, tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv"), tiny_classifier_dir)
    return tmp_path


@pytest.mark.parametrize(("origin", "similarity", "banner"), [
    ("activelab", None, "Showing the 3 examples chosen on the Active learning page."),
    ("similar", 0.9, "Showing 3 examples: {0} and those at least 0.90 similar to it."),
    ("disagreements", None, "Showing the 3 examples where reviewers' latest decisions differ."),
    ("mine", None, "Showing the 3 examples you decided (your latest decision on each)."),
    ("link", None, "Showing the 3 examples this link lists."),
])
def test_a_chosen_queue_keeps_its_banner_after_a_reload(app_env, origin, similarity, banner):
    at = scored_app("pages/review.py")
    ids = [str(i) for i in scoring(at).data.ids[[5, 2, 9]]]
    review_view(at).choose(ids, origin, similarity)
    at.run()
    expected = banner.format(ids[0])
    assert [i.value for i in at.info][0].replace("\\", "") == expected
    link = {key: at.query_params[key] for key in at.query_params}
    review_view(at).chosen, review_view(at).linked_dataset = None, None   # a reload: the link alone
    at.query_params.clear()
    at.query_params.update(link)
    at.run()
    assert review_view(at).chosen.ids == tuple(ids)
    shown = [i.value.replace("\\", "") for i in at.info][0]
    assert shown == expected and ("Active learning" in shown) == (origin == "activelab")


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
