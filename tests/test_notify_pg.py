"""Notification rules and their delivery on PostgreSQL: the library-level tests of
tests/test_notify.py run again on a PostgresStore (a real server per session)."""

from __future__ import annotations

from tests.servers.cluster import (  # noqa: F401 (fixtures: "instance" is on PostgreSQL)
    cluster_urls,
    postgres_instance,
    postgres_server,
    redis_server,
)
from tests.test_notify import (  # noqa: F401 (the tests and their fixture, run again here)
    test_a_failed_delivery_is_one_masked_line_and_never_raises,
    test_a_failed_job_is_mailed_and_posted_with_the_secret_headers,
    test_a_long_run_is_reported_once_while_it_runs,
    test_a_script_rule_is_found_in_any_case,
    test_rules_aft_cannot_honour_are_refused_and_change_nothing,
    test_rules_are_stored_listed_audited_and_removed,
    test_success_and_schedule_rules,
    world,
)
