"""The decision store's safety net: a health check when it opens, damaged files moved aside
(never overwritten), automatic backups, and the restore behind `losslens decisions restore`.

- Health: a store file that is empty (0 bytes), not a SQLite database, or fails SQLite's
  quick_check is damaged. It is renamed to <name>.damaged-<UTC time> with its -wal/-shm files,
  and a note <name>.damaged says so: the store refuses to open, in one line naming both paths,
  until `losslens decisions restore` (latest backup) or `--empty` (a new store) is run.
- Backups: SQLite's online backup API copies the store to backups/<name>-<last decision id>-<UTC
  time>.sqlite every BACKUP_EVERY decisions and when the app's server stops; the newest
  KEEP_BACKUPS are kept. A damaged store loses at most the decisions made since the last backup.
  Other files in backups/ are not backups. A restore checks each backup (damage_of), newest first,
  and brings back the newest one that passes.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from losslens.errors import StoreError

BACKUP_EVERY = 50
KEEP_BACKUPS = 3


def damage_of(path: Path) -> str | None:
    """Why the store file at `path` cannot be used ("emptied", "not a database", ...); None
    when it is healthy or absent."""
    if not path.exists():
        return None
    if path.stat().st_size == 0:
        return "emptied (0 bytes)"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"not a readable SQLite database ({str(exc)[:60]})"
    return None if result == "ok" else f"failed SQLite's integrity check ({str(result)[:60]})"


def note_path(path: Path) -> Path:
    return path.with_name(path.name + ".damaged")


def check_not_awaiting_restore(path: Path) -> None:
    """StoreError while a damaged store waits for `losslens decisions restore`."""
    note = note_path(path)
    if note.exists():
        try:
            moved = json.loads(note.read_text())["moved_to"]
        except (OSError, ValueError, KeyError, TypeError):
            moved = "(see the .damaged note)"
        raise StoreError(f"the decision store was damaged and moved aside: run `losslens decisions restore` to bring "
                         f"back its latest backup, or `losslens decisions restore --empty` to start a new one "
                         f"(moved to {Path(moved).name} in {path.parent})")


def move_aside(path: Path, reason: str) -> Path:
    """Rename the damaged store (and its -wal / -shm) out of the way and leave a note; the new path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    moved = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            os.replace(part, moved.with_name(moved.name + suffix))
    note_path(path).write_text(json.dumps({"moved_to": str(moved), "reason": reason, "at": stamp}))
    return moved


def backup_folder(path: Path) -> Path:
    return path.parent / "backups"


def backups_of(path: Path) -> list[Path]:
    """The backups of the store at `path`, newest (highest decision id) first; files in the
    backup folder not named as `backup` names them (a copy someone put there) are not ones."""
    folder = backup_folder(path)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob(f"{glob.escape(path.stem)}-*.sqlite") if _backup_name(path).fullmatch(p.name)]
    return sorted(found, key=lambda p: (backup_id(p), p.name), reverse=True)


def _backup_name(path: Path) -> re.Pattern[str]:
    """The names `backup` gives: <store stem>-<last decision id>-<UTC time>.sqlite."""
    return re.compile(re.escape(path.stem) + r"-(\d+)-\d{8}T\d{12}Z\.sqlite")


def backup_id(backup_path: Path) -> int:
    """The last decision id a backup (named by `backup`) holds."""
    return int(backup_path.stem.split("-")[-2])


def backed_up_id(path: Path) -> int:
    """The last decision id the newest backup holds (0 without a backup)."""
    newest = backups_of(path)
    return backup_id(newest[0]) if newest else 0


def backup(path: Path, last_id: int) -> Path:
    """Copy the store to a new backup with SQLite's online backup API; keep the newest KEEP_BACKUPS."""
    folder = backup_folder(path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{path.stem}-{last_id:09d}-{stamp}.sqlite"
    partial = target.with_suffix(f".partial{os.getpid()}")
    source, copy = sqlite3.connect(path, timeout=30), sqlite3.connect(partial)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    os.replace(partial, target)
    for old in backups_of(path)[KEEP_BACKUPS:]:
        old.unlink(missing_ok=True)
    return target


def restore(path: Path, empty: bool = False) -> str:
    """Bring back the newest backup (or, with `empty`, start a new store) after a damage; a
    one-line account of what was done. StoreError when there is nothing to do."""
    note = note_path(path)
    if not note.exists() and path.exists() and damage_of(path) is None:
        raise StoreError(f"the decision store {path} is healthy: nothing to restore (move it away first to go back "
                         "to a backup)")
    candidates = backups_of(path)
    if not empty and not candidates:
        raise StoreError(f"no backup of {path} in {backup_folder(path)}; `losslens decisions restore --empty` "
                         "starts a new store (the damaged one stays where it was moved)")
    damaged = []
    good = None
    for candidate in [] if empty else candidates:   # newest first: the first one that passes the check
        if damage_of(candidate) is None:
            good = candidate
            break
        damaged.append(candidate.name)
    if not empty and good is None:
        raise StoreError(f"every backup of {path} in {backup_folder(path)} is damaged ({len(damaged)}, none "
                         "restored); `losslens decisions restore --empty` starts a new store")
    if path.exists():   # damaged but not moved yet (e.g. found by this command): move it now
        move_aside(path, damage_of(path) or "replaced by restore")
    note.unlink(missing_ok=True)
    if good is None:
        return f"a new, empty decision store will be created at {path}"
    shutil.copyfile(good, path)
    skipped = f"; skipped {len(damaged)} damaged newer backup(s): {', '.join(damaged)}" if damaged else ""
    return (f"restored {path} from {good.name}: every decision up to #{backup_id(good)} "
            f"(at most {BACKUP_EVERY} later ones are lost){skipped}")
