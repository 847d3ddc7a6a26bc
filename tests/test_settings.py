from __future__ import annotations

import pytest

from aft.exceptions import InvalidSetting, UnknownSetting
from aft.settings import SETTINGS


def test_defaults(instance):
    assert instance.settings.get("allow_cli_run") is False
    assert instance.settings.get("allow_exec") is False
    assert instance.settings.all() == {k: d.default for k, d in sorted(SETTINGS.items())}


@pytest.mark.parametrize(
    "text,value", [("true", True), ("YES", True), ("0", False), ("off", False)]
)
def test_bool_values_are_parsed(instance, text, value):
    assert instance.settings.set("allow_cli_run", text) is value
    assert instance.settings.get("allow_cli_run") is value


def test_unknown_key(instance):
    with pytest.raises(UnknownSetting, match="unknown setting 'nope'.*allow_cli_run"):
        instance.settings.get("nope")
    with pytest.raises(UnknownSetting):
        instance.settings.set("nope", "1")


def test_bad_value_changes_nothing(instance):
    instance.settings.set("allow_cli_run", True)
    with pytest.raises(InvalidSetting, match="true or false"):
        instance.settings.set("allow_cli_run", "maybe")
    assert instance.settings.get("allow_cli_run") is True


def test_reset(instance):
    instance.settings.set("allow_exec", "true")
    instance.settings.reset()
    assert instance.settings.get("allow_exec") is False
