"""Issue 22, a team's server fails closed: only verified e-mails sign in, an allow-list that names
nobody (or a wildcard) is refused at start instead of letting everyone in, a server others can
reach confines local paths to LOSSLENS_DATA_DIR, and `losslens app` says each in one line."""
from __future__ import annotations

import pytest

from losslens.cli import app as app_cli
from losslens.cli import main
from losslens.errors import ConfigError
from losslens.review.access import AccessPolicy, SignInSettings, require_data_dir, sign_in_settings, verified_email

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "secret", "client_id": "losslens",
        "client_secret": "s", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
AUTH_TOML = "[auth]\n" + "".join(f'{key} = "{value}"\n' for key, value in AUTH.items())


@pytest.mark.parametrize("claims, email", [
    ({"email": "Ann@Example.com", "email_verified": True}, "ann@example.com"),
    ({"email": "ann@example.com", "email_verified": "true"}, "ann@example.com"),
    ({"email": "ann@example.com", "email_verified": "false"}, None),    # some providers send strings
    ({"email": "ann@example.com", "email_verified": False}, None),
    ({"email": "ann@example.com"}, None),                               # no claim is not a yes
    ({"email": "ann@example.com", "email_verified": 1}, None),
    ({"email": "ann@example.com", "email_verified": "yes"}, None),
    ({"email_verified": True}, None),
    ({"email": "  ", "email_verified": True}, None),
])
def test_only_an_e_mail_marked_verified_signs_in(claims, email):
    assert verified_email(claims) == email


@pytest.mark.parametrize("section, expected", [
    ({"allowed": [""]}, "allowed in the secrets file holds an empty entry or no entry"),
    ({"allowed": [" "]}, "allowed in the secrets file holds an empty entry or no entry"),
    ({"allowed": []}, "leave allowed out to let every signed-in account in"),
    ({"allowed": ["ann@example.com", ""]}, "holds an empty entry"),
    ({"leads": [""]}, "leave leads out to let every signed-in account lead"),
    ({"allowed": ["*.example.com"]}, "'*.example.com' is neither an e-mail nor a domain (no wildcards"),
    ({"allowed": ["*@example.com"]}, "'*@example.com' is neither an e-mail nor a domain"),
    ({"allowed": ["example"]}, "'example' is neither an e-mail nor a domain"),
    ({"leads": ["ann@"]}, "'ann@' is neither an e-mail nor a domain"),
    ({"allowed": ["ann example.com"]}, "is neither an e-mail nor a domain"),
])
def test_an_allow_list_that_would_fail_open_is_refused(section, expected):
    with pytest.raises(ConfigError) as info:
        sign_in_settings({"auth": AUTH, "losslens": section})
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_good_allow_list_still_reads_and_lists_without_sign_in_are_refused():
    settings = sign_in_settings({"auth": AUTH, "losslens": {"allowed": ["Ann@Example.com", "team.org", "@lab.net",
                                                                        "über.de"], "leads": ["lead@team.org"]}})
    assert settings.policy == AccessPolicy(("ann@example.com", "team.org", "@lab.net", "über.de"), ("lead@team.org",))
    assert sign_in_settings({"auth": AUTH}).policy == AccessPolicy()   # no lists: every signed-in account, a lead
    with pytest.raises(ConfigError, match=r"allowed / leads take effect only with sign-in, and there is no \[auth\]"):
        sign_in_settings({"losslens": {"allowed": ["ann@example.com"]}})


def test_a_server_others_reach_needs_a_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("LOSSLENS_DATA_DIR", raising=False)
    team, local = SignInSettings(True, AccessPolicy()), SignInSettings(False, AccessPolicy())
    require_data_dir(local, "127.0.0.1")                              # one person on this computer: no folder needed
    for settings, address, reason in [(team, "127.0.0.1", "sign-in is configured"),
                                      (local, "0.0.0.0", "it serves 0.0.0.0")]:
        with pytest.raises(ConfigError) as info:
            require_data_dir(settings, address)
        assert str(info.value).startswith("set LOSSLENS_DATA_DIR to the folder of datasets") and reason in str(info.value)
    monkeypatch.setenv("LOSSLENS_DATA_DIR", str(tmp_path))
    require_data_dir(team, "0.0.0.0")


@pytest.fixture
def started(monkeypatch):
    """Stands in for the Streamlit server `losslens app` would start: records its command line."""
    commands = []

    class Server:
        def __init__(self, command):
            commands.append(command)

        def wait(self):
            return 0

    monkeypatch.setattr(app_cli.subprocess, "Popen", Server)
    return commands


def run_app(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["app", *args])
    return code, capsys.readouterr().err.strip().splitlines()


def test_losslens_app_refuses_each_unsafe_team_setting_in_one_line(capsys, tmp_path, monkeypatch, started):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOSSLENS_DATA_DIR", raising=False)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(AUTH_TOML + '[losslens]\nallowed = [""]\n')
    code, err = run_app(capsys, "--secrets", str(secrets))
    assert code == 2 and len(err) == 1 and "allowed in the secrets file holds an empty entry" in err[0]
    secrets.write_text(AUTH_TOML + '[losslens]\nallowed = ["*.example.com"]\n')
    code, err = run_app(capsys, "--secrets", str(secrets))
    assert code == 2 and len(err) == 1 and "'*.example.com' is neither an e-mail nor a domain" in err[0]
    secrets.write_text(AUTH_TOML + '[losslens]\nallowed = ["example.com"]\n')
    code, err = run_app(capsys, "--secrets", str(secrets))
    assert code == 2 and len(err) == 1 and "set LOSSLENS_DATA_DIR" in err[0] and "sign-in is configured" in err[0]
    code, err = run_app(capsys, "--address", "0.0.0.0", "--no-sign-in")
    assert code == 2 and len(err) == 1 and "set LOSSLENS_DATA_DIR" in err[0] and "it serves 0.0.0.0" in err[0]
    assert started == []                                                 # no server was started
    monkeypatch.setenv("LOSSLENS_DATA_DIR", str(tmp_path))
    assert run_app(capsys, "--secrets", str(secrets), "--port", "8600") == (0, [])
    assert "--server.port=8600" in started[0]


@pytest.mark.parametrize("port", ["99999", "-1", "0", "65536", str(10**30)])
def test_a_port_out_of_range_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, started, port):
    monkeypatch.chdir(tmp_path)
    code, err = run_app(capsys, "--port", port)
    assert code == 2 and len(err) == 1 and started == []
    assert err[0].startswith("losslens: error: argument --port: must be a whole number from 1 to 65,535")
