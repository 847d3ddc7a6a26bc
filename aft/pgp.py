"""OpenPGP file encryption and decryption (what SyncJS ``PGPEncryptFile`` and
``PGPDecryptFile`` do), on Sequoia-PGP through pysequoia: no gpg binary, no keyring.

::

    from aft.pgp import decrypt_file, encrypt_file

    encrypt_file("report.csv", "report.csv.pgp", "/keys/partner.asc")
    decrypt_file("in.pgp", "in.csv", private_key_armored, passphrase="...")

Output goes to a temporary name beside the target and is renamed only when complete, so
a failure never leaves a file (whole or partial) under the target's name. The output of
:func:`encrypt_file` is binary OpenPGP unless the target's name ends in ``.asc``
(ASCII armor). Both read whatever GnuPG and other OpenPGP tools write.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aft.exceptions import PgpError, PgpPassphraseError

if TYPE_CHECKING:
    import pysequoia

__all__ = ["PgpError", "PgpPassphraseError", "decrypt_file", "encrypt_file"]

_ARMOR = "-----BEGIN PGP"


def encrypt_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    public_key: str,
    *,
    armor: bool | None = None,
) -> None:
    """Encrypt ``src`` into ``dst`` for the holders of ``public_key``.

    Args:
        src: the file to encrypt.
        dst: where the encrypted file goes (replaced when it exists).
        public_key: an armored public key (``-----BEGIN PGP PUBLIC KEY BLOCK-----...``),
            or the path of a key file (armored or binary). A key ring encrypts for
            every key in it.
        armor: ASCII armor instead of binary; default: when ``dst`` ends in ``.asc``.

    Raises:
        FileNotFoundError: ``src`` or the key file is missing.
        PgpError: the key cannot be used for encryption.
        OSError: reading or writing failed.
    """
    sequoia = _sequoia()
    certs = _certs(sequoia, public_key)
    if armor is None:
        armor = os.fspath(dst).endswith(".asc")
    _need_file(src)
    with _replacing(dst) as tmp, _translated("cannot encrypt"):
        sequoia.encrypt_file(src, tmp, certs, armor=armor)


def decrypt_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    private_key: str,
    passphrase: str | None = None,
) -> None:
    """Decrypt ``src`` into ``dst`` with ``private_key``.

    Args:
        src: the encrypted file (binary or armored).
        dst: where the plain file goes (replaced when it exists).
        private_key: the armored private key (``-----BEGIN PGP PRIVATE KEY BLOCK-----``).
        passphrase: the key's passphrase, when it is protected by one.

    Raises:
        FileNotFoundError: ``src`` is missing.
        PgpPassphraseError: the key is protected and the passphrase is missing or wrong.
        PgpError: not a private key, not the key the file was encrypted for, or the file
            is not an intact OpenPGP message.
        OSError: reading or writing failed.
    """
    sequoia = _sequoia()
    decryptor = _decryptor(sequoia, private_key, passphrase)
    _need_file(src)
    with _replacing(dst) as tmp, _translated(f"cannot decrypt {os.fspath(src)}"):
        sequoia.decrypt_file(src, tmp, decryptor)


def _sequoia() -> Any:
    try:
        import pysequoia
    except ImportError:  # the pgp extra
        raise PgpError("PGP needs the 'pysequoia' package: pip install 'aft[pgp]'") from None
    return pysequoia


def _first_line(exc: BaseException) -> str:
    """Sequoia's message without its cause chain and backtrace."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except RuntimeError as exc:  # Sequoia's errors arrive as RuntimeError
        raise PgpError(f"{what}: {_first_line(exc)}") from None


def _need_file(path: str | os.PathLike[str]) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(2, "No such file", os.fspath(path))


def _certs(sequoia: Any, key: str) -> list[pysequoia.Cert]:
    if not isinstance(key, str) or not key.strip():
        raise PgpError("no public key given")
    if key.lstrip().startswith(_ARMOR):
        with _translated("not a usable public key"):
            return list(sequoia.Cert.split_bytes(key.encode()))
    _need_file(key)
    with _translated(f"{key} is not a usable public key"):
        return list(sequoia.Cert.split_file(key))


def _decryptor(sequoia: Any, key: str, passphrase: str | None) -> Any:
    if not key.lstrip().startswith(_ARMOR):
        raise PgpError("the private key must be ASCII-armored (-----BEGIN PGP PRIVATE KEY...)")
    if key.lstrip().startswith(f"{_ARMOR} PUBLIC KEY"):
        raise PgpError("that is a public key, not a private one")
    with _translated("not a usable private key"):
        tsk = sequoia.Tsk.from_bytes(key.encode())
    try:
        return tsk.decryptor()
    except RuntimeError as unprotected:
        if "encrypted" not in str(unprotected):
            raise PgpError(f"not a usable private key: {_first_line(unprotected)}") from None
    if not passphrase:
        raise PgpPassphraseError("the private key is protected by a passphrase; none was given")
    try:
        return tsk.decryptor(passphrase)
    except RuntimeError:
        raise PgpPassphraseError("the passphrase does not unlock the private key") from None


@contextlib.contextmanager
def _replacing(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary sibling of ``path``; rename it over ``path`` on success."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.aft-part-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
