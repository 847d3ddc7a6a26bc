"""Instance settings: a fixed set of typed keys stored in the ``settings`` table."""

from __future__ import annotations

from typing import NamedTuple

from aft import audit
from aft._store import Store
from aft.exceptions import InvalidSetting, UnknownSetting

Value = bool | int | str

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class SettingDef(NamedTuple):
    """One known setting: its key, type, default and a line of help."""

    key: str
    type: type
    default: Value
    help: str
    low: int = 0
    high: int | None = None
    choices: tuple[str, ...] = ()
    folders: bool = False  # a list of absolute folders separated by ':'

    def parse(self, raw: object) -> Value:
        """Turn ``raw`` (typed, or text from the CLI or the database) into this setting's type.

        Raises:
            InvalidSetting: when ``raw`` is not a valid value.
        """
        if self.type is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise InvalidSetting(f"{self.key} takes true or false, not {raw!r}")
        if self.type is int:
            if isinstance(raw, bool):
                raise InvalidSetting(f"{self.key} takes a whole number, not {raw!r}")
            try:
                number = int(str(raw).strip())
            except ValueError:
                raise InvalidSetting(f"{self.key} takes a whole number, not {raw!r}") from None
            if number < self.low or (self.high is not None and number > self.high):
                top = "" if self.high is None else f" to {self.high}"
                raise InvalidSetting(f"{self.key} takes {self.low}{top}, not {number}")
            return number
        if self.folders:
            relative = [p for p in str(raw).split(":") if p and not p.startswith("/")]
            if relative:
                raise InvalidSetting(f"{self.key} takes absolute folders, not {relative[0]!r}")
        if not self.choices:
            return str(raw)
        choice = str(raw).strip().lower()
        if choice not in self.choices:
            raise InvalidSetting(f"{self.key} takes {' | '.join(self.choices)}, not {raw!r}")
        return choice


SETTINGS: dict[str, SettingDef] = {
    d.key: d
    for d in (
        SettingDef(
            "allow_cli_run", bool, False, "let `aft run` execute script files in the calling shell"
        ),
        SettingDef(
            "record_cli_runs",
            bool,
            True,
            "record each `aft run` as a job (trigger cli) with its log, in the job list",
        ),
        SettingDef(
            "transfer_journal",
            bool,
            True,
            "record each file a job moves or deletes (size, SHA-256, outcome): aft transfers",
        ),
        SettingDef(
            "job_retention_days",
            int,
            0,
            "finished jobs and their logs are purged this many days after they end (0 = never)",
        ),
        SettingDef(
            "transfer_retention_days",
            int,
            0,
            "transfer records are purged this many days after their file started (0 = never)",
        ),
        SettingDef(
            "audit_retention_days",
            int,
            0,
            "audit entries are purged after this many days (0 = never; keep it the longest)",
        ),
        SettingDef(
            "transfer_files_in_flight",
            int,
            0,
            "files a client's Upload or Download batch moves at once (1 = one at a time;"
            " 0 = as each connection asks: over SFTP and FTP 4 to 64 by its round trip, else 16)",
            0,
            256,
        ),
        SettingDef("allow_exec", bool, False, "let scripts start local programs with Exec()"),
        SettingDef(
            "allow_file_path",
            bool,
            False,
            "let an admin key's POST /v1/jobs run a script file (filePath) from file_path_roots",
        ),
        SettingDef(
            "file_path_roots",
            str,
            "",
            "the folders (separated by ':') whose script files filePath jobs may run",
            folders=True,
        ),
        SettingDef("bind", str, "127.0.0.1", "the address aft serve listens on"),
        SettingDef(
            "failed_key_attempts",
            int,
            30,
            "wrong API keys a client address may send in a minute before it must wait (429)",
            1,
            1000000,
        ),
        SettingDef("port", int, 44399, "the port aft serve listens on", 1, 65535),
        SettingDef("tls", bool, True, "serve HTTPS (a self-signed certificate unless replaced)"),
        SettingDef("concurrency", int, 2, "how many jobs run at once", 1, 64),
        SettingDef(
            "halt_grace_seconds", int, 3, "seconds between a halt request and the kill", 0, 3600
        ),
        SettingDef("job_memory_mb", int, 1024, "memory limit of each job's process (0 = none)"),
        SettingDef(
            "max_run_seconds",
            int,
            0,
            "a job running longer is halted, then killed (0 = no limit; a script may set its own)",
        ),
        SettingDef(
            "log_line_bytes",
            int,
            16384,
            "a longer job log line is cut (with a marker)",
            256,
            1048576,
        ),
        SettingDef(
            "job_log_mb", int, 64, "a job's log stops (with one notice) at this size", 1, 100000
        ),
        SettingDef("smtp_host", str, "", "the SMTP server SendMail() uses (empty: mail is off)"),
        SettingDef("smtp_port", int, 587, "the SMTP server's port", 1, 65535),
        SettingDef(
            "smtp_tls",
            str,
            "starttls",
            "starttls (port 587), tls (port 465) or none",
            choices=("starttls", "tls", "none"),
        ),
        SettingDef("smtp_user", str, "", "the SMTP login (empty: send without logging in)"),
        SettingDef(
            "smtp_password_secret", str, "", "the name of the secret holding the SMTP password"
        ),
        SettingDef("smtp_from", str, "", "the sender when a script gives none"),
        SettingDef(
            "smtp_cafile", str, "", "a PEM file of CAs to trust for SMTP (empty: the system's)"
        ),
    )
}


class Settings:
    """Read and write the instance settings.

    Args:
        store: the instance database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def definition(key: str) -> SettingDef:
        try:
            return SETTINGS[key]
        except KeyError:
            known = ", ".join(sorted(SETTINGS))
            raise UnknownSetting(f"unknown setting {key!r} (known: {known})") from None

    def get(self, key: str) -> Value:
        """The value of ``key`` (its default when never set). Raises UnknownSetting."""
        definition = self.definition(key)
        rows = self._store.query("SELECT value FROM settings WHERE key = ?", (key,))
        return definition.parse(rows[0][0]) if rows else definition.default

    def set(self, key: str, value: object) -> Value:
        """Parse and store ``value`` for ``key``; returns the stored value."""
        parsed = self.definition(key).parse(value)
        text = str(parsed).lower() if isinstance(parsed, bool) else str(parsed)
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )
            audit.record(db, "setting.set", key, value=text)  # no setting holds a secret
        return parsed

    def all(self) -> dict[str, Value]:
        """Every known setting with its current value, sorted by key."""
        stored = dict(self._store.query("SELECT key, value FROM settings"))
        return {
            key: d.parse(stored[key]) if key in stored else d.default
            for key, d in sorted(SETTINGS.items())
        }

    def reset(self) -> None:
        """Forget every stored value (back to the defaults)."""
        marks = ", ".join("?" * len(SETTINGS))
        with self._store.transaction() as db:
            db.execute(f"DELETE FROM settings WHERE key IN ({marks})", tuple(SETTINGS))
            audit.record(db, "setting.reset", "*")
