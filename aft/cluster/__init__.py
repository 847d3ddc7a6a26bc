"""Several aft nodes on one PostgreSQL database and one Celery (Redis) broker.

The embedded default (SQLite, in-process workers) needs none of this. A node joins a
cluster when its configuration names a database URL (the shared state) and a broker URL
(the "run job X" messages): see :mod:`aft.cluster.config`.
"""
