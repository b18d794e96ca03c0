"""Who is reviewing: the sidebar's reviewer name, kept in the URL (?reviewer=) so a reload keeps
it, and the other open browser sessions under the same name (whose decisions and Undo would mix
with this one's)."""
from __future__ import annotations

import getpass
import threading

import streamlit as st

from pages.markup import md

MAX_REVIEWER = 80


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 — no login name in some containers
        return "reviewer"


def reviewer_name() -> str:
    """The reviewer typed in the sidebar (default: the OS user)."""
    return (st.session_state.get("reviewer") or "").strip()[:MAX_REVIEWER] or default_reviewer()


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
    """The reviewer as a query parameter ({} for the default name), so a reload keeps it."""
    name = reviewer_name()
    return {} if name == default_reviewer() else {"reviewer": name}


def render_sidebar() -> None:
    """The sidebar's reviewer name (kept in the URL) and a warning when another open tab
    reviews under the same name."""
    if "reviewer" not in st.session_state:
        st.session_state["reviewer"] = (st.query_params.get("reviewer") or "").strip()[:MAX_REVIEWER] or \
            default_reviewer()
    st.sidebar.text_input("Reviewer", key="reviewer", max_chars=MAX_REVIEWER,
                          help="Stored with every decision you make on the Review page; Undo takes back only "
                               "this name's decisions. Kept in the address (?reviewer=) so a reload keeps it.")
    link = reviewer_link()
    if st.query_params.get("reviewer") != link.get("reviewer"):
        if link:
            st.query_params["reviewer"] = link["reviewer"]
        else:
            del st.query_params["reviewer"]
    if (others := others_with_my_name()):
        st.sidebar.warning(f"{others} other open tab{'s' if others > 1 else ''} also review{'' if others > 1 else 's'} "
                           f"as **{md(reviewer_name())}**: their decisions and yours would be one reviewer's, and "
                           "Undo would take back theirs. Type your own name above before you decide.")
