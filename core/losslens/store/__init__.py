"""Where decisions live: the database, its schema and migrations, history files, backups."""
