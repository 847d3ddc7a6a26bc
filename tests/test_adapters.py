"""The adapter modules that hold every use of a dependency's private internals.

Each adapter lists the private names it touches (``PRIVATE_NAMES``); these tests fail,
naming the name and the adapter, when the installed dependency no longer has one. They
also check that nothing is patched process-wide: another user of paramiko or urllib3 in
the same process sees the library as it ships.
"""

from __future__ import annotations

import hmac
import importlib
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import paramiko
import paramiko.util
import pytest
import urllib3
from paramiko.buffered_pipe import BufferedPipe

from aft.executor import Executor
from aft.syncjs import _dukpy_adapter, _urllib3_adapter
from aft.vfs import _paramiko_adapter, open_vfs
from aft.vfs.sftp import SftpVfs
from tests.script_helpers import js
from tests.servers.http import HttpServer
from tests.servers.sshd import SshdServer

REPO = Path(__file__).resolve().parent.parent

#: adapter module -> the distribution whose internals it uses
ADAPTERS: dict[ModuleType, str] = {
    _paramiko_adapter: "paramiko",
    _urllib3_adapter: "urllib3",
    _dukpy_adapter: "dukpy",
}

#: How the dukpy adapter names the native module it loads (never imported as such here:
#: importing the dukpy package would load its extension a second time).
NATIVE = "dukpy._dukpy"


def resolve(dotted: str) -> Any:
    """The module, class or function a dotted path names."""
    if dotted == NATIVE or dotted.startswith(NATIVE + "."):
        found: Any = _dukpy_adapter.native
        rest = dotted[len(NATIVE) :].lstrip(".")
        return _walk(found, rest.split(".") if rest else [])
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        return _walk(module, parts[cut:])
    raise ImportError(dotted)


def _walk(found: Any, attributes: list[str]) -> Any:
    for attribute in attributes:
        found = getattr(found, attribute)
    return found


def _names_in_code(function: Any) -> set[str]:
    return set(getattr(function, "__func__", function).__code__.co_names)


def _present(owner: Any, name: str, kind: str) -> bool:
    if kind == "instance attribute":
        return name in _names_in_code(owner.__init__)
    if kind == "callback":  # a name the owner looks up on an object aft gives it
        return True  # checked through used_by
    if not hasattr(owner, name):
        return False
    value = getattr(owner, name)
    if kind == "callable":
        return callable(value)
    if kind == "class":
        return isinstance(value, type)
    return kind == "attribute"


def _still_used(used_by: str, name: str) -> bool:
    if used_by == NATIVE:
        return name.encode() in Path(_dukpy_adapter.native.__file__ or "").read_bytes()
    return name in _names_in_code(resolve(used_by))


ENTRIES = [
    pytest.param(
        adapter, entry, id=f"{adapter.__name__.rsplit('.', 1)[1]}:{entry.owner}.{entry.name}"
    )
    for adapter in ADAPTERS
    for entry in adapter.PRIVATE_NAMES
]


@pytest.mark.parametrize("adapter,entry", ENTRIES)
def test_every_private_name_an_adapter_lists_exists(adapter: ModuleType, entry: Any) -> None:
    distribution = ADAPTERS[adapter]
    installed = f"{distribution} {importlib.metadata.version(distribution)}"
    where = f"{entry.owner}.{entry.name} ({entry.kind}), listed by {adapter.__name__}"
    try:
        owner = resolve(entry.owner)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{where}: {entry.owner} is gone from {installed} ({exc})")
    assert _present(owner, entry.name, entry.kind), f"{where}: missing from {installed}"
    if entry.used_by:
        assert _still_used(entry.used_by, entry.name), (
            f"{where}: {entry.used_by} no longer uses it in {installed}"
        )


@pytest.mark.parametrize("adapter", list(ADAPTERS), ids=lambda a: a.__name__)
def test_each_adapter_documents_every_name_it_lists(adapter: ModuleType) -> None:
    doc = adapter.__doc__ or ""
    assert adapter.PRIVATE_NAMES
    missing = [e.name for e in adapter.PRIVATE_NAMES if e.name not in doc]
    assert not missing, f"{adapter.__name__}'s docstring does not mention {missing}"


# ---- paramiko ---------------------------------------------------------------------------


def test_the_chunk_pipe_replaces_every_method_that_uses_paramikos_array() -> None:
    """A new BufferedPipe method reading its array would see nothing: it must fail here."""
    array_names = {"_buffer", "_buffer_frombytes", "_buffer_tobytes"}
    own = vars(_paramiko_adapter.ChunkPipe)
    stale = [
        name
        for name, member in vars(BufferedPipe).items()
        if isinstance(member, FunctionType)
        and name not in array_names | {"__init__"}
        and array_names & _names_in_code(member)
        and name not in own
    ]
    assert not stale, f"aft.vfs._paramiko_adapter.ChunkPipe must override {stale}"


