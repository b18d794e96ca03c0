"""Issue 22, the store items: history files read back exactly, decisions that cannot be checked
against their text are never applied, imports are idempotent, linear and let other writers in,
NUL is refused, backups are checked before a restore, and a bad database URL is one line."""
from __future__ import annotations

import pandas as pd
import pytest

from losslens.store.decisions import DecisionStore
from losslens.store.history_files import NEUTRALISED, export_history, history_export, import_history


# --- item 1: a history export read back is the identical history --------------------------------

def _formula_history(store: DecisionStore) -> DecisionStore:
    """Cells a spreadsheet would run (neutralised in a CSV) next to cells that start with ' themselves."""
    store.record("sheet.csv", "-7", "1", "-1", "relabeled", "+bob", text_hash="h1", note="=see ticket")
    store.record("sheet.csv", "8", "'quoted", "@x", "relabeled", "", text_hash="h2", note="'=kept as written")
    store.record("sheet.csv", "9", "1", None, "ambiguous", "\tann", text_hash="h3", note="plain")
    store.undo_last("sheet.csv", "")                # the empty reviewer's: undone_by "" 
    return store


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_history_export_reads_back_as_the_identical_history(store_place, tmp_path, suffix):
    source = _formula_history(DecisionStore(store_place))
    original = history_export(source)
    path = tmp_path / f"h{suffix}"
    export_history(source, path)
    if suffix == ".csv":
        written = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert written["note"].tolist() == ["'=see ticket", "'=kept as written", "plain"]   # still safe to open
        assert written[NEUTRALISED].tolist() == ["id new_label reviewer note", "new_label", "reviewer"]
    counts = import_history(source, path)
    assert (counts.added, counts.already_there, counts.marked_undone) == (0, 3, 0)
    assert history_export(source).equals(original)
    fresh = DecisionStore(tmp_path / "fresh.sqlite")
    assert import_history(fresh, path).added == 3
    assert history_export(fresh).equals(original)
    assert fresh.in_force("sheet.csv")["new_label"].tolist() == ["-1", None]


# --- item 2: a decision without a text hash is never applied ------------------------------------

def test_a_decision_without_a_text_hash_is_stale_not_applied_by_id(store_place, tmp_path):
    from losslens.review.binding import bind_decisions
    from losslens.sources.datasets import ColumnMapping, DatasetSource, load_dataset

    history = tmp_path / "history.csv"      # exported from another machine's data.csv: no text hash
    pd.DataFrame({"dataset": ["data.csv"] * 2, "id": ["1", "2"], "original_label": ["neg", "pos"],
                  "new_label": ["pos", None], "status": ["relabeled", "removed"], "reviewer": ["ann", "ann"],
                  "decided_at": ["2026-01-02T10:00:00+00:00"] * 2, "text_hash": [None, None]}).to_csv(history, index=False)
    store = DecisionStore(store_place)
    assert import_history(store, history).added == 2
    other = tmp_path / "here" / "data.csv"   # a same-named file here: ids 1 and 2, the same given labels
    other.parent.mkdir()
    pd.DataFrame({"id": ["1", "2"], "text": ["an unrelated text", "another one"], "label": ["neg", "pos"]}).to_csv(
        other, index=False)
    data = load_dataset(DatasetSource.parse(str(other)), ColumnMapping(id="id"))
    bound = bind_decisions(data, store.in_force(data.name))
    assert bound.applied.empty
    assert bound.stale["reason"].tolist() == ["unchecked", "unchecked"]


# --- item 4: a file that decides one example twice, without times, imports once -----------------

def test_reimporting_a_file_with_a_repeated_id_and_no_times_adds_nothing(store_place, tmp_path):
    from losslens.sources.datasets import ColumnMapping, DatasetSource, load_dataset

    data_path = tmp_path / "news.csv"
    pd.DataFrame({"id": ["000", "001"], "text": ["one", "two"], "label": ["neg", "pos"]}).to_csv(data_path, index=False)
    data = load_dataset(DatasetSource.parse(str(data_path)), ColumnMapping(id="id"))
    decided = tmp_path / "decided.csv"
    decided.write_text("id,new_label\n000,neg\n000,pos\n001,neg\n")
    store = DecisionStore(store_place)
    assert import_history(store, decided, data).added == 3
    for _ in range(2):
        counts = import_history(store, decided, data)
        assert (counts.added, counts.already_there) == (0, 3)
    assert len(history_export(store)) == 3
    assert store.in_force(data.name)[["example_id", "status", "new_label"]].values.tolist() == [
        ["000", "relabeled", "pos"], ["001", "relabeled", "neg"]]
    store.record(data.name, "000", "neg", None, "ambiguous", "imported", text_hash=None)   # decided again since
    assert import_history(store, decided, data).added == 2       # the file's 000 rows apply again, in order


# --- items 14 and 15: backups checked before a restore; other files in backups/ ignored ----------

