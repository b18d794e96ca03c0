"""`losslens decisions export | import | restore`: the decision store's history to and from files,
and a damaged SQLite store brought back from its backup."""
from __future__ import annotations

import argparse

from losslens.cli.arguments import columns_from_args
from losslens.errors import StoreError
from losslens.writers import check_export_path
from losslens.sources.datasets import DatasetSource, load_dataset


def decisions_command(args: argparse.Namespace) -> int:
    """`losslens decisions restore [--empty] | export OUT | import FILE [--data DATASET]`, on the
    store of LOSSLENS_DB_URL (else the SQLite file in LOSSLENS_HOME)."""
    from losslens.store import history_files
    from losslens.store.backups import restore
    from losslens.store.decisions import DecisionStore
    from losslens.store.engine import store_location

    if args.action == "export":
        check_export_path(args.out, folder_ok=False)
        rows = history_files.export_history(DecisionStore(), args.out, args.dataset, raw=args.raw)
        print(f"rows={rows} out={args.out}")
        return 0
    if args.action == "import":
        data = None
        if args.dataset is not None:
            data = load_dataset(DatasetSource.parse(args.dataset, split=args.split), columns_from_args(args),
                                drop_empty=args.drop_empty, name=args.name)
        decisions = history_files.read_decisions(args.file, data, args.reviewer)
        counts = DecisionStore().import_decisions(decisions)
        print(f"rows={len(decisions)} added={counts.added} already_there={counts.already_there} "
              f"marked_undone={counts.marked_undone}")
        return 0
    _, path = store_location(None)
    if path is None:
        raise StoreError("LOSSLENS_DB_URL names a database server: restore it from that server's backups (pg_dump); "
                         "`losslens decisions restore` restores the SQLite file")
    print(restore(path, empty=args.empty))
    return 0
