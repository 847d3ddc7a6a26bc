"""The SFTP profile: its fields, target grammar and host-key rule, readable without
paramiko (see sftp.py)."""

from __future__ import annotations

from collections.abc import Mapping

from aft.exceptions import VfsPathError
from aft.vfs.base import Field, VfsSchema

#: Target parameter -> hash of the host key it pins.
PINS = {"hostKeySHA256": "sha256", "hostKeySHA1": "sha1", "hostKeyMD5": "md5"}
_FETCH = "aft connects only to a server that presents this key. Fetch it, check it with"
_MUST_PIN = (
    "an SFTP target must pin the server's host key (?hostKeySHA256=...);"
    " aft vfs hostkey sftp://HOST:PORT prints it"
)


class SftpSchema(VfsSchema):
    """Target ``sftp://user@host:port/base?hostKeySHA256=...`` (or ``hostKeySHA1`` /
    ``hostKeyMD5``; ``&timeout=30``: seconds to wait at each connection step), payload
    ``{"pass"}`` and/or ``{"key": PEM, "keyPass"}``. The base path is absolute on the
    server (``/home/bob/outbox``, not ``outbox``).

    A profile must pin the server's host key, with one pin.
    """

    type_name = "SFTP"
    summary = "SSH file transfer; the server's host key is pinned"
    noun = "an SFTP target"
    shape = "sftp://user@host:port/path?hostKeySHA256=..."
    schemes = ("sftp",)
    target_fields = (
        Field("host", "Host", part="host", kind="host", required=True,
              placeholder="sftp.example.com"),
        Field("port", "Port", part="port", kind="port", initial="22", placeholder="22"),
        Field("user", "User", part="user", required=True),
        Field("path", "Base folder", part="path", kind="path", default="/", placeholder="/"),
        Field("hostKeySHA256", "Host key (SHA-256)", placeholder="SHA256:…", action="hostkey",
              help=f"{_FETCH} the server's administrator, then pin it.",
              about="host key|fingerprint|hostKey"),
        Field("hostKeySHA1", "Host key (SHA-1)", advanced=True,
              help="Instead of the SHA-256 pin, for a server that shows only this one."),
        Field("hostKeyMD5", "Host key (MD5)", advanced=True,
              help="Instead of the SHA-256 pin, for a server that shows only this one."),
        Field("timeout", "Connect timeout (seconds)", kind="number", default="30",
              advanced=True, about="timeout",
              help="Seconds to wait for the server at each step of connecting (TCP, SSH"
                   " banner, key exchange, login) and for each request."),
    )  # fmt: skip
    payload_fields = (
        Field("pass", "Password", secret=True, about="password"),
        Field("key", "Private key (PEM)", kind="multiline", secret=True,
              placeholder="-----BEGIN OPENSSH PRIVATE KEY-----", about="private key"),
        Field("keyPass", "Key passphrase", secret=True, about="passphrase|keyPass"),
    )  # fmt: skip

    @classmethod
    def pin(cls, fields: Mapping[str, str]) -> tuple[str, str] | None:
        """The host key pin of the fields, as ``(hash, fingerprint)``; None when none.

        Raises:
            VfsPathError: for more than one pin.
        """
        pins = [(PINS[name], str(fields.get(name) or "").strip()) for name in PINS]
        given = [pin for pin in pins if pin[1]]
        if len(given) > 1:
            raise VfsPathError("an SFTP target takes one host key pin")
        return given[0] if given else None

    @classmethod
    def check_fields(cls, fields: Mapping[str, str]) -> dict[str, str]:
        problems = super().check_fields(fields)
        try:
            if cls.pin(fields) is None:
                problems.setdefault("hostKeySHA256", _MUST_PIN)
        except VfsPathError as exc:
            problems.setdefault("hostKeySHA256", str(exc))
        return problems
