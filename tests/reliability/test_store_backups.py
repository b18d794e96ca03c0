"""A damaged decision store is never overwritten: it is moved aside, the user is told in one line,
and the latest automatic backup (every 50 decisions) comes back with `losslens decisions restore`."""
from __future__ import annotations

import pytest

from losslens import cli
from losslens.store.backups import BACKUP_EVERY, backups_of
from losslens.errors import StoreError
from losslens.store.decisions import DecisionStore


def fill(store: DecisionStore, n: int) -> None:
    for i in range(n):
        store.record("news.csv", f"e{i}", "sport", "tech", "relabeled", "ann", text_hash=f"{i:016x}")


def test_backups_every_fifty_decisions_and_only_three_kept(losslens_home):
    store = DecisionStore()
    fill(store, 4 * BACKUP_EVERY + 10)
    found = backups_of(store.path)
    assert [int(p.stem.split("-")[-2]) for p in found] == [200, 150, 100]       # newest first, 3 kept
    assert len(DecisionStore(found[0]).in_force("news.csv")) == 200


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damage_is_moved_aside_and_the_backup_restored(losslens_home, capsys, damage):
    store = DecisionStore()
    fill(store, 2 * BACKUP_EVERY + 7)                 # backed up at 100; 7 later decisions
    path = store.path
    if damage == "truncate":
        path.write_bytes(b"")
        (path.parent / "decisions.sqlite-wal").unlink(missing_ok=True)
    else:
        raw = bytearray(path.read_bytes())
        raw[4096:12288] = b"\xde\xad\xbe\xef" * 2048   # pages 2 and 3
        raw[0:16] = b"not sqlite at al"
        path.write_bytes(bytes(raw))
    with pytest.raises(StoreError) as info:
        DecisionStore()
    message = str(info.value)
    assert "moved to" in message and "losslens decisions restore" in message and "\n" not in message
    moved = [p for p in path.parent.iterdir() if p.name.startswith("decisions.sqlite.damaged-") and "-wal" not in p.name]
    assert len(moved) == 1 and not path.exists()       # kept, not overwritten
    with pytest.raises(StoreError, match="was damaged and moved"):
        DecisionStore()                                  # still refused: nothing starts empty silently
    assert cli.main(["decisions", "restore"]) == 0
    assert "every decision up to #100" in capsys.readouterr().out
    restored = DecisionStore().in_force("news.csv")
    assert len(restored) == 100 and restored["example_id"].iloc[-1] == "e99"   # lost: 7 < BACKUP_EVERY


def test_restore_refuses_a_healthy_store_and_without_a_backup(losslens_home, capsys):
    store = DecisionStore()
    fill(store, 3)
    assert cli.main(["decisions", "restore"]) == 2
    assert "is healthy: nothing to restore" in capsys.readouterr().err
    store.path.write_bytes(b"")
    with pytest.raises(StoreError):
        DecisionStore()
    assert cli.main(["decisions", "restore"]) == 2
    assert "no backup of" in capsys.readouterr().err
    assert cli.main(["decisions", "restore", "--empty"]) == 0
    assert DecisionStore().in_force("news.csv").empty
