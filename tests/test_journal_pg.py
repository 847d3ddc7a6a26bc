"""The transfer journal's tests (those on the instance's own database) on PostgreSQL."""

from __future__ import annotations

import pytest

from aft._pgstore import PostgresStore
from aft.instance import Instance
from tests.servers.cluster import cluster_urls, postgres_server, redis_server  # noqa: F401
from tests.test_journal import (  # noqa: F401
    test_a_file_that_fails_in_a_batch_is_recorded_failed_with_its_error,
    test_a_script_leaves_one_record_per_file_with_its_sha256,
    test_the_journal_writes_in_batches_and_pages_by_cursor_with_filters,
    test_with_the_journal_off_nothing_is_recorded_but_progress_is,
)


@pytest.fixture
def instance(aft_home, cluster_urls, monkeypatch):  # noqa: F811
    """An instance whose database is a fresh PostgreSQL database (no broker)."""
    monkeypatch.setenv("AFT_DATABASE_URL", cluster_urls.database_url)
    with Instance(aft_home) as inst:
        assert isinstance(inst.store, PostgresStore)
        yield inst
