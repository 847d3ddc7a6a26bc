"""The remote clients (SftpClient, FtpsClient, S3Client, AzureClient, GCSClient; see vfs.js).

A client is a ``Vfs`` opened from its connection fields, rebuilt into the VFS Library's
``(type, target, payload)`` form; its transfers copy between that ``Vfs`` and a Disk VFS
rooted at the local ``/`` (see :mod:`aft.syncjs.transfer_policy`). All clients share one
method set, declared once on ``Client``; messages name the script's own class.

Connection fields and ``client.Options`` are plain properties of the JS object: the runtime
sends them with each call (the receiver's ``state``), and Python reads them when it needs
them (the fields at ``Connect()``, the options at each transfer).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from aft.exceptions import VfsError, VfsIsADirectory, VfsNotADirectory, VfsPathError
from aft.syncjs.declarations import BadArgument, ScriptRecord, host_function
from aft.syncjs.engine import HostTypeError
from aft.syncjs.host import io_call
from aft.syncjs.transfer_policy import Batch, TransferOptions, TransferPolicy, lookup
from aft.syncjs.vfs_handles import Handle, item, json_object

if TYPE_CHECKING:
    from aft.models import FileInfo
    from aft.syncjs.transfer_policy import Operation
    from aft.syncjs.vfs_host import VfsHost

LIST_ALL, LIST_FILES, LIST_DIRS = 0, 1, 2
#: The script constants of this module.
CONSTANTS: dict[str, Any] = {
    "LIST_ALL": LIST_ALL,
    "LIST_FILES": LIST_FILES,
    "LIST_DIRS": LIST_DIRS,
    "TLS_MODE_NONE": "none",
    "TLS_MODE_EXPLICIT": "explicit",
    "TLS_MODE_IMPLICIT": "implicit",
}


class SftpFields(ScriptRecord):
    """SftpClient's connection fields and their defaults."""

    Host: str = ""
    User: str = ""
    Pass: str = ""
    PassFromSecret: str = ""
    KeyFile: str = ""
    KeyFilePass: str = ""
    KeyFileSecret: str = ""
    HostID: str = ""
    HostKeySHA256: str = ""
    HostKeySHA1: str = ""
    HostKeyMD5: str = ""
    Timeout: float = 0  # seconds per connection step; 0: the VFS type's default


class FtpFields(ScriptRecord):
    """FtpsClient's connection fields and their defaults."""

    Host: str = ""
    User: str = ""
    Pass: str = ""
    PassFromSecret: str = ""
    TLSMode: str = "explicit"
    TLSInsecure: bool = False
    Timeout: float = 0  # seconds to wait for the server; 0: the VFS type's default


class S3Fields(ScriptRecord):
    """S3Client's connection fields and their defaults."""

    Endpoint: str = ""
    Region: str = ""
    Bucket: str = ""
    APIKeyID: str = ""
    APIKeySecret: str = ""
    APIKeySecretFromSecret: str = ""
    UseMetadataWhenListing: bool = False
    Timeout: float = 0  # seconds to wait for a connection; 0: the VFS type's default


class AzureFields(ScriptRecord):
    """AzureClient's connection fields and their defaults."""

    Account: str = ""
    Container: str = ""
    Key: str = ""
    SAS: str = ""
    Endpoint: str = ""


class GcsFields(ScriptRecord):
    """GCSClient's connection fields and their defaults."""

    Bucket: str = ""
    CredentialsJSON: str = ""
    Endpoint: str = ""


