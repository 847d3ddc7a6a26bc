"""The runners of several aft nodes: Celery (Redis) carries "run job X" messages.

The embedded default (SQLite, in-process workers) needs none of this. A node joins a
cluster when its configuration names a database URL (the shared state, :mod:`aft._pgstore`)
and a broker URL: see :mod:`aft.config`. The cluster's job queue is
:class:`aft.jobs.ClusterQueue`.
"""
