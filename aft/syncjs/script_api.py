"""What the runtime's JS files build a script's globals from, generated from the Python side.

:func:`script_api` gathers it from the declarations: the host functions the runtime defines
itself (by owner: ``""`` for globals), the script constants, the client classes, what the
plain properties of a new script object start as, and the methods of a VirtualFS response.
The executor hands it to ``runtime.js`` as JSON text (``dukpy.api``, serialised once per
process by :func:`script_api_json`), which keeps it as ``__aft.api`` for the other files;
so no ``.js`` file repeats a name Python declares.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aft.syncjs import clients, transfer_policy, vfs_handles, watchers
from aft.syncjs.declarations import HostFunction, HostObject, plain_functions
from aft.syncjs.host import JobHost
from aft.syncjs.net_host import HttpCli, HttpRequest, NetHost
from aft.syncjs.vfs_host import VfsHost, script_defaults

#: Every class that declares host functions: each run's hosts, and the script objects
#: whose methods they serve.
DECLARING: tuple[type[HostObject], ...] = (
    JobHost,
    VfsHost,
    vfs_handles.VirtualFsHandle,
    clients.RemoteClient,
    watchers.WatcherHost,
    watchers.ScriptWatcher,
    NetHost,
    HttpCli,
)


_V4_EVENTS = "removed in AFT! v4: give Start() a callback and wait with WaitForHaltSignal()"
#: Names the original product documents on a script object that aft does not implement,
#: by object, with the reason: reading one throws a ``TypeError`` that gives it.
#: (docs/syncjs-names.md lists every published name with its status.)
ABSENT: dict[str, dict[str, str]] = {
    "FsWatcher": {"Events": _V4_EVENTS},
    "RemoteWatcher": {"Events": _V4_EVENTS},
}
#: The names of ``client.Options`` that the original product documents: a script may set
#: them (one aft does not honour is refused when a transfer uses it); any other name is
#: refused when set.
OPTION_NAMES = (
    "StopOnTransferError", "DownloadPolicy", "UploadPolicy", "OnDownloadGrantTo",
    "AdjustTimeOnDownload", "AdjustTimeOnUpload", "DownloadWithTempName", "UploadWithTempName",
    "DeleteSourceAfterDownload", "DeleteSourceAfterUpload", "VersionedDownload",
    "VersionedUpload", "VersionsToKeepLocal", "VersionsToKeepRemote", "OTFE", "OTFEKey",
    "OTFEKeyFromSecret",
)  # fmt: skip


def declared_functions() -> dict[str, HostFunction]:
    """Every declared host function, by name."""
    found: dict[str, HostFunction] = {}
    for kind in DECLARING:
        found.update(kind.HOST_FUNCTIONS)
    return found


@functools.cache
def script_api() -> dict[str, Any]:
    """The description ``runtime.js`` receives (built once per process; never change it)."""
    return {
        "functions": plain_functions(DECLARING),
        "constants": {
            **clients.CONSTANTS,
            **transfer_policy.CONSTANTS,
            **watchers.CONSTANTS,
            **vfs_handles.CONSTANTS,
        },
        "clients": list(clients.CLIENT_CLASSES),
        "defaults": {
            **script_defaults(),
            "FsWatcher": watchers.WatcherSettings.defaults(),
            "RemoteWatcher": watchers.RemoteWatcherSettings.defaults(),
            "HttpCli": HttpRequest.defaults(),
        },
        "response": vfs_handles.RESPONSE_FIELDS,
        "absent": ABSENT,
        "optionNames": list(OPTION_NAMES),
    }


@functools.cache
def script_api_json() -> str:
    """:func:`script_api` as JSON text (serialised once per process)."""
    return json.dumps(script_api())
