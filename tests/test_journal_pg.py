"""The transfer journal's and retention's tests (those on the instance's own database) on
PostgreSQL."""

from __future__ import annotations

from tests.servers.cluster import (  # noqa: F401 (fixtures: "instance" is on PostgreSQL)
    cluster_urls,
    postgres_instance,
    postgres_server,
    redis_server,
)
from tests.test_journal import (  # noqa: F401
    test_a_file_that_fails_in_a_batch_is_recorded_failed_with_its_error,
    test_a_script_leaves_one_record_per_file_with_its_sha256,
    test_the_journal_writes_in_batches_and_pages_by_cursor_with_filters,
    test_transfer_records_are_chained_and_an_edit_or_a_deletion_is_named,
    test_with_the_journal_off_nothing_is_recorded_but_progress_is,
)
from tests.test_retention import (  # noqa: F401
    test_a_purge_deletes_what_is_too_old_and_both_chains_still_verify,
    test_audit_entries_go_only_when_asked_and_the_chains_go_on_after_a_full_purge,
)
