"""The OpenAPI 3 document of REST API v1 (served at ``GET /v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from aft._version import __version__
from aft.roles import ROLES, needed
from aft.vfs import BACKENDS

_ERROR = {"$ref": "#/components/responses/Error"}
_ANY_OBJECT = {"type": "object"}


def _ok(schema: dict[str, Any] | None = None, status: str = "200") -> dict[str, Any]:
    return {
        status: {
            "description": "success",
            "content": {"application/json": {"schema": schema or _ANY_OBJECT}},
        }
    }


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in codes}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_AUTH = _errors(400, 401, 403, 429)
_JOB_ID = [_path_param("jobId")]
_SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}
_SCRIPT_FIELDS = {
    "name": {"type": "string"},
    "source": {"type": "string"},
    "retries": {"type": "integer", "minimum": 0},
    "retryBackoff": {"type": "number", "minimum": 0},
    "group": {"type": "string", "description": "worker group of its jobs (cluster nodes only)"},
    "maxRunSeconds": {
        "type": "integer",
        "minimum": 0,
        "maximum": 604800,
        "description": "a job running longer is halted (0: the max_run_seconds setting)",
    },
}
_VFS_FIELDS = {
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": list(BACKENDS)},
        "target": {"type": "string"},
        "payload": {"type": "object"},
    }
}
_SCHEDULE_FIELDS = {
    "properties": {
        "name": {"type": "string"},
        "script": {"type": "string"},
        "cron": {"type": "string"},
        "timezone": {"type": "string"},
        "params": {"type": "object", "additionalProperties": _SCALAR},
        "enabled": {"type": "boolean"},
        "overlap": {"type": "string", "enum": ["skip", "queue", "allow"]},
        "catchUp": {"type": "boolean"},
    }
}
_NOTIFICATION_FIELDS = {
    "properties": {
        "name": {"type": "string"},
        "script": {"type": "string", "description": "a stored script (or give schedule)"},
        "schedule": {"type": "string", "description": "a schedule (or give script)"},
        "events": {
            "type": "array",
            "items": {"type": "string", "enum": ["failure", "success", "long"]},
        },
        "minutes": {"type": "number", "description": "for long: minutes a run may take"},
        "channel": {"type": "string", "enum": ["email", "webhook"]},
        "recipients": {"type": "string", "description": "email: addresses, comma-separated"},
        "urlSecret": {"type": "string", "description": "webhook: the secret holding its URL"},
        "headersSecret": {
            "type": "string",
            "description": "webhook: the secret holding a JSON object of headers",
        },
    }
}
_JOB = {
    "type": "object",
    "required": ["jobId", "status", "scriptName", "params", "trigger", "created"],
    "properties": {
        "jobId": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["queued", "running", "succeeded", "failed", "halted", "interrupted"],
        },
        "scriptName": {"type": "string"},
        "scriptId": {"type": ["string", "null"]},
        "params": {"type": "object"},
        "trigger": {
            "type": "string",
            "enum": ["api", "cli", "cron", "ui"],
            "description": "api: an API key; cli: the aft command (aft run, aft start);"
            " cron: a schedule; ui: the web console. A retry keeps its first job's trigger"
            " (retryOf names that job)",
        },
        "startedBy": {
            "type": ["string", "null"],
            "description": "who or what started it: schedule:NAME, key:NAME (ID),"
            " account:NAME or cli:OSUSER",
        },
        "retryOf": {"type": ["string", "null"]},
        "exitCode": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
        "errorLine": {"type": ["integer", "null"]},
        "attempt": {"type": "integer"},
        "created": {"type": "number"},
        "started": {"type": ["number", "null"]},
        "finished": {"type": ["number", "null"]},
        "progress": {
            "type": ["object", "null"],
            "description": "GET /v1/jobs/{jobId} only: files done and failed, files in"
            " total (null: unknown), bytes, rate (bytes/s), the current file and elapsed"
            " seconds, as the run last wrote them (null: it moved no file yet)",
            "properties": {
                "filesDone": {"type": "integer"},
                "filesFailed": {"type": "integer"},
                "filesTotal": {"type": ["integer", "null"]},
                "bytes": {"type": "integer"},
                "rate": {"type": "number"},
                "currentFile": {"type": ["string", "null"]},
                "elapsed": {"type": "number"},
            },
        },
    },
}
_TRANSFERS_PAGE = {
    "type": "object",
    "required": ["transfers", "nextCursor"],
    "properties": {
        "transfers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "seq": {"type": "integer"},
                    "jobId": {"type": "string"},
                    "op": {
                        "type": "string",
                        "enum": ["upload", "download", "copy", "move", "delete", "write"],
                    },
                    "src": {"type": "string", "description": "VFS name, client host or local"},
                    "srcPath": {"type": "string"},
                    "dst": {"type": "string"},
                    "dstPath": {"type": "string"},
                    "bytes": {"type": "integer"},
                    "sha256": {"type": "string", "description": "of the bytes as they streamed"},
                    "checksum": {"type": "string", "description": "the server's, algo:hex"},
                    "started": {"type": "number"},
                    "finished": {"type": "number"},
                    "outcome": {"type": "string", "enum": ["ok", "failed", "skipped"]},
                    "error": {"type": "string"},
                    "attempt": {"type": "integer"},
                },
            },
        },
        "nextCursor": {"type": ["integer", "null"]},
    },
}
_TRANSFERS_OK = {
    "200": {
        "description": "success: a page of records, or with format=csv every one as CSV",
        "content": {
            "application/json": {"schema": _TRANSFERS_PAGE},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}
_TRANSFER_FILTERS = [
    {"name": "since", "in": "query", "schema": {"type": "number"}},
    {"name": "until", "in": "query", "schema": {"type": "number"}},
    {
        "name": "path",
        "in": "query",
        "description": "a glob over source and destination paths (* also matches /)",
        "schema": {"type": "string"},
    },
    {"name": "failed", "in": "query", "schema": {"type": "boolean"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "cursor", "in": "query", "schema": {"type": "integer"}},
    {
        "name": "format",
        "in": "query",
        "description": "csv: every matching record as a CSV file (no limit or cursor)",
        "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
    },
]

_AUDIT_PAGE = {
    "type": "object",
    "required": ["entries", "nextCursor"],
    "properties": {
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["seq", "time", "actor", "action", "target", "prev", "hash"],
                "properties": {
                    "seq": {"type": "integer"},
                    "time": {"type": "number"},
                    "actor": {"type": "string"},
                    "address": {"type": "string"},
                    "action": {"type": "string"},
                    "target": {"type": "string"},
                    "detail": {"type": "object"},
                    "prev": {"type": "string", "description": "SHA-256 of the entry before"},
                    "hash": {"type": "string"},
                },
            },
        },
        "nextCursor": {"type": ["integer", "null"]},
    },
}


#: The role each operation needs (``x-aft-role``; see :mod:`aft.roles`): ``open``, ``any``
#: (any key or session; a run key sees only its own jobs), ``viewer``, ``run``, ``admin``.
#: The routes declare the same where they are registered, and a test holds the two equal.
ROLE_NEEDED = {
    ("post", "/v1/jobs"): "run",
    ("get", "/v1/jobs"): "any",
    ("get", "/v1/jobs/{jobId}"): "any",
    ("get", "/v1/jobs/{jobId}/log"): "any",
    ("get", "/v1/jobs/{jobId}/transfers"): "any",
    ("get", "/v1/transfers"): "any",
    ("post", "/v1/jobs/{jobId}/halt"): "run",
    ("get", "/v1/scripts"): "viewer",
    ("post", "/v1/scripts"): "admin",
    ("get", "/v1/scripts/{name}"): "viewer",
    ("put", "/v1/scripts/{name}"): "admin",
    ("delete", "/v1/scripts/{name}"): "admin",
    ("get", "/v1/secrets"): "viewer",
    ("put", "/v1/secrets/{name}"): "admin",
    ("delete", "/v1/secrets/{name}"): "admin",
    ("get", "/v1/apikeys"): "viewer",
    ("post", "/v1/apikeys"): "admin",
    ("delete", "/v1/apikeys/{keyId}"): "admin",
    ("get", "/v1/audit"): "viewer",
    ("get", "/v1/settings"): "viewer",
    ("put", "/v1/settings/{key}"): "admin",
    ("get", "/v1/vfs"): "viewer",
    ("post", "/v1/vfs"): "admin",
    ("post", "/v1/vfs/test"): "admin",
    ("get", "/v1/vfs/types"): "viewer",
    ("post", "/v1/vfs/types/{type}/target"): "viewer",
    ("get", "/v1/vfs/hostkey"): "admin",
    ("get", "/v1/vfs/{name}"): "viewer",
    ("put", "/v1/vfs/{name}"): "admin",
    ("delete", "/v1/vfs/{name}"): "admin",
    ("post", "/v1/vfs/{name}/test"): "admin",
    ("get", "/v1/schedules"): "viewer",
    ("post", "/v1/schedules"): "admin",
    ("post", "/v1/cron/preview"): "viewer",
    ("get", "/v1/schedules/{id}"): "viewer",
    ("put", "/v1/schedules/{id}"): "admin",
    ("delete", "/v1/schedules/{id}"): "admin",
    ("get", "/v1/notifications"): "viewer",
    ("post", "/v1/notifications"): "admin",
    ("get", "/v1/notifications/{id}"): "viewer",
    ("delete", "/v1/notifications/{id}"): "admin",
    ("post", "/v1/notifications/{id}/test"): "admin",
    ("get", "/v1/health"): "open",
    ("get", "/v1/openapi.json"): "open",
}


def _state_roles(document: dict[str, Any]) -> dict[str, Any]:
    """Each operation of ``document`` with ``x-aft-role`` and who may call it in words."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            need = ROLE_NEEDED.get((method, path))
            if need is None:
                continue  # path-level parameters, or an operation no role was stated for
            operation["x-aft-role"] = need
            if need != "open":
                who = needed(need) + (" (a run key: its own jobs only)" if need == "any" else "")
                said = operation.get("description")
                operation["description"] = (said + " " if said else "") + f"Roles allowed: {who}."
    return document


