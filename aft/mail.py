"""Sending mail over SMTP: what SyncJS ``SendMail`` does, usable from Python too.

::

    from aft.mail import MailSettings, send_mail

    settings = MailSettings(host="smtp.example.com", user="robot", sender="robot@example.com")
    send_mail(settings, password, "", "ops@example.com, me@example.com", "Done", "All sent.",
              attachments=["/data/report.csv"])

TLS certificates are verified against the system's CAs, or against ``cafile`` when set
(the instance setting ``smtp_cafile``: a server with a private or self-signed
certificate is trusted by naming that certificate, never by turning checks off).
smtplib and email are imported when a message is sent, off the start-up path of
``aft run``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from aft.exceptions import MailError

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = ["TLS_MODES", "MailError", "MailSettings", "send_mail"]

#: ``starttls``: plain connection upgraded with STARTTLS (port 587); ``tls``: TLS from
#: the first byte (port 465); ``none``: no TLS at all.
TLS_MODES = ("starttls", "tls", "none")


@attrs.frozen
class MailSettings:
    """Where and how mail goes out.

    Attributes:
        host: the SMTP server; "" means mail is not configured.
        port: its port.
        tls: one of :data:`TLS_MODES`.
        user: the AUTH user; "" sends without logging in.
        password_secret: the name of the secret holding the AUTH password.
        sender: the From address used when a message gives none.
        cafile: a PEM file of certificates to trust instead of the system's ("").
        timeout: seconds for each network operation.
    """

    host: str = ""
    port: int = 587
    tls: str = attrs.field(default="starttls")
    user: str = ""
    password_secret: str = ""
    sender: str = ""
    cafile: str = ""
    timeout: float = 60.0

    @tls.validator
    def _check_tls(self, attribute: object, value: str) -> None:
        if value not in TLS_MODES:
            raise MailError(f"SMTP TLS mode must be one of {', '.join(TLS_MODES)}, not {value!r}")

    @classmethod
    def from_settings(cls, values: Mapping[str, object]) -> MailSettings:
        """Build from the instance settings (``smtp_host``, ``smtp_port``, ...).

        Args:
            values: setting values by key, e.g. ``Settings.all()``; missing keys keep
                their defaults.
        """
        get = values.get
        return cls(
            host=str(get("smtp_host", "")),
            port=int(str(get("smtp_port", 587))),
            tls=str(get("smtp_tls", "starttls")),
            user=str(get("smtp_user", "")),
            password_secret=str(get("smtp_password_secret", "")),
            sender=str(get("smtp_from", "")),
            cafile=str(get("smtp_cafile", "")),
        )


def send_mail(
    settings: MailSettings,
    password: str | None,
    sender: str,
    to: str | Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[str | os.PathLike[str]] = (),
) -> list[str]:
    """Send one plain-text message, with files attached.

    Every attachment is checked before the server is contacted, so a missing one sends
    nothing.

    Args:
        settings: the SMTP server and account.
        password: the AUTH password (used when ``settings.user`` is set).
        sender: the From address; "" uses ``settings.sender``.
        to: recipients, a comma-separated string or a list.
        subject: the subject line.
        body: the text of the message.
        attachments: local files to attach.

    Returns:
        The recipients' addresses.

    Raises:
        MailError: mail is not configured, an address or attachment is bad, or the
            server refused the message (the text says which).
    """
    if not settings.host:
        raise MailError(
            "mail is not configured: set smtp_host (and smtp_port, smtp_tls, smtp_user,"
            " smtp_password_secret, smtp_from as needed)"
        )
    if settings.cafile and not os.path.isfile(settings.cafile):
        raise MailError(f"the CA file {settings.cafile} (smtp_cafile) does not exist")
    message, recipients = _message(settings, sender, to, subject, body, attachments)
    import smtplib
    import ssl

    where = f"SMTP server {settings.host}:{settings.port}"
    try:
        context = ssl.create_default_context(cafile=settings.cafile or None)
        smtp: smtplib.SMTP
        if settings.tls == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.tls == "starttls":
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, password or "")
            smtp.send_message(message)
        return recipients
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"{where} refused the login of {settings.user!r}: {_reply(exc)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(exc.recipients)
        raise MailError(f"{where} refused the recipients {refused}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{where} said: {_reply(exc)}") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise MailError(f"cannot send through {where}: {reason}") from None


def _message(
    settings: MailSettings,
    sender: str,
    to: str | Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[str | os.PathLike[str]],
) -> tuple[EmailMessage, list[str]]:
    import mimetypes
    from email.message import EmailMessage
    from email.utils import formatdate, getaddresses, make_msgid

    sender = sender or settings.sender
    if not sender:
        raise MailError("no sender: give a From address or set smtp_from")
    recipients = [to] if isinstance(to, str) else list(to)
    addresses = [a for _, a in getaddresses(recipients) if a]
    if not addresses or any("@" not in a for a in addresses):
        raise MailError(f"bad recipient list {', '.join(recipients)!r}")
    files = [os.fspath(a) for a in attachments]
    for path in files:
        if not os.path.isfile(path):
            raise MailError(f"attachment not found: {path}")

    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(addresses)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid()
    message.set_content(body)
    for path in files:
        kind, encoding = mimetypes.guess_type(path)
        if kind is None or encoding is not None:
            kind = "application/octet-stream"
        main, sub = kind.split("/", 1)
        with open(path, "rb") as f:
            data = f.read()
        message.add_attachment(data, maintype=main, subtype=sub, filename=os.path.basename(path))
    return message, addresses


def _reply(exc: object) -> str:
    """An SMTP error reply as one line: ``535 authentication failed``."""
    code = getattr(exc, "smtp_code", "")
    text = getattr(exc, "smtp_error", b"")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {text}".split())
