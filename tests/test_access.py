"""Team access: the secrets file's sign-in and [losslens] policy (allow-list, leads), the refusal
to serve beyond localhost without sign-in, and reviewers opening only what a lead has scored."""
from __future__ import annotations

import pandas as pd
import pytest

from losslens.scoring import features, pipeline
from losslens.review.access import AccessPolicy, is_loopback, read_secrets
from losslens.cli import main
from losslens.errors import ConfigError, NotScoredError
from losslens.scoring.models import ModelSpec
from review_data import load_reviews

AUTH = """[auth]
redirect_uri = "http://127.0.0.1:8501/oauth2callback"
cookie_secret = "secret"
client_id = "losslens"
client_secret = "s"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
"""


def test_allow_list_takes_e_mails_and_domains_case_blind():
    policy = AccessPolicy.from_settings({"allowed": ["Ann@Example.com", "team.org", "@lab.net"],
                                         "leads": ["lead@team.org"]})
    verdicts = {email: (policy.allows(email), policy.is_lead(email)) for email in
                ["ann@example.com", "ANN@EXAMPLE.COM", "bob@example.com", "x@team.org", "lead@team.org",
                 "y@lab.net", "y@sub.lab.net", "eve@evil.org", "", None, "team.org"]}
    assert verdicts == {
        "ann@example.com": (True, False), "ANN@EXAMPLE.COM": (True, False), "bob@example.com": (False, False),
        "x@team.org": (True, False), "lead@team.org": (True, True), "y@lab.net": (True, False),
        "y@sub.lab.net": (False, False), "eve@evil.org": (False, False), "": (False, False),
        None: (False, False), "team.org": (False, False)}


def test_without_lists_every_signed_in_user_is_an_allowed_lead():
    policy = AccessPolicy.from_settings({})
    assert (policy.allows("anyone@anywhere.io"), policy.is_lead("anyone@anywhere.io")) == (True, True)
    leads_only = AccessPolicy.from_settings({"leads": ["lead@team.org"]})
    assert (leads_only.allows("x@y.z"), leads_only.is_lead("x@y.z"), leads_only.is_lead("lead@team.org")) == \
        (True, False, True)


@pytest.mark.parametrize("section, named", [
    ({"allowed": "ann@example.com"}, "allowed in the secrets file must be a list"),
    ({"leads": [1, 2]}, "leads in the secrets file must be a list"),
    ({"allowed": ["a@@b"]}, "'a@@b' is neither an e-mail nor a domain"),
    ({"allow": ["a@b.c"]}, "unknown setting 'allow'"),
])
def test_bad_policy_entries_are_named(section, named):
    with pytest.raises(ConfigError, match=named):
        AccessPolicy.from_settings(section)


def test_secrets_file_sign_in_and_its_damage(tmp_path):
    missing = read_secrets(tmp_path / "absent.toml")
    assert (missing.sign_in, missing.policy) == (False, AccessPolicy())
    good = tmp_path / "good.toml"
    good.write_text(AUTH + '[losslens]\nleads = ["lead@team.org"]\n')
    settings = read_secrets(good)
    assert settings.sign_in and settings.policy.leads == ("lead@team.org",)
    assert settings.providers == ()                                    # the unnamed provider: st.login()
    named = tmp_path / "named.toml"   # named providers ([auth.google]): one Sign in button each
    named.write_text(AUTH.replace('client_id = "losslens"', "[auth.google]\nclient_id = \"losslens\""))
    assert read_secrets(named).sign_in and read_secrets(named).providers == ("google",)
    underscore = tmp_path / "underscore.toml"   # Streamlit refuses provider names with _
    underscore.write_text(named.read_text().replace("[auth.google]", "[auth.my_idp]"))
    with pytest.raises(ConfigError, match=r"provider \[auth.my_idp\] must be named with letters, digits and -"):
        read_secrets(underscore)
    cases = {"damaged.toml": ("[auth\nx=", "cannot read it as TOML"),
             "lacking.toml": ('[auth]\nredirect_uri = "x"\n', "lacks cookie_secret, client_id"),
             "no_metadata.toml": (AUTH.replace("server_metadata_url", "other"), "lacks server_metadata_url")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError, match=message):
            read_secrets(tmp_path / name)


def test_loopback_addresses():
    assert [is_loopback(a) for a in ["127.0.0.1", "::1", "localhost", "127.0.0.2", "0.0.0.0", "10.0.0.5",
                                     "example.org"]] == [True, True, True, True, False, False, False]


def test_app_refuses_a_public_address_without_sign_in(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["app", "--address", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to serve 0.0.0.0 without sign-in" in err[0] and "--no-sign-in" in err[0]
    (tmp_path / "bad.toml").write_text("[auth]\nredirect_uri = 3\n")
    assert main(["app", "--secrets", str(tmp_path / "bad.toml")]) == 2
    assert "[auth] lacks cookie_secret" in capsys.readouterr().err
    assert main(["app", "--secrets", str(tmp_path / "typo.toml")]) == 2
    assert "--secrets " + str(tmp_path / "typo.toml") + ": no such file" in capsys.readouterr().err
    assert main(["app", "--secrets", str(tmp_path)]) == 2                     # a folder
    assert "cannot read it as TOML" in capsys.readouterr().err


def test_a_reviewer_opens_only_what_a_lead_scored(tmp_path, tiny_classifier_dir, monkeypatch):
    data = load_reviews(tmp_path)
    spec = ModelSpec(str(tiny_classifier_dir), precision="fp32")
    with pytest.raises(NotScoredError, match="only a lead can score it"):
        pipeline.score_dataset(data, spec, compute=False)
    scored = pipeline.score_dataset(data, spec)          # the lead

    def no_model(*_args, **_kwargs):
        raise AssertionError("a reviewer never loads the model")

    monkeypatch.setattr(features, "load_model", no_model)
    opened = pipeline.score_dataset(data, spec, compute=False)
    assert opened.from_cache and opened.key == scored.key
    pd.testing.assert_frame_equal(opened.table, scored.table)
