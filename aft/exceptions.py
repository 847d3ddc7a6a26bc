"""The whole error tree of aft.

Every error aft raises derives from :class:`AftError` and carries a stable ``code``
(used by the REST API and the CLI). A class may also derive from the builtin it
resembles, so ``except FileNotFoundError`` works as well as ``except AftError``::

    AftError
    ├── BadRequest (ValueError)         a malformed request to the REST API
    │   └── PayloadTooLarge             a request body over the limit (HTTP 413)
    ├── NotFound (LookupError)          no such route or object (REST API)
    ├── MethodNotAllowed
    ├── ServiceError                    an unexpected failure inside the service
    ├── ServiceUnavailable (ConnectionError)  the service cannot be reached
    ├── ConfigError                     bad instance home, setting key or value
    │   ├── UnknownSetting (KeyError)
    │   └── InvalidSetting (ValueError)
    ├── StoreError                      the instance database
    │   ├── StoreCorrupt
    │   └── SchemaTooNew
    ├── SecretError
    │   └── SecretNotFound (KeyError)
    ├── ScriptError                     a script that cannot be loaded or started
    │   ├── ScriptNotFound (FileNotFoundError)
    │   ├── ScriptExists (FileExistsError)
    │   └── ParamsError (ValueError)
    ├── AuthError (PermissionError)     no, an unknown or a revoked API key (HTTP 401)
    │   ├── Forbidden                   an address or scope not allowed (HTTP 403)
    │   └── ApiKeyNotFound (LookupError)
    ├── ScheduleError                   a bad cron, time zone, params or overlap
    │   ├── ScheduleNotFound (LookupError)
    │   └── ScheduleExists (FileExistsError)
    ├── MailError                       a message that cannot be built or sent
    ├── PgpError (ValueError)           a PGP key or message that cannot be used
    │   └── PgpPassphraseError          a missing or wrong key passphrase
    ├── JobError
    │   ├── JobNotFound (LookupError)
    │   ├── JobAlreadyEnded
    │   ├── JobConflict                 an idempotency key reused for another request
    │   ├── JobWaitTimeout (TimeoutError)  a job not ended when its waiter gave up
    │   └── CliRunDisabled (PermissionError)
    └── VfsError                        any file-system or transfer failure
        ├── VfsNotFound (FileNotFoundError)
        ├── VfsExists (FileExistsError)
        ├── VfsNotADirectory (NotADirectoryError)
        ├── VfsIsADirectory (IsADirectoryError)
        ├── VfsDirectoryNotEmpty (OSError)
        ├── VfsPermission (PermissionError)
        ├── VfsPathError (ValueError)   a path that is malformed or escapes its root
        ├── VfsConfigError (ValueError) a VFS entry's name, type or payload aft cannot take
        ├── VfsUnsupported (NotImplementedError)
        ├── VfsIntegrityError           size or checksum mismatch after a transfer
        ├── VfsConnectionError (ConnectionError)
        │   └── VfsHostKeyError         missing or mismatching host-key pin
        └── MissingExtra (ImportError)  an optional library is not installed

This module imports nothing from aft.
"""

from __future__ import annotations


class AftError(Exception):
    """Base class of every aft error."""

    code = "aft_error"


class BadRequest(AftError, ValueError):
    code = "bad_request"


class PayloadTooLarge(BadRequest):
    code = "payload_too_large"


class NotFound(AftError, LookupError):
    code = "not_found"


class MethodNotAllowed(AftError):
    code = "method_not_allowed"


class ServiceError(AftError):
    code = "internal"


class ServiceUnavailable(AftError, ConnectionError):
    code = "unreachable"


class ConfigError(AftError):
    code = "config_error"


class UnknownSetting(ConfigError, KeyError):
    code = "unknown_setting"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidSetting(ConfigError, ValueError):
    code = "invalid_setting"


class StoreError(AftError):
    code = "store_error"


class StoreCorrupt(StoreError):
    code = "store_corrupt"


class SchemaTooNew(StoreError):
    code = "schema_too_new"


class SecretError(AftError):
    code = "secret_error"


class SecretNotFound(SecretError, KeyError):
    code = "secret_not_found"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ScriptError(AftError):
    code = "script_error"


class ScriptNotFound(ScriptError, FileNotFoundError):
    code = "script_not_found"


class ScriptExists(ScriptError, FileExistsError):
    code = "script_exists"


class ParamsError(ScriptError, ValueError):
    code = "bad_params"


class AuthError(AftError, PermissionError):
    code = "unauthorized"


class Forbidden(AuthError):
    code = "forbidden"


class ApiKeyNotFound(AuthError, LookupError):
    code = "api_key_not_found"


class ScheduleError(AftError, ValueError):
    code = "schedule_error"


class ScheduleNotFound(ScheduleError, LookupError):
    code = "schedule_not_found"


class ScheduleExists(ScheduleError, FileExistsError):
    code = "schedule_exists"


class NotificationError(AftError, ValueError):
    """A notification rule aft would not honour (event, channel, address, secret...)."""

    code = "notification_error"


class NotificationNotFound(NotificationError, LookupError):
    code = "notification_not_found"


class NotificationExists(NotificationError, FileExistsError):
    code = "notification_exists"


class MailError(AftError):
    """A message could not be built or sent (settings, addresses, attachments, server)."""

    code = "mail_error"


class PgpError(AftError, ValueError):
    """A key or a message that cannot be used: malformed, the wrong key, tampered data."""

    code = "pgp_error"


class PgpPassphraseError(PgpError):
    """The private key is protected, and its passphrase is missing or wrong."""

    code = "pgp_passphrase"


class JobError(AftError):
    code = "job_error"


class JobNotFound(JobError, LookupError):
    code = "job_not_found"


class JobAlreadyEnded(JobError):
    code = "job_ended"


class JobConflict(JobError):
    code = "job_conflict"


class JobWaitTimeout(JobError, TimeoutError):
    code = "job_wait_timeout"


class CliRunDisabled(JobError, PermissionError):
    code = "cli_run_disabled"


class VfsError(AftError):
    code = "vfs_error"


class VfsNotFound(VfsError, FileNotFoundError):
    code = "vfs_not_found"


class VfsExists(VfsError, FileExistsError):
    code = "vfs_exists"


class VfsNotADirectory(VfsError, NotADirectoryError):
    code = "vfs_not_a_directory"


class VfsIsADirectory(VfsError, IsADirectoryError):
    code = "vfs_is_a_directory"


class VfsDirectoryNotEmpty(VfsError, OSError):
    code = "vfs_directory_not_empty"


class VfsPermission(VfsError, PermissionError):
    code = "vfs_permission"


class VfsPathError(VfsError, ValueError):
    code = "vfs_bad_path"


class VfsConfigError(VfsError, ValueError):
    code = "vfs_bad_config"


class VfsUnsupported(VfsError, NotImplementedError):
    code = "vfs_unsupported"


class VfsIntegrityError(VfsError):
    code = "vfs_integrity"


class VfsConnectionError(VfsError, ConnectionError):
    code = "vfs_connection"


class VfsHostKeyError(VfsConnectionError):
    code = "vfs_host_key"


class MissingExtra(VfsError, ImportError):
    code = "missing_extra"


def error_class(code: str) -> type[AftError]:
    """The error class with this stable ``code`` (AftError itself for an unknown code)."""
    pending: list[type[AftError]] = [AftError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls
        pending.extend(cls.__subclasses__())
    return AftError
