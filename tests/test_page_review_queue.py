"""AppTest for the Review page's queue (issue 20): Hide decided (on in the focus view, off in the
table view, in the link), decided examples marked in the queue list, a chosen queue's banner that
stays true after a reload, and the lead's shared-queue tools offered only where a team works."""
from __future__ import annotations

import pytest

from app_harness import (review_view, scored_app, scoring, second_reviewer_decides, use_app_defaults,
                         write_review_fixture)

TEAM_TOOLS = "Shared queue for the team (lead)"


@pytest.fixture
def app_env(tmp_path, monkeypatch, tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv"), tiny_classifier_dir)
    return tmp_path


def loss_order(at) -> list[str]:
    table = scoring(at).results.table
    return table.sort_values("loss", ascending=False, kind="stable")["id"].astype(str).tolist()


def card(at) -> str:
    """The focus card's first line: place in the queue, id, scores, status."""
    return next(m.value for m in at.markdown if m.value.startswith("**") and " · id " in m.value)


def queue_list(at) -> list[str]:
    """The labels of the focus view's queue list, top to bottom (markdown escapes removed)."""
    return [b.label.replace("\\", "") for b in at.button if b.key and b.key.startswith("rv_queue_")]


def test_hide_decided_moves_on_to_the_next_undecided_and_undo_brings_the_example_back(app_env):
    at = scored_app("pages/review.py")
    order = loss_order(at)
    assert at.checkbox(key="rv_hide_focus").value is True               # on by default in the focus view
    assert "undecided only" in " ".join(c.value for c in at.caption)
    at.button(key="rv_confirm").click().run()
    assert review_view(at).current_id == order[1] and card(at).startswith("**1 of 23 undecided**")
    assert not any(order[0] in label for label in queue_list(at)) and at.button(key="rv_prev").disabled
    assert "decided" not in at.query_params                            # the focus view's default: not in the link

    at.button(key="rv_undo").click().run()                             # back on screen, back in the queue
    assert review_view(at).current_id == order[0] and card(at).startswith("**1 of 24 undecided**")
    at.button(key="rv_remove").click().run()
    assert review_view(at).current_id == order[1]

    at.checkbox(key="rv_hide_focus").uncheck().run()                   # every example, decided ones marked
    assert review_view(at).current_id == order[1] and card(at).startswith("**2 of 24**")
    assert queue_list(at)[0].startswith("1. ✓ removed · given ") and "✓" not in queue_list(at)[1]
    assert at.query_params["decided"] == "show"

    at.segmented_control(key="rv_view").set_value("Table").run()       # off by default in the table view
    assert at.checkbox(key="rv_hide_table").value is False and len(at.dataframe(key="rv_table").value) == 24
    at.checkbox(key="rv_hide_table").check().run()
    assert order[0] not in at.dataframe(key="rv_table").value["id"].tolist()
    assert len(at.dataframe(key="rv_table").value) == 23 and at.query_params["decided"] == "hide"


def test_an_example_opened_by_name_stays_on_screen_where_hide_decided_leaves_it_out(app_env):
    from pages.session import decision_store

    at = scored_app("pages/review.py")
    order = loss_order(at)
    at.button(key="rv_confirm").click().run()                          # mine, then bob's on the same example
    second_reviewer_decides(at, list(scoring(at).data.ids).index(order[0]))
    at.button(key="rv_undo").click().run()                             # bob's decision still holds
    assert review_view(at).current_id == order[0] and card(at).startswith("**outside the queue**")
    assert decision_store().in_force(scoring(at).data.name).set_index("example_id").loc[order[0], "reviewer"] == "bob"
    at.button(key="rv_queue_0").click().run()                          # back into the queue: its first undecided
    assert review_view(at).current_id == order[1] and card(at).startswith("**1 of 23 undecided**")

    review_view(at).linked_dataset = None                              # a link to it, decided since
    at.query_params.update({"id": order[0]})
    at.run()
    assert review_view(at).current_id == order[0] and card(at).startswith("**outside the queue**")
    review_view(at).choose([order[2], order[3]], "link")               # a new queue: the view goes into it
    at.run()
    assert review_view(at).current_id == order[2] and card(at).startswith("**1 of 2**")


def test_the_link_sets_hide_decided_for_the_view_it_opens(app_env):
    at = scored_app()
    at.query_params.update({"decided": "show"})
    at.switch_page("pages/review.py").run()
    assert at.session_state["rv_hide_focus"] is False and not at.warning


def test_every_example_decided_says_so_instead_of_no_match(app_env):
    from losslens.sources.datasets import text_hash
    from pages.session import decision_store

    at = scored_app("pages/review.py")
    data = scoring(at).data
    for example_id, text, label in zip(data.ids, data.texts, data.labels):
        decision_store().record(data.name, str(example_id), data.label_names[int(label)], None, "confirmed", "me",
                                text_hash=text_hash(text))
    at.run()
    assert any("Every example in this queue has a decision (24)" in s.value for s in at.success)


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


def test_the_default_name_typed_over_a_reviewer_link_takes_the_name_out_of_the_link(app_env):
    """A tab opened from a ?reviewer=bob link whose user then types the OS user's name: the link
    drops ?reviewer= (the default name is never in it) and the next decision is that name's."""
    from pages.reviewer import default_reviewer
    from pages.session import decision_store

    at = scored_app("pages/review.py")
    at.text_input(key="reviewer").input("bob").run()
    assert at.query_params["reviewer"] == "bob"
    at.text_input(key="reviewer").input(default_reviewer()).run()
    assert not at.exception, at.exception
    assert "reviewer" not in at.query_params
    current = review_view(at).current_id
    at.button(key="rv_confirm").click().run()
    in_force = decision_store().in_force(scoring(at).data.name).set_index("example_id")
    assert in_force.loc[current, "reviewer"] == default_reviewer()
