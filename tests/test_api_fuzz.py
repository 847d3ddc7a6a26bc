"""Fuzz the REST API from its own OpenAPI document: no 5xx, no answer that breaks it."""

from __future__ import annotations

import pytest
import schemathesis
import urllib3  # noqa: F401 - named in a warning filter
from hypothesis import HealthCheck, settings

from aft.server.openapi import openapi_document
from tests.service_helpers import ServeProcess
from tests.test_service import prepare

# Connection tests and host-key reads would reach whatever address the fuzzer makes up.
schema = schemathesis.openapi.from_dict(openapi_document()).exclude(
    path_regex=r"^/v1/vfs/(test|hostkey|\{name\}/test)$"
)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz") / "home"
    keys = prepare(home, failed_key_attempts=1000000)  # its auth checks send wrong keys
    proc = ServeProcess(home).start()
    yield proc, keys["admin"]
    proc.stop()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_api_conforms_to_its_document(case, fuzz_target):
    proc, admin_key = fuzz_target
    # Every answer must be documented, conform to its schema and not be a 5xx. Left out:
    # "schema-valid request rejected" (names must also be printable, CIDRs real: a 400 is
    # right) and "schema-violating request accepted" (every case carries the admin key,
    # which that check counts as a violation when it meant to drop it).
    case.call_and_validate(
        base_url=proc.url,
        headers={"X-API-Key": admin_key},
        verify=False,
        excluded_checks=[
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection,
        ],
    )
