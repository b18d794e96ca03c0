"""Real browser, real OpenID Connect provider (npm oidc-provider): a team signs in with st.login.
Outside the allow-list is refused; the lead scores; two reviewers sign in in two Chromium contexts,
decide the same example differently, each undoes only their own decision; only the lead exports,
and the history names both by their e-mail."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from browser_app import REVIEWS, card_id, free_port, press, start_app, wait_idle
from oidc_provider import oidc_provider, secrets_file, sign_in
from losslens.store.history_files import history_export
from losslens.store.decisions import DecisionStore

pytestmark = pytest.mark.browser
TEAM = '[losslens]\nallowed = ["example.com"]\nleads = ["lead@example.com"]\n'


def signed_in_page(context, url: str, login: str):
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    sign_in(page, login)
    page.get_by_text("Signed in as").wait_for()
    wait_idle(page)
    return page


def open_review(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/review{query}")
    page.get_by_text("Why it is here").wait_for()
    wait_idle(page)
    page.wait_for_timeout(500)


def test_team_signs_in_with_openid_connect(browser, tmp_path, artifacts):
    from playwright.sync_api import expect

    csv = tmp_path / "reviews.csv"
    pd.DataFrame(REVIEWS, columns=["text", "label"]).to_csv(csv, index=False)
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}"
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(4)]
    try:
        with oidc_provider(f"{url}/oauth2callback", tmp_path / "oidc.log") as discovery:
            secrets = secrets_file(tmp_path / "secrets.toml", url, discovery, TEAM)
            with start_app(home, str(csv), "bundled:minilm", tmp_path / "app.log", port=port,
                           flags=(f"--secrets.files={secrets}",), warm=False,   # ann must find nothing scored
                           LOSSLENS_DATA_DIR=str(tmp_path)):
                eve = contexts[3].new_page()                          # outside the allow-list
                eve.set_default_timeout(120_000)
                eve.goto(url)
                expect(eve.get_by_text("This LossLens serves a team: sign in to review.")).to_be_visible()
                sign_in(eve, "eve@other.org")
                expect(eve.get_by_text("eve@other.org is not on this server's allow-list")).to_be_visible()
                expect(eve.get_by_role("button", name="Score")).to_have_count(0)
                eve.screenshot(path=str(artifacts / "sign_in_refused.png"))

                ann = signed_in_page(contexts[0], url, "ann")         # a reviewer cannot score
                expect(ann.get_by_test_id("stSidebar")).to_contain_text("Signed in as Ann · reviewer")
                ann.get_by_text("has not been scored with this model and these settings yet, and only a lead can "
                                "score it").wait_for()
                assert not any((home / "probs").glob("*.npy"))             # nothing was computed for ann

                lead = signed_in_page(contexts[2], url, "lead")       # the lead scores (the default request)
                expect(lead.get_by_test_id("stSidebar")).to_contain_text("Signed in as Lead · lead")
                lead.get_by_text("Results ready").wait_for()

                ann.reload()                                          # reviewers open what the lead scored
                ann.get_by_text("Results ready").wait_for()
                wait_idle(ann)
                expect(ann.get_by_test_id("stBaseButton-primary").filter(has_text=re.compile(r"^Open$"), visible=True)).to_be_visible()
                expect(ann.get_by_test_id("stBaseButton-primary").filter(has_text=re.compile(r"^Score$"), visible=True)).to_have_count(0)
                open_review(ann, url)
                example = card_id(ann)
                bob = signed_in_page(contexts[1], url, "bob")
                open_review(bob, url, f"?id={example}")
                assert card_id(bob) == example
                ann.screenshot(path=str(artifacts / "sign_in_reviewer.png"))

                ann_next = press(ann, "1", then_not=example)          # ann: neg
                press(bob, "2", then_not=example)                     # bob: pos
                store = DecisionStore(home / "decisions.sqlite")
                mine = store.in_force("reviews.csv", per_reviewer=True).set_index("reviewer")
                assert mine.loc[["ann@example.com", "bob@example.com"], "example_id"].tolist() == [example, example]

                assert press(ann, "u", then_not=ann_next) == example  # ann's undo takes back only hers
                left = store.in_force("reviews.csv", per_reviewer=True)
                assert left[["example_id", "reviewer"]].values.tolist() == [[example, "bob@example.com"]]
                history = history_export(store)
                assert history[["reviewer", "undone_by"]].values.tolist() == [
                    ["ann@example.com", "ann@example.com"], ["bob@example.com", None]]

                bob.reload()                                          # progress and "mine" are per user
                bob.get_by_text("Why it is here").wait_for()
                wait_idle(bob)
                expect(bob.get_by_text("yours: 1")).to_be_visible()
                expect(ann.get_by_text("yours: 0")).to_be_visible()
                bob.get_by_role("button", name="Mine", exact=True).click()
                bob.get_by_text("Showing the 1 example you decided").wait_for()
                wait_idle(bob)
                assert card_id(bob) == example

                ann.goto(f"{url}/export")                             # only the lead exports
                expect(ann.get_by_text("Only leads export")).to_be_visible()
                expect(ann.get_by_role("button", name="Download CSV")).to_have_count(0)
                ann.get_by_test_id("stSidebarNav").get_by_text("Active learning").click()   # nor simulate
                ann.get_by_role("button", name="Run simulation").click()
                expect(ann.get_by_text("Only leads run simulations")).to_be_visible()
                lead.goto(f"{url}/export")
                with lead.expect_download() as download:
                    lead.get_by_role("button", name="Download CSV").click()
                exported = pd.read_csv(download.value.path())
                decided = exported[exported["status"] != "unreviewed"]
                assert decided[["corrected_label", "status", "reviewer"]].values.tolist() == [
                    ["pos", "relabeled" if decided["label"].iloc[0] == "neg" else "confirmed", "bob@example.com"]]

                ann.goto(url)                                         # sign out: back to the sign-in screen
                wait_idle(ann)
                ann.get_by_role("button", name="Sign out").click()
                ann.get_by_role("button", name="Yes, sign me out").click()   # the provider's own page
                expect(ann.get_by_text("This LossLens serves a team: sign in to review.")).to_be_visible()
    finally:
        for context in contexts:
            context.close()
