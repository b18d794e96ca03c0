"""Who may use a team's LossLens: sign-in settings from Streamlit's secrets file.

`[auth]` configures Streamlit's OpenID Connect sign-in (st.login); without it the app runs in
local single-user mode. `[losslens]` holds the team's access policy:

    [losslens]
    allowed = ["ann@example.com", "example.org"]   # e-mails, or domains (every address there)
    leads = ["lead@example.com"]                    # only they score, retrain and export

No `allowed`: every signed-in user may review. No `leads`: every signed-in user is a lead. A
list that names nobody (`allowed = []`, `[""]`), an entry that is neither an e-mail nor a domain
(`*.example.com`: no wildcards), or either list without [auth] is refused at start, never read as
"everyone". Only an e-mail the provider marks verified (`email_verified` true) signs in, and a
server others can reach must confine local paths to LOSSLENS_DATA_DIR.
"""
from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from losslens import config
from losslens.errors import ConfigError, excerpt

REQUIRED_AUTH = ("redirect_uri", "cookie_secret")
REQUIRED_PROVIDER = ("client_id", "client_secret", "server_metadata_url")
_DOMAIN = r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W_](?:[\w-]*[^\W_])?"   # labels of letters, digits, - and _
_ENTRY = re.compile(rf"(?:[^@\s*?]+@|@)?{_DOMAIN}")     # ann@example.org, example.org, @example.org; no * or ?
_WITHOUT_LIST = {"allowed": "in", "leads": "lead"}   # what leaving a list out lets every signed-in account do


def _addresses(section: Mapping, key: str) -> tuple[str, ...]:
    """The lower-case entries of [losslens] `key`; ConfigError for a list that names nobody or an
    entry that is neither an e-mail nor a domain (both would silently let every account in, or none)."""
    value = section[key]
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[losslens] {key} in the secrets file must be a list of e-mails or domains, "
                          f"e.g. {key} = [\"ann@example.com\", \"example.org\"]")
    if not value or any(not v.strip() for v in value):
        raise ConfigError(f"[losslens] {key} in the secrets file holds an empty entry or no entry: name e-mails or "
                          f"domains, or leave {key} out to let every signed-in account {_WITHOUT_LIST[key]}")
    entries = tuple(v.strip().lower() for v in value)
    for entry in entries:
        if not _ENTRY.fullmatch(entry):
            raise ConfigError(f"[losslens] {key}: {excerpt(entry)} is neither an e-mail nor a domain "
                              "(no wildcards: example.org covers addresses at example.org, not its subdomains)")
    return entries


@dataclass(frozen=True)
class AccessPolicy:
    """The team's allow-list and leads: lower-case e-mails ("ann@example.com") or domains
    ("example.org", or "@example.org")."""

    allowed: tuple[str, ...] = ()
    leads: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, section: Mapping) -> "AccessPolicy":
        """From the secrets file's [losslens] table; a ConfigError names a bad entry."""
        if not isinstance(section, Mapping):
            raise ConfigError("[losslens] in the secrets file must be a table")
        unknown = sorted(set(section) - {"allowed", "leads"})
        if unknown:
            raise ConfigError(f"[losslens] in the secrets file has unknown setting {excerpt(unknown[0])} "
                              "(known: allowed, leads)")
        return cls(*(_addresses(section, key) if key in section else () for key in ("allowed", "leads")))

    def allows(self, email: str | None) -> bool:
        """True when this signed-in e-mail may use the app (always, without an allow-list)."""
        return not self.allowed or _matches(email, self.allowed)

    def is_lead(self, email: str | None) -> bool:
        """True when this signed-in e-mail may score, retrain and export (everyone, without leads)."""
        return self.allows(email) and (not self.leads or _matches(email, self.leads))


