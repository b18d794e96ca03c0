"""A real OpenID Connect provider for the sign-in browser tests: panva's `oidc-provider` (npm,
pinned in tests/oidc/package.json, installed by `make test`) run by node on a free localhost port."""
from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from browser_app import free_port, wait_until_serving

FOLDER = Path(__file__).resolve().parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "losslens", "losslens-test-secret"


@contextmanager
def oidc_provider(redirect_uri: str, log: Path):
    """Start the provider for one client redirecting to `redirect_uri`; yield its discovery URL."""
    node = shutil.which("node")
    if node is None or not (FOLDER / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("the OIDC provider is not installed: run `make test` (npm ci in tests/oidc)")
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([node, "provider.mjs", str(port), redirect_uri], cwd=FOLDER, stdout=out,
                                stderr=subprocess.STDOUT)
    discovery = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    try:
        wait_until_serving(discovery, proc, log, "OIDC provider", seconds=30)
        yield discovery
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def secrets_file(path: Path, app_url: str, discovery: str, team: str = "") -> Path:
    """A Streamlit secrets file: sign-in through the test provider, plus a [losslens] `team` table."""
    path.write_text(f"""[auth]
redirect_uri = "{app_url}/oauth2callback"
cookie_secret = "a-long-random-test-cookie-secret-0123456789"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{discovery}"
client_kwargs = {{ prompt = "login" }}
{team}""")
    return path


def sign_in(page, login: str) -> None:
    """Through the provider's own pages: Sign in, its login form (any password), its consent."""
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name='login']").fill(login)
    page.locator("input[name='password']").fill("any password")
    page.locator("button[type='submit']").click()
    page.locator("button[type='submit']", has_text="Continue").click()