def _fill(store: DecisionStore, n: int) -> None:
    for i in range(n):
        store.record("news.csv", f"e{i}", "sport", "tech", "relabeled", "ann", text_hash=f"{i:016x}")


def test_restore_skips_a_damaged_backup_for_the_newest_good_one(losslens_home, capsys):
    from losslens import cli
    from losslens.store.backups import BACKUP_EVERY, backups_of

    store = DecisionStore()
    _fill(store, 2 * BACKUP_EVERY + 3)                    # backups at 50 and 100
    newest, older = backups_of(store.path)[:2]
    newest.write_bytes(b"\x00" * 100 + newest.read_bytes()[100:])   # its header garbled
    store.path.write_bytes(b"")
    assert cli.main(["decisions", "restore"]) == 0
    out = capsys.readouterr().out
    assert f"from {older.name}: every decision up to #50" in out and f"skipped 1 damaged newer backup(s): {newest.name}" in out
    assert len(DecisionStore().in_force("news.csv")) == 50
    DecisionStore().path.write_bytes(b"")
    for backup in backups_of(store.path):
        backup.write_bytes(b"garbage" * 100)
    assert cli.main(["decisions", "restore"]) == 2
    err = capsys.readouterr().err
    assert "every backup of" in err and "is damaged" in err and err.count("\n") == 1


def test_a_stray_file_in_backups_is_not_a_backup(losslens_home, capsys):
    from losslens import cli
    from losslens.store.backups import BACKUP_EVERY, backup_folder, backups_of

    store = DecisionStore()
    _fill(store, BACKUP_EVERY)
    folder = backup_folder(store.path)
    strays = [folder / "decisions-before-upgrade.sqlite", folder / "decisions-x-y.sqlite", folder / "decisions-.sqlite"]
    for stray in strays:
        stray.write_bytes(b"someone's copy")
    store = DecisionStore()                                # opened: no ValueError
    _fill(store, 3 * BACKUP_EVERY)                         # backups go on, three kept, strays untouched
    assert [int(p.name.split("-")[1]) for p in backups_of(store.path)] == [200, 150, 100]
    assert all(stray.read_bytes() == b"someone's copy" for stray in strays)
    store.path.write_bytes(b"")
    assert cli.main(["decisions", "restore"]) == 0
    assert "every decision up to #200" in capsys.readouterr().out


# --- item 16: a bad database URL or a role that cannot create tables is one line, no password ----

@pytest.mark.parametrize("url", ["postgresql://u:secretpw@h:notaport/db", "postgresql://u:secretpw@[::1/db",
                                 "postgresql://u:secretpw@[::1:5432/db"])