def _matches(email: str | None, entries: tuple[str, ...]) -> bool:
    address = (email or "").strip().lower()
    if "@" not in address:
        return False
    domain = address.rsplit("@", 1)[1]
    return any(address == entry if "@" in entry.lstrip("@") else domain == entry.lstrip("@") for entry in entries)


@dataclass(frozen=True)
class SignInSettings:
    """What a secrets file says: whether sign-in is configured, its providers (() for the one
    unnamed provider of [auth]; ("google", "okta") for [auth.google] and [auth.okta]), and the
    access policy."""

    sign_in: bool
    policy: AccessPolicy
    providers: tuple[str, ...] = ()


def read_secrets(path: Path) -> SignInSettings:
    """Check a Streamlit secrets file before the server starts: a missing file means local mode;
    a damaged one, or an [auth] table without what Streamlit needs, is a ConfigError."""
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SignInSettings(False, AccessPolicy())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"secrets file {path}: cannot read it as TOML ({exc})") from None
    return sign_in_settings(settings, f"secrets file {path}")


def sign_in_settings(settings: Mapping, where: str = "the secrets file") -> SignInSettings:
    """Sign-in and policy from the secrets' tables (the CLI's parsed file or the app's st.secrets);
    a ConfigError names what is missing or wrong."""
    auth = settings.get("auth")
    providers = _check_auth(where, auth) if auth is not None else ()
    policy = AccessPolicy.from_settings(settings.get("losslens", {}))
    if auth is None and (policy.allowed or policy.leads):
        raise ConfigError(f"{where}: [losslens] allowed / leads take effect only with sign-in, and there is no [auth] "
                          "table; add it (README: Running for a team) or remove the lists")
    return SignInSettings(auth is not None, policy, providers)


def verified_email(claims: Mapping) -> str | None:
    """The signed-in user's e-mail, lower case, when the provider says it is verified
    (`email_verified` the boolean true or the string "true"; a missing claim, false or "false" is
    not); else None. `claims`: the identity token's claims (Streamlit's st.user)."""
    verified = claims.get("email_verified")
    email = claims.get("email")
    if not (verified is True or verified == "true") or not isinstance(email, str):
        return None
    return email.strip().lower() or None


def require_data_dir(settings: SignInSettings, address: str) -> None:
    """ConfigError when others can reach this server (sign-in configured, or an address other than
    localhost) and LOSSLENS_DATA_DIR is unset: every reviewer could then read any .csv/.json file of
    the server through "Local file" (`losslens app` checks this before it starts the server)."""
    if (settings.sign_in or not is_loopback(address)) and config.data_dir() is None:
        shared = "sign-in is configured" if settings.sign_in else f"it serves {address}"
        raise ConfigError(f"set LOSSLENS_DATA_DIR to the folder of datasets and models reviewers may open: {shared}, "
                          "and without it anyone who gets in could read any file of this server by its path")


def _check_auth(where: str, auth: object) -> tuple[str, ...]:
    """The provider names of a complete [auth] table (() for an unnamed one)."""
    if not isinstance(auth, Mapping):
        raise ConfigError(f"{where}: [auth] must be a table")
    missing = [key for key in REQUIRED_AUTH if not auth.get(key)]
    named = () if "client_id" in auth else tuple(k for k, v in auth.items() if isinstance(v, Mapping))
    for name in named:
        if not name.replace("-", "").isalnum():
            raise ConfigError(f"{where}: provider [auth.{name}] must be named with letters, digits and - only")
    providers = [auth] if "client_id" in auth else [auth[name] for name in named]
    if not providers:
        missing.append("client_id")
    for provider in providers:
        missing += [key for key in REQUIRED_PROVIDER if not provider.get(key) and key not in missing]
    if missing:
        raise ConfigError(f"{where}: [auth] lacks {', '.join(missing)} (README: Running for a team shows a complete "
                          "example)")
    return named


def is_loopback(address: str) -> bool:
    """True for addresses only this computer can reach (127.0.0.1, ::1, localhost)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