#: Each client class: its VFS type.
CLIENT_CLASSES = {
    "SftpClient": "SFTP",
    "FtpsClient": "FTP",
    "S3Client": "S3",
    "AzureClient": "Azure",
    "GCSClient": "GCP",
}
#: Each VFS type's client fields.
CLIENT_FIELDS: dict[str, type[ScriptRecord]] = {
    "SFTP": SftpFields,
    "FTP": FtpFields,
    "S3": S3Fields,
    "Azure": AzureFields,
    "GCP": GcsFields,
}
#: Each client's fields that are fields of its VFS target (client field: target field);
#: ``Host`` is the target's host and port.
_TARGET_FIELDS = {
    "SFTP": {
        "User": "user", "HostKeySHA256": "hostKeySHA256", "HostKeySHA1": "hostKeySHA1",
        "HostKeyMD5": "hostKeyMD5",
    },
    "FTP": {"User": "user", "TLSMode": "tls", "TLSInsecure": "insecure"},
    "S3": {"Bucket": "bucket", "Endpoint": "endpoint", "Region": "region"},
    "Azure": {"Account": "account", "Container": "container", "Endpoint": "endpoint"},
    "GCP": {"Bucket": "bucket", "Endpoint": "endpoint"},
}  # fmt: skip
#: Each client's credentials: payload key -> (its field, the field naming a secret that holds
#: it instead). (SftpClient's ``KeyFile`` names a file: its text is the payload's ``key``.)
_PAYLOAD_FIELDS = {
    "SFTP": {"pass": ("Pass", "PassFromSecret"), "keyPass": ("KeyFilePass", "KeyFileSecret")},
    "FTP": {"pass": ("Pass", "PassFromSecret")},
    "S3": {
        "accessKeyId": ("APIKeyID", ""),
        "secretAccessKey": ("APIKeySecret", "APIKeySecretFromSecret"),
    },
    "Azure": {"key": ("Key", ""), "sas": ("SAS", "")},
    "GCP": {"credentialsJSON": ("CredentialsJSON", "")},
}
#: Fields whose values are credentials: masked in every log line once seen.
CREDENTIALS = ("Pass", "KeyFilePass", "APIKeySecret", "Key", "SAS", "CredentialsJSON")
#: ``Configure`` names besides the fields' own (any case): the VFS Library's payload keys.
_ALIASES = {
    "password": "Pass", "keypass": "KeyFilePass", "tls": "TLSMode", "insecure": "TLSInsecure",
    "accesskeyid": "APIKeyID", "secretaccesskey": "APIKeySecret",
}  # fmt: skip


