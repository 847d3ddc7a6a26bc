"""The stores on PostgreSQL: the SQLite suites of jobs, scripts, keys, secrets, settings,
the VFS Library and accounts, run again on a PostgresStore (a real server per session)."""

from __future__ import annotations

import threading

import pytest

from aft.cluster.pgstore import MIGRATIONS, PostgresStore, translate
from aft.instance import Instance
from tests.servers.cluster import cluster_urls, postgres_server, redis_server  # noqa: F401
from tests.test_accounts import *  # noqa: F403
from tests.test_jobs import *  # noqa: F403
from tests.test_keys import *  # noqa: F403
from tests.test_schedules import *  # noqa: F403
from tests.test_scripts_store import *  # noqa: F403
from tests.test_secrets import *  # noqa: F403
from tests.test_settings import *  # noqa: F403
from tests.test_vfs_library import *  # noqa: F403


@pytest.fixture
def instance(aft_home, cluster_urls, monkeypatch):  # noqa: F811
    """An instance whose database is a fresh PostgreSQL database (no broker)."""
    monkeypatch.setenv("AFT_DATABASE_URL", cluster_urls.database_url)
    with Instance(aft_home) as inst:
        assert isinstance(inst.store, PostgresStore)
        yield inst


def test_translate_placeholders_percent_and_nocase():
    assert translate("SELECT ? WHERE a = ? COLLATE NOCASE") == "SELECT %s WHERE a = %s"
    assert translate("SELECT '?%' || ? LIKE '5%'") == "SELECT '?%%' || %s LIKE '5%%'"
    assert translate("SELECT 'it''s ?' , ?") == "SELECT 'it''s ?' , %s"


def test_migrations_are_applied_once_by_concurrent_openers(cluster_urls):  # noqa: F811
    errors: list[BaseException] = []

    def open_it():
        try:
            PostgresStore(cluster_urls.database_url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with PostgresStore(cluster_urls.database_url) as store:
        assert store.query("SELECT version FROM aft_schema") == [(len(MIGRATIONS),)]


def test_case_insensitive_names_hold_on_postgres(instance):
    from aft.exceptions import ScriptExists
    from aft.scripts_store import ScriptStore

    scripts = ScriptStore(instance.store)
    scripts.add("Nightly", "Log(1)")
    with pytest.raises(ScriptExists):
        scripts.add("NIGHTLY", "Log(2)")
    assert scripts.get("nightly").name == "Nightly"
