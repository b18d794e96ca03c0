"""Where decisions live: `engine` (where the database is, connections), `schema` (its tables),
`migrations`, `records` (one decision and the checks on it), `in_force` (which decisions stand),
`decisions` (DecisionStore), `importing`, `history_files`, `backups`."""