def test_the_fast_packetizer_runs_paramikos_own_code() -> None:
    fast = _paramiko_adapter.FastPacketizer._read_message
    assert fast.__code__ is paramiko.Packetizer.read_message.__code__
    assert fast.__globals__["util"].constant_time_bytes_eq is hmac.compare_digest
    assert fast.__globals__["util"].format_binary is paramiko.util.format_binary
    assert paramiko.util.constant_time_bytes_eq is not hmac.compare_digest


def _pairs(*strings: bytes) -> bytes:
    return b"".join(len(s).to_bytes(4, "big") + s for s in strings)


def test_the_extension_names_of_a_version_packet_are_kept(sshd_server: SshdServer) -> None:
    names = _paramiko_adapter._extension_names
    assert names(_pairs(b"posix-rename@openssh.com", b"1", b"limits@openssh.com", b"1")) == {
        b"posix-rename@openssh.com",
        b"limits@openssh.com",
    }
    assert names(b"") == frozenset()
    whole = _pairs(b"a", b"1", b"b", b"22")
    for cut in range(1, 9):  # a pair cut short ends the list there
        assert names(whole[: len(whole) - cut]) == {b"a"}
    vfs = open_vfs(
        "SFTP", sshd_server.target(sshd_server.new_dir()), {"pass": sshd_server.password}
    )
    try:
        vfs.connect()
        assert isinstance(vfs, SftpVfs)
        session = vfs._client()
        assert _paramiko_adapter.offers(session, _paramiko_adapter.POSIX_RENAME)
        assert not _paramiko_adapter.offers(session, "no-such-extension@example.com")
    finally:
        vfs.close()


