"""AccountStore: the accounts of the web console, each with a role, and their browser sessions.

An account's role (:data:`aft.roles.ACCOUNT_ROLES`) is read on every request, so a
lowered role takes effect at the session's next request. There is always at least one
``admin``: the last one can be neither removed nor lowered.

Passwords are people's secrets, low in entropy, so they are hashed with argon2id (a
memory-hard function; argon2-cffi's RFC 9106 defaults: 64 MiB, 3 passes), never with a
fast hash. A login for an unknown name still spends one argon2 verification, so timing
does not tell which names exist.

A session is a random token in a cookie; only its SHA-256 is stored (the token has 256
bits of entropy, so a fast hash is right here, as for API keys). Each session also has a
CSRF token that the page sends back in a header on every change.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

import attrs

from aft import audit
from aft._store import Store
from aft.exceptions import AftError, AuthError, BadRequest
from aft.roles import ACCOUNT_ROLES, check_role

if TYPE_CHECKING:
    import argon2

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_COLUMNS = "id, username, created, updated, last_login, role"
_SEEN_EVERY = 60.0  # seconds between writes of a session's last use


@attrs.frozen
class Account:
    """A web console account (never its password hash).

    Attributes:
        id: ``acc_`` and 12 hex digits.
        username: what it signs in with.
        created: Unix seconds.
        updated: Unix seconds of the last change of its password or role.
        last_login: Unix seconds of its last sign-in, or None.
        role: ``viewer``, ``operator`` or ``admin`` (see :mod:`aft.roles`).
    """

    id: str
    username: str
    created: float
    updated: float
    last_login: float | None
    role: str = "admin"


class AccountError(BadRequest):
    """Bad input for an account; ``field`` names the form field it is about."""

    code = "invalid_account"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AccountExists(AftError, FileExistsError):
    """The name is taken, or the first administrator exists already (HTTP 409)."""

    code = "account_exists"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AccountNotFound(AftError, LookupError):
    code = "account_not_found"


@attrs.frozen
class Session:
    """A signed-in browser: whose it is, the account's role now, and the CSRF token its
    changes must carry."""

    account_id: str
    username: str
    csrf: str
    created: float
    seen: float
    role: str


def check_username(username: object) -> str:
    """``username`` if well formed. Raises AccountError (field ``username``)."""
    if not isinstance(username, str) or not username.strip():
        raise AccountError("enter a user name", "username")
    if not _USERNAME.match(username):
        raise AccountError(
            "a user name is 1 to 64 letters, digits and . _ @ -, starting with a letter or digit",
            "username",
        )
    return username


def check_password(password: object, username: str | None = None) -> str:
    """``password`` if strong enough to keep. Raises AccountError (field ``password``)."""
    if not isinstance(password, str) or not password:
        raise AccountError("enter a password", "password")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters", "password")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password has at most {MAX_PASSWORD} characters", "password")
    if username and password.strip().lower() == username.lower():
        raise AccountError("the password must not be the user name", "password")
    return password


def check_account_role(role: object) -> str:
    """``role`` if an account may have it. Raises AccountError (field ``role``)."""
    try:
        return check_role(role, ACCOUNT_ROLES)
    except ValueError as exc:
        raise AccountError(str(exc), "role") from None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountStore:
    """Administrators and sessions of the instance.

    Args:
        store: the instance database.
        hasher: the argon2id hasher (tests pass a cheaper one); default argon2-cffi's.
        idle: seconds a session lives without use.
        lifetime: seconds a session lives at most.
    """

    def __init__(
        self,
        store: Store,
        hasher: argon2.PasswordHasher | None = None,
        *,
        idle: float = 12 * 3600,
        lifetime: float = 7 * 86400,
    ) -> None:
        self._store = store
        if hasher is None:
            import argon2  # the server extra; Account alone needs none of it

            hasher = argon2.PasswordHasher(type=argon2.Type.ID)
        self._hasher = hasher
        self._idle = idle
        self._lifetime = lifetime
        self._dummy: str | None = None

    # ---- accounts -----------------------------------------------------------------------

    def needs_setup(self) -> bool:
        """True while there is no administrator (the web console shows its setup wizard)."""
        return not self._store.query("SELECT 1 FROM accounts LIMIT 1")

    def create(
        self, username: str, password: str, *, role: str = "admin", first: bool = False
    ) -> Account:
        """Add an account.

        Args:
            role: ``viewer``, ``operator`` or ``admin`` (the first account is an admin).
            first: only if there is none yet (the setup wizard); checked atomically.

        Raises:
            AccountError: a malformed name, a weak password or an unknown role.
            AccountExists: the name is taken, or ``first`` and an administrator exists.
        """
        check_password(password, check_username(username))
        check_account_role(role)
        hashed = self._hasher.hash(password)  # slow: outside the write lock
        account_id = "acc_" + secrets.token_hex(6)
        now = time.time()
        with self._store.transaction() as db:
            if first and db.execute("SELECT 1 FROM accounts LIMIT 1").fetchone():
                raise AccountExists("the first administrator has been created already")
            if db.execute("SELECT 1 FROM accounts WHERE username = ?", (username,)).fetchone():
                raise AccountExists(f"the user name {username!r} is taken", "username")
            if (
                role != "admin"
                and not db.execute("SELECT 1 FROM accounts WHERE role = 'admin' LIMIT 1").fetchone()
            ):
                raise AccountError("the first account is an administrator", "role")
            db.execute(
                "INSERT INTO accounts (id, username, hash, created, updated, role)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (account_id, username, hashed, now, now, role),
            )
            audit.record(db, "account.create", username, id=account_id, first=first, role=role)
        return self.get(account_id)

    def authenticate(self, username: str, password: str) -> Account:
        """The account whose name and password these are.

        Raises:
            AuthError: wrong name or password (the message does not say which).
        """
        from argon2.exceptions import InvalidHashError, VerificationError

        rows = []
        if isinstance(username, str) and username:
            rows = self._store.query(
                "SELECT id, hash FROM accounts WHERE username = ?", (username[:200],)
            )
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            password = ""
        stored = rows[0][1] if rows else self._dummy_hash()
        try:
            self._hasher.verify(stored, password)
            ok = bool(rows)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            # The name only when it is an account's: a password typed into the name field
            # must not land in the audit trail.
            audit.record_now(
                self._store,
                "auth.signin_failed",
                self.get(rows[0][0]).username if rows else "",
                reason="wrong password" if rows else "unknown user name",
            )
            raise AuthError("wrong user name or password")
        account_id = rows[0][0]
        now = time.time()
        if self._hasher.check_needs_rehash(stored):
            self._store.execute(
                "UPDATE accounts SET hash = ? WHERE id = ?",
                (self._hasher.hash(password), account_id),
            )
        with self._store.transaction() as db:
            db.execute("UPDATE accounts SET last_login = ? WHERE id = ?", (now, account_id))
            account = self.get(account_id)
            with audit.acting_as(f"account:{account.username}", audit.current_actor()[1]):
                audit.record(db, "account.signin", account.username, id=account_id)
        return account

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    def get(self, id_or_username: str) -> Account:
        """By id or user name (any case). Raises AccountNotFound."""
        rows = self._store.query(
            f"SELECT {_COLUMNS} FROM accounts WHERE id = ? OR username = ?",
            (id_or_username, id_or_username),
        )
        if not rows:
            raise AccountNotFound(f"no account {id_or_username!r}")
        return Account(*rows[0])

    def list(self) -> list[Account]:
        rows = self._store.query(f"SELECT {_COLUMNS} FROM accounts ORDER BY username")
        return [Account(*row) for row in rows]

    def set_password(self, id_or_username: str, password: str) -> Account:
        """Change a password; every session of that account ends. Raises AccountError."""
        account = self.get(id_or_username)
        hashed = self._hasher.hash(check_password(password, account.username))
        with self._store.transaction() as db:
            db.execute(
                "UPDATE accounts SET hash = ?, updated = ? WHERE id = ?",
                (hashed, time.time(), account.id),
            )
            db.execute("DELETE FROM ui_sessions WHERE account_id = ?", (account.id,))
            audit.record(db, "account.set_password", account.username, id=account.id)
        return self.get(account.id)

    def set_role(self, id_or_username: str, role: str) -> Account:
        """Change an account's role; its sessions keep going with the new role from their
        next request.

        Raises:
            AccountError: an unknown role, or it would leave no administrator.
            AccountNotFound: no such account.
        """
        check_account_role(role)
        account = self.get(id_or_username)
        with self._store.transaction() as db:
            if role != "admin":
                self._keep_an_admin(db, account.id, "lowered")
            db.execute(
                "UPDATE accounts SET role = ?, updated = ? WHERE id = ?",
                (role, time.time(), account.id),
            )
            audit.record(
                db,
                "account.set_role",
                account.username,
                id=account.id,
                role=role,
                was=account.role,
            )
        return self.get(account.id)

    @staticmethod
    def _keep_an_admin(db: Any, account_id: str, what: str) -> None:
        others = db.execute(
            "SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND id <> ?", (account_id,)
        ).fetchone()[0]
        if not others:
            raise AccountError(f"the last administrator cannot be {what}", "role")

    def remove(self, id_or_username: str) -> None:
        """Delete an account and its sessions; the last administrator cannot be removed."""
        account = self.get(id_or_username)
        with self._store.transaction() as db:
            self._keep_an_admin(db, account.id, "removed")
            db.execute("DELETE FROM ui_sessions WHERE account_id = ?", (account.id,))
            db.execute("DELETE FROM accounts WHERE id = ?", (account.id,))
            audit.record(db, "account.remove", account.username, id=account.id)

    def reset(self) -> None:
        """Forget every administrator and session (``aft reinit``): setup starts again."""
        with self._store.transaction() as db:
            db.execute("DELETE FROM ui_sessions")
            db.execute("DELETE FROM accounts")
            audit.record(db, "account.reset", "*")

    # ---- sessions -----------------------------------------------------------------------

    def open_session(self, account_id: str) -> tuple[str, Session]:
        """Start a session; returns the token for the cookie (kept only as a hash) and it."""
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
        with self._store.transaction() as db:
            db.execute(
                "DELETE FROM ui_sessions WHERE seen < ? OR created < ?",
                (now - self._idle, now - self._lifetime),
            )
            db.execute(
                "INSERT INTO ui_sessions (token_hash, account_id, csrf, created, seen)"
                " VALUES (?, ?, ?, ?, ?)",
                (_digest(token), account_id, csrf, now, now),
            )
        session = self.session(token)
        assert session is not None
        return token, session

    def session(self, token: str) -> Session | None:
        """The live session of ``token``, or None (unknown, expired, or its account gone)."""
        if not token or len(token) > 200:
            return None
        rows = self._store.query(
            "SELECT s.account_id, a.username, s.csrf, s.created, s.seen, a.role"
            " FROM ui_sessions s"
            " JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?",
            (_digest(token),),
        )
        if not rows:
            return None
        session = Session(*rows[0])
        now = time.time()
        if now - session.seen > self._idle or now - session.created > self._lifetime:
            self.close_session(token)
            return None
        if now - session.seen > _SEEN_EVERY:
            self._store.execute(
                "UPDATE ui_sessions SET seen = ? WHERE token_hash = ?", (now, _digest(token))
            )
        return session

    def close_session(self, token: str) -> None:
        """End a session (sign out); unknown tokens are ignored."""
        self._store.execute("DELETE FROM ui_sessions WHERE token_hash = ?", (_digest(token),))
