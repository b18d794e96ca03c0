"""`losslens app`: serve the web app (app.py + pages/) with the checked secrets file."""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

from losslens import config
from losslens.errors import ConfigError, LossLensError
from losslens.review.access import is_loopback, read_secrets, require_data_dir


# Streamlit treats a folder named pages/ beside the entry script as a legacy multipage app until
# some session has run app.py's st.navigation; a bookmarked /review opened first after a restart
# would then run pages/review.py without app.py. Starting the server with that mode already off
# makes every URL go through app.py. This is the one place that patch lives.
SERVE_STREAMLIT = (
    "import sys; from streamlit.runtime.pages_manager import PagesManager; "
    "PagesManager.uses_pages_directory = False; from streamlit.web.cli import main; "
    "sys.argv[0] = 'streamlit'; sys.exit(main())"
)


def app_script() -> Path:
    """app.py of the web app: losslens/webapp/app.py in an installed wheel, the checkout's app.py
    (beside core/) in an editable install. pages/ sits beside it either way."""
    package = Path(__file__).resolve().parents[1]   # losslens/
    for app in (package / "webapp" / "app.py", package.parents[1] / "app.py"):
        if app.is_file() and (app.parent / "pages" / "session.py").is_file():
            return app
    raise LossLensError("the web app (app.py + pages/) is not installed with this losslens; reinstall it")


def server_flags(app: Path) -> list[str]:
    """The app's .streamlit/config.toml as command-line flags: Streamlit reads that file from the
    current folder only, and `losslens app` may be started anywhere. The upload limit follows
    LOSSLENS_MAX_UPLOAD_MB, so raising it raises both the uploader's and the reader's cap."""
    settings = tomllib.loads((app.parent / ".streamlit" / "config.toml").read_text())
    settings["server"]["maxUploadSize"] = max(1, config.max_file_bytes() // 2**20)   # one setting for both caps
    return [f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
            for section, values in settings.items() for key, value in values.items()]


def app_command(args: argparse.Namespace) -> int:
    """Serve the app until it exits; SIGTERM / SIGINT are passed on to the server."""
    config.home()  # a bad LOSSLENS_HOME is reported here, not in the browser
    if args.secrets is not None and not args.secrets.exists():
        raise ConfigError(f"--secrets {args.secrets}: no such file")
    args.secrets = args.secrets or Path(".streamlit") / "secrets.toml"
    secrets = read_secrets(args.secrets)   # a damaged secrets file is reported here too
    if not secrets.sign_in and not is_loopback(args.address) and not args.no_sign_in:
        raise ConfigError(f"refusing to serve {args.address} without sign-in: anyone reaching it could review under "
                          f"any name. Configure [auth] in {args.secrets} (README: Running for a team), or pass "
                          "--no-sign-in behind your own authenticating proxy")
    require_data_dir(secrets, args.address)
    app = app_script()
    command = [sys.executable, "-c", SERVE_STREAMLIT, "run", str(app), *server_flags(app),
               f"--server.port={args.port}", f"--server.address={args.address}",
               f"--secrets.files={args.secrets.resolve()}"]
    server = subprocess.Popen(command)
    forward = lambda signum, _frame: server.send_signal(signum)  # noqa: E731
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return server.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