def test_aft_sftp_changes_nothing_in_paramiko_for_other_users(sshd_server: SshdServer) -> None:
    """In a fresh process: paramiko's objects are the same before and after aft's transfers."""
    folder = sshd_server.new_dir()
    script = textwrap.dedent(
        """
        import sys
        import paramiko, paramiko.packet, paramiko.util
        def snapshot():
            return (
                paramiko.util.constant_time_bytes_eq,
                paramiko.packet.util,
                paramiko.Packetizer.read_message,
                paramiko.SFTPClient._read_all,
                type(paramiko.Channel(0).in_buffer),
                dict(vars(paramiko.util)),
            )
        before = snapshot()
        from aft.vfs import open_vfs
        from aft.vfs._paramiko_adapter import FastPacketizer
        with open_vfs("SFTP", sys.argv[1], {"pass": sys.argv[2]}) as vfs:
            with vfs.open_write("/f") as out:
                out.write(b"x" * 3_000_000)
            with vfs.open_read("/f") as back:
                assert back.read() == b"x" * 3_000_000
            packetizer = type(vfs._transport.packetizer)
        assert snapshot() == before, "aft changed paramiko for the whole process"
        assert packetizer is FastPacketizer, packetizer
        print("unchanged")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, sshd_server.target(folder), sshd_server.password],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "unchanged", done.stderr


def test_another_paramiko_transport_still_uses_paramikos_mac_check(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[bytes] = []
    original = paramiko.util.constant_time_bytes_eq

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return bool(original(a, b))

    monkeypatch.setattr(paramiko.util, "constant_time_bytes_eq", spy)
    vfs = open_vfs(
        "SFTP", sshd_server.target(sshd_server.new_dir()), {"pass": sshd_server.password}
    )
    assert isinstance(vfs, SftpVfs)
    with vfs:
        with vfs.open_write("/f") as out:
            out.write(b"y" * 1_000_000)
        with vfs.open_read("/f") as back:
            assert back.read() == b"y" * 1_000_000
    assert compared == []  # aft's connection checks its MACs with its own comparison

    other = paramiko.Transport((sshd_server.host, sshd_server.port))
    try:
        other.connect(username=sshd_server.user, password=sshd_server.password)
        client = paramiko.SFTPClient.from_transport(other)
        assert client is not None
        client.listdir(".")
        assert type(other.packetizer) is paramiko.Packetizer
    finally:
        other.close()
    assert compared  # ...and any other transport still goes through paramiko.util


# ---- urllib3 ----------------------------------------------------------------------------


def test_urllib3s_validate_conn_is_what_the_quiet_pool_copies() -> None:
    from urllib3.connectionpool import HTTPSConnectionPool

    names = _names_in_code(HTTPSConnectionPool._validate_conn)
    assert names == _urllib3_adapter.VALIDATE_CONN_NAMES, (
        "urllib3's HTTPSConnectionPool._validate_conn changed: check "
        "aft.syncjs._urllib3_adapter._QuietHttpsPool against it, then update VALIDATE_CONN_NAMES "
        f"(it now uses {sorted(names)})"
    )


def _insecure_warnings(caught: pytest.WarningsRecorder) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, urllib3.exceptions.InsecureRequestWarning)]


def test_an_insecure_http_cli_request_leaves_the_warning_filters_alone(
    instance: Any, https_server: HttpServer, recwarn: pytest.WarningsRecorder
) -> None:
    filters = list(warnings.filters)
    url = js(https_server.url + "/secure")
    result = Executor(secrets=instance.secrets, mail=instance.settings).run(
        f"""
        var r = new HttpCli().Url({url}).InsecureSkipVerify(true).Get();
        Log("got " + r.IsValid() + " " + r.StatusCode());
        """
    )
    assert result.ok and "got true 200" in [line.text for line in result.log]
    assert warnings.filters == filters
    assert _insecure_warnings(recwarn) == []  # the script asked for it: no warning

    with urllib3.PoolManager(cert_reqs="CERT_NONE") as plain:  # any other urllib3 user
        assert plain.request("GET", https_server.url + "/plain", retries=False).status == 200
    assert len(_insecure_warnings(recwarn)) == 1  # ...is still warned


def test_the_pool_manager_hands_over_sockets_and_verifies_unless_told(
    https_server: HttpServer, recwarn: pytest.WarningsRecorder
) -> None:
    seen: list[Any] = []
    lax = _urllib3_adapter.pool_manager(seen.append, verify=False)
    try:
        assert lax.request("GET", https_server.url + "/a", retries=False).status == 200
    finally:
        lax.clear()
    assert len(seen) == 1 and _insecure_warnings(recwarn) == []

    strict = _urllib3_adapter.pool_manager(seen.append, verify=True)
    try:
        with pytest.raises(urllib3.exceptions.SSLError, match="certificate verify failed"):
            strict.request("GET", https_server.url + "/b", retries=False)
    finally:
        strict.clear()
    assert len(seen) == 2


# ---- dukpy ------------------------------------------------------------------------------


def test_the_native_context_calls_back_into_python() -> None:
    class Context(_dukpy_adapter.NativeContext):
        def has_function(self, name: str) -> bool:
            return name == "twice"

        def call_function(self, name: str, args: bytes) -> bytes:
            return json.dumps(json.loads(args) * 2).encode()

    context = Context()
    answer = context.eval_script(b"call_python('twice', 21)", b"{}", "<test>")
    assert answer is not None and json.loads(answer) == [21, 21]
    with pytest.raises(_dukpy_adapter.JSRuntimeError, match="No Python Function named nope"):
        context.eval_script(b"call_python('nope')", b"{}", "<test>")


# ---- Fire (aft/_fire_adapter.py) ----------------------------------------------------------


def test_fire_still_has_the_names_the_cli_adapter_sets():
    import fire

    from aft import _fire_adapter

    assert _fire_adapter.PRIVATE_NAMES == ("fire.decorators.FIRE_METADATA",)
    assert isinstance(getattr(fire.decorators, "FIRE_METADATA", None), str), (
        f"fire {getattr(fire, '__version__', '?')} no longer has decorators.FIRE_METADATA,"
        " which aft/_fire_adapter.py sets"
    )
    assert callable(fire.decorators.SetParseFn) and callable(fire.decorators.GetMetadata)


def test_fire_argv_is_prepared_for_stdin_and_repeated_allows():
    from aft._fire_adapter import prepare_argv

    assert prepare_argv(["vfs", "add", "x", "--payload-file", "-"]) == [
        "vfs",
        "add",
        "x",
        "--payload-file=-",
    ]
    assert prepare_argv(["apikeys", "create", "--allow", "a", "--allow=b", "--name", "n"]) == [
        "apikeys",
        "create",
        "--name",
        "n",
        "--allow",
        "a,b",
    ]


def test_arguments_reach_commands_as_typed_text(run_aft):
    done = run_aft("scripts", "show", "007")
    assert "no script named '007'" in done.stderr  # not 7: no literal evaluation


def test_paramiko_comes_without_invoke_and_invoke_stays_importable() -> None:
    script = (
        "import sys; import aft.vfs.sftp; print('invoke' in sys.modules);"
        " import invoke; print(invoke.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["False", "invoke"], done.stderr