def test_a_database_url_that_does_not_parse_is_one_line(monkeypatch, capsys, url):
    from losslens import cli

    monkeypatch.setenv("LOSSLENS_DB_URL", url)
    assert cli.main(["decisions", "export", "h.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("losslens: error: LOSSLENS_DB_URL is not a database URL") and err.count("\n") == 1
    assert "secretpw" not in err


def test_a_role_without_create_on_public_is_one_line(postgres_server, monkeypatch, capsys, tmp_path):
    import psycopg

    from losslens import cli
    from postgres_server import fresh_database

    url = fresh_database(postgres_server, "t_no_create")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS weak")
        admin.execute("CREATE ROLE weak LOGIN PASSWORD 'secretpw'")
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    weak = url.replace("://", "://weak:secretpw@", 1) if "@" not in url else \
        url.split("://")[0] + "://weak:secretpw@" + url.split("@", 1)[1]
    monkeypatch.setenv("LOSSLENS_DB_URL", weak)
    assert cli.main(["decisions", "export", str(tmp_path / "h.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "permission denied for schema public" in err and "needs CREATE" in err
    assert "secretpw" not in err


# --- item 5: NUL never reaches the store ----------------------------------------------------------

@pytest.mark.parametrize("field", ["reviewer", "note", "new_label", "given", "example_id"])
def test_nul_in_any_text_of_a_decision_is_refused_in_one_line(store_place, field):
    from losslens.errors import StoreError
    from losslens.store.importing import ImportedDecision
    from losslens.store.records import ExampleRef

    values = {"reviewer": "ann", "note": "n", "new_label": "pos", "given": "neg", "example_id": "e1"}
    values[field] = values[field][:1] + "\x00" + values[field][1:]
    store = DecisionStore(store_place)
    example = ExampleRef(values["example_id"], "h", values["given"])
    writers = [
        lambda: store.record("d.csv", values["example_id"], values["given"], values["new_label"], "relabeled",
                             values["reviewer"], text_hash="h", note=values["note"]),
        lambda: store.record_group("d.csv", [ExampleRef("ok", "h", "neg"), example], values["new_label"],
                                   "relabeled", values["reviewer"], values["note"]),
        lambda: store.import_decisions([ImportedDecision("d.csv", ExampleRef("ok", "h", "neg"), "pos", "relabeled",
                                                         "ann", None),
                                        ImportedDecision("d.csv", example, values["new_label"], "relabeled",
                                                         values["reviewer"], None, note=values["note"])]),
    ]
    for write in writers:
        with pytest.raises(StoreError, match=r"holds a NUL character") as info:
            write()
        assert "\n" not in str(info.value) and len(str(info.value)) < 300
    assert history_export(store).empty                   # nothing written, not even the good rows


# --- item 10: an import is linear and lets other writers in --------------------------------------

def test_parsing_a_decision_file_looks_each_column_up_once(tmp_path, monkeypatch):
    from losslens.store import history_files

    calls = []
    real = history_files._column
    monkeypatch.setattr(history_files, "_column", lambda *args: calls.append(1) or real(*args))
    counts = []
    for n in (10, 2000):
        path = tmp_path / f"h{n}.csv"
        pd.DataFrame({"dataset": ["d.csv"] * n, "id": [str(i) for i in range(n)], "new_label": ["pos"] * n,
                      "text_hash": ["h"] * n}).to_csv(path, index=False)   # no reviewer, note, time, ... columns
        calls.clear()
        assert len(history_files.read_decisions(path)) == n
        counts.append(len(calls))
    assert counts[0] == counts[1] and counts[0] < 20


def test_another_writer_gets_through_while_a_large_import_runs(store_place, monkeypatch):
    import threading

    from losslens.store import engine, importing
    from losslens.store.importing import ImportedDecision
    from losslens.store.records import ExampleRef

    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 2000)    # a writer waits at most 2 s for the lock
    monkeypatch.setattr(importing, "IMPORT_BATCH_ROWS", 100)
    real_insert, started = importing.insert_decisions, threading.Event()

    def slow_insert(db, unsaved, **options):                # 5 ms a row: 1,000 rows hold a lock for 5 s
        started.set()
        import time
        time.sleep(0.005 * len(unsaved))
        return real_insert(db, unsaved, **options)

    monkeypatch.setattr(importing, "insert_decisions", slow_insert)
    store = DecisionStore(store_place)
    rows = [ImportedDecision("big.csv", ExampleRef(f"e{i}", "h", "neg"), "pos", "relabeled", "lead", None)
            for i in range(1000)]
    result = {}
    importer = threading.Thread(target=lambda: result.update(counts=store.import_decisions(rows)))
    importer.start()
    assert started.wait(30)
    reviewer = DecisionStore(store_place)
    decision = reviewer.record("news.csv", "a", "neg", "pos", "relabeled", "ann", text_hash="h")   # not "locked"
    importer.join(60)
    assert result["counts"].added == 1000
    assert decision.id > 0 and len(store.in_force("news.csv")) == 1
    assert len(history_export(store)) == 1001


# --- item 13: two tabs under one name each undo their own decision -----------------------------

def test_undo_in_one_tab_takes_back_that_tabs_decision_not_the_other_tabs(store_place):
    from losslens.review.binding import decide
    from losslens.sources.datasets import LabeledTexts
    import numpy as np

    data = LabeledTexts(ids=np.array(["a", "b"], dtype=object), texts=np.array(["one", "two"], dtype=object),
                        labels=np.array([0, 1]), label_names=("neg", "pos"), name="d.csv", fingerprint="", frame=None)
    store = DecisionStore(store_place)
    decide(store, data, [0], "relabeled", "pos", "ann", session="tab-A")
    decide(store, data, [1], "ambiguous", None, "ann", session="tab-B")
    decide(store, data, [0, 1], "removed", None, "ann", session="tab-A")      # a group, in tab A
    undone = store.undo_last("d.csv", "ann", session="tab-B")
    assert [(d.example_id, d.status) for d in undone] == [("b", "ambiguous")]
    assert [(d.example_id, d.session) for d in store.undo_last("d.csv", "ann", session="tab-A")] == [
        ("a", "tab-A"), ("b", "tab-A")]
    assert [d.example_id for d in store.undo_last("d.csv", "ann", session="tab-A")] == ["a"]
    assert store.undo_last("d.csv", "ann", session="tab-A") == [] and store.in_force("d.csv").empty


# --- item 11 (the lease rule): with R = 1, a lapsed lease's late decision is not a second review ---

def test_a_reviewer_whose_lease_lapsed_no_longer_holds_the_example(store_place):
    from losslens.review.shared_queue import holds_lease, start_shared_queue, take_next

    store = DecisionStore(store_place)
    queue = start_shared_queue(store, "news.csv", "fp", ["e1", "e2"], 1, "lead")
    assert take_next(store, queue, "ann", now=1000, lease_seconds=300) == "e1"
    assert holds_lease(store, queue, "ann", "e1", now=1299)
    assert not holds_lease(store, queue, "ann", "e1", now=1301)          # lapsed: ann must not decide it now
    assert take_next(store, queue, "bob", now=1301) == "e1"              # it is bob's now
    assert holds_lease(store, queue, "bob", "e1", now=1302) and not holds_lease(store, queue, "bob", "e2", now=1302)
    assert not holds_lease(store, queue, "ann", "e1", now=1302)
