"""Moving a single node's SQLite database into PostgreSQL, to grow it into a cluster.

:func:`copy_to_postgres` copies every row of every table (the two schemas have the same
tables and columns; the cluster-only columns keep their defaults) into a PostgreSQL
database that holds no data yet, in one transaction: it is all there or none of it is.
Jobs still marked running (the service is stopped, so they are not) end ``interrupted``
first, as a restart of the service would end them, so their retries are queued.
The SQLite file is only read apart from that, and stays as a backup.
"""

from __future__ import annotations

from aft._pgstore import PostgresStore
from aft._store import Store
from aft.exceptions import ConfigError
from aft.jobs import JobQueue

#: Rows read and written at a time: a large job log never sits in memory whole.
BATCH = 5000


def copy_to_postgres(source: Store, target: PostgresStore) -> dict[str, int]:
    """Copy the instance database ``source`` into the empty PostgreSQL ``target``.

    Returns:
        Table name -> rows copied.
    Raises:
        ConfigError: when ``target`` holds data already, or lacks one of the tables.
    """
    tables = [
        name
        for (name,) in source.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    copied: dict[str, int] = {}
    with target.transaction() as db:
        known = {
            name
            for (name,) in db.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            ).fetchall()
        }
        for table in tables:
            if table not in known:
                raise ConfigError(f"the PostgreSQL database has no table {table}: upgrade aft")
            if db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                raise ConfigError(
                    f"the PostgreSQL database holds data already (table {table}):"
                    " copy into an empty database"
                )
        # Only now that the copy will happen: as a restart of the service would.
        JobQueue(source).recover("the instance moved to PostgreSQL while the job ran")
        for table in tables:
            names = [row[1] for row in source.query(f"PRAGMA table_info({table})")]
            columns, marks = ", ".join(names), ", ".join("?" * len(names))
            insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            copied[table] = 0
            with source.transaction() as reader:  # a steady snapshot, read in batches
                rows = reader.execute(f"SELECT {columns} FROM {table}")
                while batch := rows.fetchmany(BATCH):
                    db.executemany(insert, batch)
                    copied[table] += len(batch)
        # New jobs number on from the copied ones.
        db.execute(
            "SELECT setval(pg_get_serial_sequence('jobs', 'seq'), COALESCE(MAX(seq), 0) + 1,"
            " false) FROM jobs"
        )
    return copied
