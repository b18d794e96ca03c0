"""Who is reviewing. With sign-in configured (the secrets file's [auth], losslens.review.access) the
reviewer is the signed-in user's e-mail, checked against the team's allow-list, and only leads
score, retrain and export. Otherwise local mode: the sidebar's reviewer name, kept in the URL
(?reviewer=) so a reload keeps it, with a warning when another open tab uses the same name. A team
may work in local mode too (a shared database, several reviewer names): leads_a_team tells.
"""
from __future__ import annotations

import getpass
import re
import threading
import uuid

import streamlit as st

from losslens.review.access import AccessPolicy, SignInSettings, is_loopback, sign_in_settings, verified_email
from losslens.errors import ConfigError
from losslens.review.snapshot import DecisionsSnapshot
from pages.markup import md

MAX_REVIEWER = 80
TAB_ID = re.compile(r"[0-9a-f]{12}")
REVIEWER_WIDGET = "reviewer"   # the sidebar's reviewer name (local mode); the only state of this module


def team_settings() -> SignInSettings:
    """Sign-in on or off, its providers and the team's access policy, from Streamlit's secrets
    (checked by losslens.review.access, as `losslens app` checks the file before it starts)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return SignInSettings(False, AccessPolicy())
        return sign_in_settings(st.secrets.to_dict())
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 — Streamlit's secrets errors carry no common base
        raise ConfigError(f"cannot read the secrets file: {exc}") from None


def signed_in_email() -> str | None:
    """The signed-in user's e-mail (lower case), or None in local mode / before sign-in."""
    if not team_settings().sign_in or not st.user.is_logged_in:
        return None
    return str(st.user.get("email") or "").strip().lower() or None


def require_sign_in() -> None:
    """With sign-in configured: a sign-in screen until the user has signed in, and a refusal for
    an account without a verified e-mail or outside the allow-list; both stop the script. Local
    mode: nothing."""
    settings = team_settings()
    if not settings.sign_in:
        return
    if not st.user.is_logged_in:
        st.title("LossLens")
        st.write("This LossLens serves a team: sign in to review.")
        for provider in settings.providers or (None,):
            if st.button(f"Sign in with {provider}" if provider else "Sign in", type="primary", key=f"login_{provider}"):
                st.login(provider)
        st.stop()
    email = signed_in_email()
    if email is None or verified_email(st.user) is None:
        refuse("This account has no verified e-mail address, which LossLens needs to know who decided what.")
    if not settings.policy.allows(email):
        refuse(f"{md(email)} is not on this server's allow-list. Ask a lead to add it ([losslens] allowed in the "
               "secrets file).")


def refuse(message: str) -> None:
    """Say why this signed-in account cannot use the app, offer Sign out, stop."""
    st.error(message)
    st.button("Sign out", on_click=st.logout)
    st.stop()


def is_lead() -> bool:
    """True when this user may score, retrain and export: everyone in local mode; with sign-in,
    the leads of the secrets file (everyone when it names none)."""
    settings = team_settings()
    return not settings.sign_in or settings.policy.is_lead(signed_in_email())


def leads_a_team(decisions: DecisionsSnapshot) -> bool:
    """Whether this user is offered the team's tools (starting a shared queue): a lead (is_lead)
    where a team works on the dataset of `decisions`: sign-in on, the store a database server
    (LOSSLENS_DB_URL) rather than a SQLite file, the server reachable from other computers, a
    shared queue open, or decisions by another reviewer. Someone working alone is not."""
    if not is_lead():
        return False
    return (team_settings().sign_in or decisions.store.engine.dialect.name != "sqlite"
            or not is_loopback(st.get_option("server.address") or "localhost")
            or decisions.shared_queue is not None or (decisions.per_reviewer["reviewer"] != reviewer_name()).any())


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 — no login name in some containers
        return "reviewer"


def reviewer_name() -> str:
    """Who decides: the signed-in e-mail, else the reviewer typed in the sidebar (default: the OS user)."""
    return signed_in_email() or (st.session_state.get(REVIEWER_WIDGET) or "").strip()[:MAX_REVIEWER] or default_reviewer()


@st.cache_resource
def reviewer_sessions() -> tuple[dict[str, str], threading.Lock]:
    """Streamlit session id -> reviewer name of each browser session (one table per server)."""
    return {}, threading.Lock()


def others_with_my_name() -> int:
    """How many other connected browser sessions review under this session's reviewer name."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    if context is None or not runtime.exists():
        return 0
    sessions, lock = reviewer_sessions()
    server, name = runtime.get_instance(), reviewer_name()
    with lock:
        sessions[context.session_id] = name
        for gone in [sid for sid in sessions if not server.is_active_session(sid)]:
            del sessions[gone]
        return sum(1 for sid, other in sessions.items() if other == name and sid != context.session_id)


def reviewer_link() -> dict[str, str]:
    """The reviewer (not for the default name or a signed-in user) and this tab's id as query
    parameters, so a reload keeps both."""
    name = reviewer_name()
    return {"tab": tab_id()} | ({} if name == default_reviewer() or signed_in_email() else {"reviewer": name})


def tab_id() -> str:
    """This browser tab's id, stored with each decision it makes, so Undo takes back this tab's own
    last decision, not one another tab made under the same name. Kept in the address (?tab=): a
    reload keeps it, a new tab gets its own."""
    found = st.query_params.get("tab") or ""
    if not TAB_ID.fullmatch(found):
        found = st.query_params["tab"] = uuid.uuid4().hex[:12]
    return found


def render_sidebar() -> None:
    """Who is signed in (and Sign out), or local mode's reviewer name and what it means."""
    if signed_in_email():
        role = "lead" if is_lead() else "reviewer"
        st.sidebar.markdown(f"Signed in as **{md(st.user.get('name') or reviewer_name())}** · {role}")
        st.sidebar.caption(md(reviewer_name()))
        st.sidebar.button("Sign out", on_click=st.logout, key="sign_out")
        return
    local_name_sidebar()
    address = st.get_option("server.address") or "localhost"
    if is_loopback(address):
        st.sidebar.caption("Local mode: no sign-in; this server answers on this computer only. For a team, "
                           "configure sign-in (README: Running for a team).")
    else:
        st.sidebar.warning(f"No sign-in: anyone who reaches {md(address)} can review under any name.")


def local_name_sidebar() -> None:
    """The sidebar's reviewer name (kept in the URL) and a warning when another open tab
    reviews under the same name."""
    if REVIEWER_WIDGET not in st.session_state:
        st.session_state[REVIEWER_WIDGET] = (st.query_params.get("reviewer") or "").strip()[:MAX_REVIEWER] or \
            default_reviewer()
    st.sidebar.text_input("Reviewer", key=REVIEWER_WIDGET, max_chars=MAX_REVIEWER,
                          help="Stored with every decision you make on the Review page; Undo takes back only "
                               "this name's decisions. Kept in the address (?reviewer=) so a reload keeps it.")
    link = reviewer_link()
    if st.query_params.get("reviewer") != link.get("reviewer"):
        if "reviewer" in link:
            st.query_params["reviewer"] = link["reviewer"]
        else:
            del st.query_params["reviewer"]
    if (others := others_with_my_name()):
        st.sidebar.warning(f"{others} other open tab{'s' if others > 1 else ''} also review{'' if others > 1 else 's'} "
                           f"as **{md(reviewer_name())}**: their decisions and yours would be one reviewer's (Undo "
                           "takes back only this tab's). Type your own name above before you decide.")