def openapi_document() -> dict[str, Any]:
    """The whole document, freshly built (callers may change their copy)."""
    return _state_roles(
        {
            "openapi": "3.1.0",
            "info": {"title": "aft REST API", "version": __version__},
            "security": [{"apiKey": []}],
            "components": {
                "securitySchemes": {
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
                },
                "responses": {
                    "Error": {
                        "description": "an error, with a stable code and a line for a person",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["error", "message"],
                                    "properties": {
                                        "error": {"type": "string"},
                                        "message": {"type": "string"},
                                    },
                                }
                            }
                        },
                    }
                },
            },
            "paths": {
                "/v1/jobs": {
                    "post": {
                        "summary": "Queue a job: exactly one of scriptName, scriptId, filePath",
                        "parameters": [
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "description": "the same key again within 24 hours returns the"
                                " first job (409 if the request differs)",
                                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                            }
                        ],
                        "requestBody": _body(
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "oneOf": [
                                    {"required": ["scriptName"]},
                                    {"required": ["scriptId"]},
                                    {"required": ["filePath"]},
                                ],
                                "properties": {
                                    "scriptName": {"type": "string", "minLength": 1},
                                    "scriptId": {"type": "string", "minLength": 1},
                                    "filePath": {"type": "string", "minLength": 1},
                                    "params": {"type": "object", "additionalProperties": _SCALAR},
                                    "jobType": {"description": "accepted and ignored"},
                                    "group": {
                                        "type": "string",
                                        "pattern": "^[A-Za-z0-9_.-]{1,64}$",
                                        "description": "worker group (cluster nodes only)",
                                    },
                                },
                            }
                        ),
                        "responses": {
                            **_ok(_JOB, "202"),
                            **_AUTH,
                            **_errors(404, 409, 413),
                        },
                    },
                    "get": {
                        "summary": "List jobs, newest first",
                        "parameters": [
                            {"name": "status", "in": "query", "schema": {"type": "string"}},
                            {"name": "script", "in": "query", "schema": {"type": "string"}},
                            {"name": "since", "in": "query", "schema": {"type": "number"}},
                            {
                                "name": "trigger",
                                "in": "query",
                                "description": "who started them: api, cli, cron or ui; a page"
                                " may then hold fewer jobs than limit (follow nextCursor)",
                                "schema": {"type": "string", "enum": ["api", "cli", "cron", "ui"]},
                            },
                            {
                                "name": "limit",
                                "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                            },
                            {"name": "cursor", "in": "query", "schema": {"type": "integer"}},
                        ],
                        "responses": {
                            **_ok(
                                {
                                    "type": "object",
                                    "required": ["jobs", "nextCursor"],
                                    "properties": {
                                        "jobs": {"type": "array", "items": _JOB},
                                        "nextCursor": {"type": ["integer", "null"]},
                                    },
                                }
                            ),
                            **_AUTH,
                        },
                    },
                },
                "/v1/jobs/{jobId}": {
                    "get": {
                        "summary": "One job: state, exit status, params, timings, trigger, error",
                        "parameters": _JOB_ID,
                        "responses": {**_ok(_JOB), **_AUTH, **_errors(404)},
                    }
                },
                "/v1/jobs/{jobId}/log": {
                    "get": {
                        "summary": "Log lines from offset on, and the next offset",
                        "parameters": [
                            *_JOB_ID,
                            {
                                "name": "offset",
                                "in": "query",
                                "schema": {"type": "integer", "minimum": 0},
                            },
                        ],
                        "responses": {
                            **_ok(
                                {
                                    "type": "object",
                                    "required": ["lines", "nextOffset", "status"],
                                    "properties": {
                                        "lines": {"type": "array", "items": _ANY_OBJECT},
                                        "nextOffset": {"type": "integer"},
                                        "status": {"type": "string"},
                                    },
                                }
                            ),
                            **_AUTH,
                            **_errors(404),
                        },
                    }
                },
                "/v1/jobs/{jobId}/transfers": {
                    "get": {
                        "summary": "The job's transfer records, oldest first",
                        "parameters": [*_JOB_ID, *_TRANSFER_FILTERS],
                        "responses": {**_TRANSFERS_OK, **_AUTH, **_errors(404)},
                    }
                },
                "/v1/transfers": {
                    "get": {
                        "summary": "Transfer records, oldest first (a run key gives job)",
                        "parameters": [
                            {"name": "job", "in": "query", "schema": {"type": "string"}},
                            *_TRANSFER_FILTERS,
                        ],
                        "responses": {**_TRANSFERS_OK, **_AUTH, **_errors(404)},
                    }
                },
                "/v1/jobs/{jobId}/halt": {
                    "post": {
                        "summary": "Send the halt signal; killed after the grace period",
                        "parameters": _JOB_ID,
                        "responses": {**_ok(None, "202"), **_AUTH, **_errors(404, 409)},
                    }
                },
                "/v1/scripts": {
                    "get": {"summary": "List stored scripts", "responses": {**_ok(), **_AUTH}},
                    "post": {
                        "summary": "Store a script",
                        "requestBody": _body(
                            {
                                "type": "object",
                                "required": ["name", "source"],
                                "properties": _SCRIPT_FIELDS,
                            }
                        ),
                        "responses": {**_ok(None, "201"), **_AUTH, **_errors(409)},
                    },
                },
                "/v1/scripts/{name}": {
                    "parameters": [_path_param("name")],
                    "get": {
                        "summary": "One script",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                    "put": {
                        "summary": "Change a script",
                        "requestBody": _body({"type": "object", "properties": _SCRIPT_FIELDS}),
                        "responses": {**_ok(), **_AUTH, **_errors(404, 409)},
                    },
                    "delete": {
                        "summary": "Remove a script",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                },
                "/v1/secrets": {
                    "get": {
                        "summary": "Secret names (never values), and when each was last set",
                        "responses": {
                            **_ok(
                                {
                                    "type": "object",
                                    "required": ["secrets", "updated"],
                                    "properties": {
                                        "secrets": {"type": "array", "items": {"type": "string"}},
                                        "updated": {
                                            "type": "object",
                                            "additionalProperties": {"type": "number"},
                                        },
                                    },
                                }
                            ),
                            **_AUTH,
                        },
                    }
                },
                "/v1/secrets/{name}": {
                    "parameters": [_path_param("name")],
                    "put": {
                        "summary": "Set a secret's value (write-only)",
                        "requestBody": _body(
                            {
                                "type": "object",
                                "required": ["value"],
                                "properties": {"value": {"type": "string"}},
                            }
                        ),
                        "responses": {**_ok(), **_AUTH},
                    },
                    "delete": {
                        "summary": "Delete a secret",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                },
                "/v1/apikeys": {
                    "get": {
                        "summary": "API keys (never the key itself)",
                        "responses": {**_ok(), **_AUTH},
                    },
                    "post": {
                        "summary": "Create an API key; the key is in this answer only",
                        "requestBody": _body(
                            {
                                "type": "object",
                                "required": ["name", "allow"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "allow": {"type": "array", "items": {"type": "string"}},
                                    "scope": {"type": "string", "enum": list(ROLES)},
                                },
                            }
                        ),
                        "responses": {**_ok(None, "201"), **_AUTH},
                    },
                },
                "/v1/apikeys/{keyId}": {
                    "delete": {
                        "summary": "Revoke an API key",
                        "parameters": [_path_param("keyId")],
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    }
                },
                "/v1/audit": {
                    "get": {
                        "summary": "The audit trail, oldest first",
                        "parameters": [
                            {"name": "since", "in": "query", "schema": {"type": "number"}},
                            {"name": "until", "in": "query", "schema": {"type": "number"}},
                            {
                                "name": "actor",
                                "in": "query",
                                "description": "one actor (account:alice), or a prefix ending"
                                " with : (key:)",
                                "schema": {"type": "string"},
                            },
                            {
                                "name": "limit",
                                "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                            },
                            {"name": "cursor", "in": "query", "schema": {"type": "integer"}},
                        ],
                        "responses": {**_ok(_AUDIT_PAGE), **_AUTH},
                    }
                },
                "/v1/settings": {
                    "get": {"summary": "All settings", "responses": {**_ok(), **_AUTH}}
                },
                "/v1/settings/{key}": {
                    "put": {
                        "summary": "Change a setting",
                        "parameters": [_path_param("key")],
                        "requestBody": _body(
                            {
                                "type": "object",
                                "required": ["value"],
                                "properties": {"value": _SCALAR},
                            }
                        ),
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    }
                },
                "/v1/vfs": {
                    "get": {
                        "summary": "VFS Library profiles (never their credentials)",
                        "responses": {**_ok(), **_AUTH},
                    },
                    "post": {
                        "summary": "Add a profile; its payload is write-only",
                        "requestBody": _body(
                            {
                                "type": "object",
                                "required": ["name", "type", "target"],
                                **_VFS_FIELDS,
                            }
                        ),
                        "responses": {**_ok(None, "201"), **_AUTH, **_errors(409)},
                    },
                },
                "/v1/vfs/test": {
                    "post": {
                        "summary": "Try a profile that is not saved: connect and list its root",
                        "requestBody": _body(
                            {"type": "object", "required": ["type", "target"], **_VFS_FIELDS}
                        ),
                        "responses": {**_ok(), **_AUTH},
                    }
                },
                "/v1/vfs/types": {
                    "get": {
                        "summary": "Each VFS type's schema: the fields of its target and payload",
                        "responses": {**_ok(), **_AUTH},
                    }
                },
                "/v1/vfs/types/{type}/target": {
                    "post": {
                        "summary": "Write and check a target from its fields: {target, errors}",
                        "parameters": [_path_param("type")],
                        "requestBody": _body(
                            {
                                "type": "object",
                                "properties": {"fields": _ANY_OBJECT, "payload": _ANY_OBJECT},
                            }
                        ),
                        "responses": {**_ok(), **_AUTH},
                    }
                },
                "/v1/vfs/hostkey": {
                    "get": {
                        "summary": "An SFTP server's host key fingerprint (SHA-256), to pin",
                        "parameters": [
                            {
                                "name": "url",
                                "in": "query",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        ],
                        "responses": {**_ok(), **_AUTH},
                    }
                },
                "/v1/vfs/{name}": {
                    "parameters": [_path_param("name")],
                    "get": {
                        "summary": "One profile",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                    "put": {
                        "summary": "Change a profile; what is left out stays (the payload too)",
                        "requestBody": _body({"type": "object", **_VFS_FIELDS}),
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                    "delete": {
                        "summary": "Remove a profile",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                },
                "/v1/vfs/{name}/test": {
                    "post": {
                        "summary": "Try a saved profile: connect and list its root; with a"
                        " target, try that one with the profile's stored credentials",
                        "parameters": [_path_param("name")],
                        "requestBody": {
                            **_body(
                                {"type": "object", "properties": {"target": {"type": "string"}}}
                            ),
                            "required": False,
                        },
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    }
                },
                "/v1/schedules": {
                    "get": {"summary": "Schedules", "responses": {**_ok(), **_AUTH}},
                    "post": {
                        "summary": "Add a schedule: a stored script run at cron times",
                        "requestBody": _body(
                            {
                                "type": "object",
                                "required": ["name", "script", "cron"],
                                **_SCHEDULE_FIELDS,
                            }
                        ),
                        "responses": {**_ok(None, "201"), **_AUTH, **_errors(404, 409)},
                    },
                },
                "/v1/cron/preview": {
                    "post": {
                        "summary": "The next runs of a cron line in a time zone, or what is wrong",
                        "requestBody": _body(
                            {
                                "type": "object",
                                "properties": {
                                    "cron": {"type": "string"},
                                    "timezone": {"type": "string"},
                                },
                            }
                        ),
                        "responses": {
                            **_ok(
                                {
                                    "type": "object",
                                    "required": ["runs", "errors"],
                                    "properties": {
                                        "runs": {"type": "array", "items": {"type": "number"}},
                                        "errors": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                }
                            ),
                            **_AUTH,
                        },
                    }
                },
                "/v1/schedules/{id}": {
                    "parameters": [_path_param("id")],
                    "get": {
                        "summary": "One schedule, by id or name",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                    "put": {
                        "summary": "Change a schedule; what is left out stays; the next run is new",
                        "requestBody": _body({"type": "object", **_SCHEDULE_FIELDS}),
                        "responses": {**_ok(), **_AUTH, **_errors(404, 409)},
                    },
                    "delete": {
                        "summary": "Remove a schedule (its jobs stay)",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                },
                "/v1/notifications": {
                    "get": {
                        "summary": "Notification rules (script= or schedule= for one's rules)",
                        "parameters": [
                            {"name": n, "in": "query", "schema": {"type": "string"}}
                            for n in ("script", "schedule")
                        ],
                        "responses": {**_ok(), **_AUTH},
                    },
                    "post": {
                        "summary": "Add a notification rule: email or webhook on a job's events",
                        "requestBody": _body(
                            {"type": "object", "required": ["name"], **_NOTIFICATION_FIELDS}
                        ),
                        "responses": {**_ok(None, "201"), **_AUTH, **_errors(404, 409)},
                    },
                },
                "/v1/notifications/{id}": {
                    "parameters": [_path_param("id")],
                    "get": {
                        "summary": "One notification rule, by id or name",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                    "delete": {
                        "summary": "Remove a notification rule",
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    },
                },
                "/v1/notifications/{id}/test": {
                    "post": {
                        "summary": "Send a test message through a rule; says sent or why not",
                        "parameters": [_path_param("id")],
                        "responses": {**_ok(), **_AUTH, **_errors(404)},
                    }
                },
                "/v1/health": {
                    "get": {"summary": "Liveness", "security": [], "responses": _ok()},
                },
                "/v1/openapi.json": {
                    "get": {"summary": "This document", "security": [], "responses": _ok()},
                },
            },
        }
    )
