"""ScriptStore: stored scripts by id and case-insensitive name, with a retry policy."""

from __future__ import annotations

import re

import attrs
import pytest

from aft.exceptions import AftError, ScriptError, ScriptExists, ScriptNotFound
from aft.instance import Instance
from aft.scripts_store import ScriptStore


@pytest.fixture
def scripts(instance):
    return ScriptStore(instance.store)


def test_add_get_update_remove(scripts):
    s = scripts.add("My Backup Job", "Log(1)", retries=2, retry_backoff=5)
    assert re.fullmatch(r"scr_[0-9a-f]{12}", s.id)
    assert s.retries == 2 and s.retry_backoff == 5.0 and isinstance(s.retry_backoff, float)
    assert s.created == s.updated
    assert scripts.get("my backup job") == scripts.get(s.id) == s
    changed = scripts.update("MY BACKUP JOB", source="Log(2)", name="Backup")
    assert changed.id == s.id and changed.source == "Log(2)" and changed.name == "Backup"
    assert changed.retries == 2 and changed.created == s.created and changed.updated >= s.updated
    assert [x.name for x in scripts.list()] == ["Backup"]
    assert scripts.remove("backup") == changed
    with pytest.raises(ScriptNotFound):
        scripts.get(s.id)
    assert scripts.list() == []


def test_defaults_and_persistence(aft_home):
    with Instance(aft_home) as inst:
        made = ScriptStore(inst.store).add("nightly", "Log('ü ✓')\n")
    assert made.retries == 0 and made.retry_backoff == 30.0
    with Instance(aft_home) as inst:
        assert ScriptStore(inst.store).get("NIGHTLY") == made


def test_names_are_unique_in_any_case(scripts):
    scripts.add("Nightly", "x")
    other = scripts.add("Other", "y")
    with pytest.raises(ScriptExists) as err:
        scripts.add("NIGHTLY", "z")
    assert isinstance(err.value, FileExistsError) and err.value.code == "script_exists"
    with pytest.raises(ScriptExists):
        scripts.update(other.id, name="nightly")
    assert scripts.get("other").name == "Other" and scripts.get("nightly").source == "x"


def test_a_script_may_change_the_case_of_its_own_name(scripts):
    s = scripts.add("nightly", "x")
    assert scripts.update("NIGHTLY", name="Nightly").name == "Nightly"
    assert scripts.get(s.id).name == "Nightly"


def test_list_is_sorted_by_name_in_any_case(scripts):
    for name in ("beta", "Alpha", "gamma", "Delta"):
        scripts.add(name, "x")
    assert [s.name for s in scripts.list()] == ["Alpha", "beta", "Delta", "gamma"]


def test_an_id_wins_over_a_name_that_looks_like_it(scripts):
    target = scripts.add("target", "one")
    scripts.add(target.id, "two")
    assert scripts.get(target.id).name == "target"
    assert scripts.update(target.id, source="changed").name == "target"
    assert scripts.remove(target.id).name == "target"
    assert scripts.get(target.id).source == "two"  # now only the name matches


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "source": "x"},
        {"name": "   ", "source": "x"},
        {"name": "a\nb", "source": "x"},
        {"name": "a\tb", "source": "x"},
        {"name": "a\x00b", "source": "x"},
        {"name": "x" * 201, "source": "x"},
        {"name": 7, "source": "x"},
        {"name": "ok", "source": 3},
        {"name": "ok", "source": b"Log(1)"},
        {"name": "ok", "source": None},
        {"name": None, "source": "x"},
        {"name": "ok", "source": "Log('\udc80')"},
    ],
)
def test_bad_names_and_sources_are_refused(scripts, kwargs):
    with pytest.raises(ScriptError):
        scripts.add(**kwargs)
    assert scripts.list() == []


def test_longest_name(scripts):
    assert scripts.add("x" * 200, "").name == "x" * 200


@pytest.mark.parametrize(
    "policy",
    [
        {"retries": -1},
        {"retries": 101},
        {"retries": True},
        {"retries": 1.5},
        {"retries": "2"},
        {"retries": None},
        {"retry_backoff": -2},
        {"retry_backoff": -0.001},
        {"retry_backoff": 86401},
        {"retry_backoff": float("nan")},
        {"retry_backoff": float("inf")},
        {"retry_backoff": True},
        {"retry_backoff": "30"},
        {"retry_backoff": None},
    ],
)
def test_bad_retry_policies_are_refused(scripts, policy):
    with pytest.raises(ScriptError) as err:
        scripts.add("ok", "x", **policy)
    assert not isinstance(err.value, ScriptNotFound)
    assert scripts.list() == []
    if None in policy.values():
        return  # for an update None means "keep"
    kept = scripts.add("kept", "x", retries=1, retry_backoff=2)
    with pytest.raises(ScriptError):
        scripts.update("kept", source="changed", **policy)
    assert scripts.get("kept") == kept  # a refused update changes nothing


@pytest.mark.parametrize(
    "retries,backoff", [(0, 0), (0, 0.0), (100, 86400), (3, 0.25)]
)  # fmt: skip
def test_good_retry_policies(scripts, retries, backoff):
    s = scripts.add("ok", "x", retries=retries, retry_backoff=backoff)
    assert (s.retries, s.retry_backoff) == (retries, float(backoff))


def test_update_changes_only_what_is_given(scripts):
    s = scripts.add("job", "Log(1)", retries=4, retry_backoff=9)
    assert scripts.update("job", retries=0) == attrs.evolve(
        s, retries=0, updated=scripts.get("job").updated
    )
    after = scripts.update("job", retry_backoff=1.5)
    assert (after.source, after.retries, after.retry_backoff) == ("Log(1)", 0, 1.5)


def test_missing(scripts):
    for call in (scripts.get, scripts.remove, lambda n: scripts.update(n, source="x")):
        with pytest.raises(ScriptNotFound) as err:
            call("ghost")
        assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, AftError)


def test_records_are_frozen(scripts):
    s = scripts.add("job", "x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.source = "y"  # type: ignore[misc]
