"""ScriptStore: stored scripts by id and case-insensitive name."""

from __future__ import annotations

import pytest

from aft.exceptions import ScriptError, ScriptExists, ScriptNotFound
from aft.scripts_store import ScriptStore


@pytest.fixture
def scripts(instance):
    return ScriptStore(instance.store)


def test_add_get_update_remove(scripts):
    s = scripts.add("My Backup Job", "Log(1)", retries=2, retry_backoff=5)
    assert s.id.startswith("scr_") and s.retries == 2 and s.retry_backoff == 5.0
    assert scripts.get("my backup job") == scripts.get(s.id) == s
    changed = scripts.update("MY BACKUP JOB", source="Log(2)", name="Backup")
    assert changed.id == s.id and changed.source == "Log(2)" and changed.name == "Backup"
    assert changed.retries == 2
    assert [x.name for x in scripts.list()] == ["Backup"]
    scripts.remove("backup")
    with pytest.raises(ScriptNotFound):
        scripts.get(s.id)


def test_names_are_unique_in_any_case(scripts):
    scripts.add("Nightly", "x")
    other = scripts.add("Other", "y")
    with pytest.raises(ScriptExists):
        scripts.add("NIGHTLY", "z")
    with pytest.raises(ScriptExists):
        scripts.update(other.id, name="nightly")
    assert scripts.get("other").name == "Other"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "source": "x"},
        {"name": "a\nb", "source": "x"},
        {"name": "x" * 201, "source": "x"},
        {"name": "ok", "source": 3},
        {"name": "ok", "source": "x", "retries": -1},
        {"name": "ok", "source": "x", "retries": True},
        {"name": "ok", "source": "x", "retry_backoff": -2},
    ],
)
def test_bad_scripts_are_refused(scripts, kwargs):
    with pytest.raises(ScriptError):
        scripts.add(**kwargs)
    assert scripts.list() == []


def test_missing(scripts):
    for call in (scripts.get, scripts.remove, lambda n: scripts.update(n, source="x")):
        with pytest.raises(ScriptNotFound):
            call("ghost")
