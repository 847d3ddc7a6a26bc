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
    }


@functools.cache
def script_api_json() -> str:
    """:func:`script_api` as JSON text (serialised once per process)."""
    return json.dumps(script_api())
