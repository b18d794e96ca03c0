"""A throwaway PostgreSQL cluster for the tests: Debian's initdb + pg_ctl on a free localhost
port in a temporary folder, as the postgres user when the tests run as root (PostgreSQL refuses
root). `make test` installs Debian's postgresql when it is missing."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from browser_app import free_port


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: `make test` installs it (apt-get install -y postgresql)")
    return found


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


@contextmanager
def postgres_cluster():
    """Yield a SQLAlchemy URL of a fresh cluster's `postgres` database; stop and delete it afterwards.

    The cluster lives in its own folder under the system temp dir (pytest's are private to root,
    which the postgres user could not enter)."""
    folder = Path(tempfile.mkdtemp(prefix="losslens-postgres-"))
    data, sockets, log = folder / "data", folder / "sockets", folder / "server.log"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:   # PostgreSQL will not run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        for path in (folder, sockets):
            shutil.chown(path, "postgres")
    port = free_port()
    try:
        _run([*as_user, _binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync",
              "-E", "UTF8"])
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=50 -c fsync=off"
        _run([*as_user, _binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"])
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, _binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the cluster; its URL."""
    import psycopg

    base = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