class RemoteClient(Handle):
    """A script's remote client; its VFS is open between ``Connect()`` and ``Close()``.

    Args:
        host: the run's VFS host.
        script_class: the client's JS class (a key of :data:`CLIENT_CLASSES`).
    """

    MISSING = "not connected: call Connect() first"

    def __init__(self, host: VfsHost, script_class: str) -> None:
        super().__init__(host, None)
        self.script_class = script_class
        self.kind = CLIENT_CLASSES[script_class]
        self.fields = CLIENT_FIELDS[self.kind]
        #: The JS object's own properties (fields and ``Options``), as of the current call.
        self.state: dict[str, Any] = {}

    # ---- connection --------------------------------------------------------------------

    @host_function("Client.Configure", wrapped=True)
    def Configure(self, url: str, payload: str | dict[str, Any] | None = None) -> dict[str, Any]:
        """The fields (and options) a URL plus a JSON payload set; see ``_ALIASES``.

        The URL is the client's VFS target (read by its backend) whose user may carry a
        password and whose query may set any field or option; ``FtpsClient`` also takes
        ``ftps://`` for explicit TLS.
        """
        from aft.vfs import schema_class

        kind, defaults = self.kind, self.fields.defaults()
        schema = schema_class(kind)
        parts = urlsplit(url)
        userinfo, at, where = parts.netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        ftps = kind == "FTP" and parts.scheme.lower() == "ftps"
        scheme = schema.schemes[0] if ftps else parts.scheme
        place = urlunsplit((scheme, user + at + where, parts.path, "", ""))
        try:
            target = schema.parse_target(place)
        except VfsPathError:
            looks = f"must look like {schema.schemes[0]}://..., not {url!r}"
            raise BadArgument(looks, argument="url") from None
        fields: dict[str, Any] = {
            field: target[name]
            for field, name in _TARGET_FIELDS[kind].items()
            if schema.field(name).part != "query"
        }
        if "host" in target:
            port = target["port"] or schema.field("port").initial or ""
            fields["Host"] = _join_host(target["host"], port)
        if colon:
            fields["Pass"] = unquote(password)
        if kind == "FTP":
            fields["TLSMode"] = "explicit" if ftps else "none"
        if target.get("prefix") and "Container" in fields:  # the client's container holds it
            fields["Container"] += "/" + target["prefix"]
        names = {**{f.lower(): f for f in defaults}, **_ALIASES}
        options = {}
        query = [item.partition("=") for item in parts.query.split("&") if item]
        settings = [(unquote(k), unquote(v)) for k, _, v in query]  # unquote keeps "+"
        settings += json_object(payload, "payload").items()
        for key, value in settings:
            option = next((o for o in TransferOptions.defaults() if o.lower() == key.lower()), None)
            if option is not None:
                options[option] = value
            elif names.get(key.lower()) in defaults:
                field = names[key.lower()]
                fields[field] = self._setting(field, value, key)
            else:
                raise BadArgument(f"unknown setting {key!r}")
        for field in CREDENTIALS:
            self.host.reveal(fields.get(field, ""))
        if isinstance(options.get("OTFEKey"), str):
            self.host.reveal(options["OTFEKey"])
        return {"fields": fields, "options": options}

    def _setting(self, field: str, value: Any, key: str) -> Any:
        """A ``Configure`` value for ``field`` (a flag may be given as text)."""
        default = self.fields.defaults()[field]
        flag = isinstance(default, bool)
        if flag and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if type(default) is float and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise BadArgument(f"{key} is a number, not {value!r}") from None
        problem = self.fields.problem(field, value)
        if problem is not None:
            raise BadArgument(f"{key} {problem}")
        return value

    @host_function("Client.Connect")
    @io_call(False)
    def Connect(self) -> bool:
        """Open and check the connection (closing one already open); False (logged) if refused."""
        fields = vars(self.fields.read(self.state, self.script_class))
        self.close()
        target, payload, label = self._profile(fields)
        vfs = self.host.open(self.kind, target, payload)
        vfs.label = label
        try:
            vfs.connect()
        except BaseException:
            vfs.close()
            raise
        self._vfs = vfs
        self.log("info", f"Connect: connected to {label}")
        return True

    @host_function("Client.Close")
    def Close(self) -> bool:
        """Close the connection; False when it was not connected."""
        connected = self._vfs is not None
        self.close()
        return connected

    def _profile(self, f: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
        """The VFS Library target and payload of the client's fields, and a label for logs."""
        from aft.vfs import schema_class

        kind = self.kind
        schema = schema_class(kind)
        fields = {name: _text(f[field]) for field, name in _TARGET_FIELDS[kind].items()}
        for field, name in _TARGET_FIELDS[kind].items():
            choice = schema.field(name)
            if choice.kind == "choice" and (problem := choice.problem(f[field])):
                raise HostTypeError(f"{self.script_class}.{field}: {problem}")
        if "Host" in f:
            fields["host"], fields["port"] = _host_port(f["Host"])
        if f.get("Timeout"):  # the VFS target's connect timeout
            if f["Timeout"] < 0:
                raise HostTypeError(f"{self.script_class}.Timeout must not be negative")
            fields["timeout"] = f"{f['Timeout']:g}"
        payload = {
            key: self._credential(f, field, from_secret)
            for key, (field, from_secret) in _PAYLOAD_FIELDS[kind].items()
        }
        if f.get("KeyFile"):
            with open(f["KeyFile"], encoding="utf-8") as key_file:
                payload["key"] = key_file.read()
        target = schema.compose_target(fields)
        present = {k: v for k, v in payload.items() if v}
        return target, present, f.get("HostID") or target.partition("?")[0]

    def _credential(self, fields: dict[str, Any], field: str, from_secret: str) -> str:
        """A credential field, or the secret its old-style ``...FromSecret`` field names."""
        name = fields[from_secret] if from_secret else ""
        if not name:
            value: str = fields[field]
            return value
        found = self.host.secret(name)
        if found is None:
            raise VfsError(f"{from_secret}: no secret named {name!r}")
        return found

    # ---- listing and changing ----------------------------------------------------------------

    @host_function("Client.ListDir")
    @io_call([])
    def ListDir(self, dir_: str, types: int = LIST_ALL) -> list[dict[str, Any]]:
        return self._list(dir_, _of_type(types), self.fs.listdir)

    @host_function("Client.ListDirR")
    @io_call([])
    def ListDirR(self, dir_: str, types: int = LIST_ALL) -> list[dict[str, Any]]:
        return self._list(dir_, _of_type(types), self.fs.walk)

    @host_function("Client.ListFiles")
    @io_call([])
    def ListFiles(self, dir_: str, mask: str = "*") -> list[dict[str, Any]]:
        return self._list(dir_, _matching(mask), self.fs.listdir)

    @host_function("Client.ListFilesR")
    @io_call([])
    def ListFilesR(self, dir_: str, mask: str = "*") -> list[dict[str, Any]]:
        return self._list(dir_, _matching(mask), self.fs.walk)

    def _list(
        self, directory: str, keep: Callable[[FileInfo], bool], lister: Callable[[str], Any]
    ) -> list[dict[str, Any]]:
        return [item(i) for i in sorted(lister(directory), key=lambda i: i.path) if keep(i)]

    @host_function("Client.MakeDir")
    @io_call(False)
    def MakeDir(self, dir_: str) -> bool:
        self.fs.makedirs(dir_)
        return True

    @host_function("Client.RenDir")
    @io_call(False)
    def RenDir(self, from_: str, to: str) -> bool:
        self._check(from_, is_dir=True)
        self.fs.rename(from_, to)
        return True

    @host_function("Client.RenFile")
    @io_call(False)
    def RenFile(self, from_: str, to: str) -> bool:
        self._check(from_, is_dir=False)
        with self.host.recording("move", self.fs, from_, self.fs, to):
            self.fs.rename(from_, to)
        return True

    def _check(self, path: str, *, is_dir: bool) -> None:
        """Raise unless ``path`` is a directory (``is_dir``) or a file."""
        if self.fs.stat(path).is_dir != is_dir:
            raise (
                VfsNotADirectory(f"{path}: not a directory")
                if is_dir
                else VfsIsADirectory(f"{path}: is a directory")
            )

    @host_function("Client.DelDir")
    @io_call(False)
    def DelDir(self, dir_: str) -> bool:
        self.fs.rmdir(dir_)
        return True

    @host_function("Client.DelTree")
    @io_call(False)
    def DelTree(self, dir_: str) -> bool:
        self._check(dir_, is_dir=True)
        self.fs.remove_tree(dir_, self.host.deleting(self.fs))
        return True

    @host_function("Client.DelFile")
    @io_call(False)
    def DelFile(self, path: str) -> bool:
        with self.host.recording("delete", self.fs, path):
            self.fs.remove(path)
        return True

    @host_function("Client.Stat")
    @io_call({"Valid": False, "Exists": False, "Stat": None})
    def Stat(self, path: str) -> dict[str, Any]:
        info = lookup(self.fs, path)
        return {"Valid": True, "Exists": info is not None, "Stat": info and item(info)}

    # ---- transfers ---------------------------------------------------------------------------

    @host_function("Client.Upload")
    @io_call(False)
    def Upload(self, local_path_or_glob: str, remote_dir: str) -> bool:
        """Send the local files named into ``remote_dir``; True if every one went."""
        policy = self._policy("Upload")
        pattern = os.path.abspath(local_path_or_glob)
        return self._batch(policy).run(self.host.local, pattern, self.fs, remote_dir)

    @host_function("Client.Download")
    @io_call(False)
    def Download(self, remote_path_or_glob: str, local_dir: str) -> bool:
        """Fetch the remote files named into ``local_dir``; True if every one went."""
        policy = self._policy("Download")
        local = os.path.abspath(local_dir)
        return self._batch(policy).run(self.fs, remote_path_or_glob, self.host.local, local)

    def _policy(self, op: Operation) -> TransferPolicy:
        """What ``client.Options`` say for ``op`` (messages name ``SftpClient.Options``)."""
        options = self.state.get("Options")
        policy = TransferPolicy.read(options, op, f"{self.script_class}.Options", self.host.secret)
        self.host.reveal(policy.otfe_key or "")
        return policy

    def _batch(self, policy: TransferPolicy) -> Batch:
        return Batch(policy, self.log, self.host.halt, self.host.tracker, self.host.files_in_flight)


def _of_type(types: int) -> Callable[[FileInfo], bool]:
    """Which listed entries a ``LIST_*`` constant keeps."""
    if types not in (LIST_ALL, LIST_FILES, LIST_DIRS):
        raise BadArgument("must be LIST_ALL, LIST_FILES or LIST_DIRS", argument="types")
    if types == LIST_ALL:
        return lambda info: True
    return lambda info: info.is_dir == (types == LIST_DIRS)


def _matching(mask: str) -> Callable[[FileInfo], bool]:
    """Keeps the files whose name matches the glob ``mask``."""
    import fnmatch

    return lambda info: not info.is_dir and fnmatch.fnmatchcase(info.name, mask)


def _host_port(value: str) -> tuple[str, str]:
    """The host and the port (``""``: none given) of a ``Host`` field such as ``h:2222``."""
    parts = urlsplit("//" + value)
    try:
        port = parts.port
    except ValueError:
        raise VfsError(f"Host {value!r} has a bad port") from None
    if not parts.hostname:
        raise VfsError(f"Host {value!r} names no host")
    return parts.hostname, str(port or "")


def _join_host(host: str, port: str) -> str:
    """A ``Host`` field's value: ``host:port`` (an IPv6 address in brackets)."""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _text(value: str | bool) -> str:
    """A client field's value as a target field's: a flag is ``"true"`` or ``"false"``."""
    return str(value).lower() if isinstance(value, bool) else str(value)
