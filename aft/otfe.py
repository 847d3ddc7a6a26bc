"""On-the-fly encryption (OTFE) of transferred files: OpenPGP symmetric encryption, streamed.

What is written is a standard OpenPGP message (RFC 4880, and RFC 9580's version 1
packets) that ``gpg --decrypt`` reads given the key as a passphrase:

- a Symmetric-Key Encrypted Session Key packet (version 4, AES-256, iterated and salted
  S2K with SHA-256, a fresh 8-byte salt per file, the largest count: 65,011,712 bytes),
- a Symmetric Encrypted Integrity Protected Data packet (version 1: AES-256 in CFB mode
  with a random prefix, and a SHA-1 Modification Detection Code over the whole plain text),
- holding one Literal Data packet (binary, no file name) with the file's bytes.

Both packets of unknown length use partial body lengths of 64 KiB, so neither direction
ever holds more than a chunk in memory. The framing depends only on the plain size, so
:func:`encrypted_size` tells the stored size of any plain size.

Reading also takes what ``gpg --symmetric`` writes (AES-128/192/256, any S2K of RFC 4880,
an encrypted session key, ZIP, ZLIB or BZip2 compression). Decryption streams plain text
before the integrity code at the end is checked: a reader must discard its output when
:class:`aft.exceptions.PgpError` is raised.

::

    with open("x.csv", "rb") as plain, open("x.csv.pgp", "wb") as out:
        shutil.copyfileobj(encrypting(plain, key), out)
"""

from __future__ import annotations

import bz2
import hashlib
import io
import os
import struct
import time
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from aft.exceptions import PgpError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher

__all__ = ["DAMAGED", "decrypting", "encrypted_size", "encrypting"]

#: The reason every failed integrity or key check gives: the two cannot be told apart.
DAMAGED = "wrong key or damaged file"
#: Size of each partial body (a power of two, at least 512 as RFC 4880 requires).
PART = 1 << 16
_AES = {7: 16, 8: 24, 9: 32}  # cipher algorithm id: key size
_HASHES = {
    1: "md5",
    2: "sha1",
    3: "ripemd160",
    8: "sha256",
    9: "sha384",
    10: "sha512",
    11: "sha224",
}
_AES256, _SHA256, _COUNT = 9, 8, 0xFF
_SKESK, _SEIPD, _LITERAL, _COMPRESSED, _MARKER = 3, 18, 11, 8, 10
_LITERAL_HEAD = 6  # format byte, empty name (its length byte), 4-byte date


# ---- writing ---------------------------------------------------------------------------------


def encrypting(plain: BinaryIO, key: str) -> BinaryIO:
    """A readable stream of ``plain`` encrypted with ``key`` (see the module's format)."""
    return _reader(_encrypt(plain, key))


def encrypted_size(size: int) -> int:
    """The size of what :func:`encrypting` makes of ``size`` plain bytes."""
    inner = _framed(_LITERAL_HEAD + size)
    return 2 + 13 + _framed(1 + 16 + 2 + inner + 22)


def _framed(length: int) -> int:
    """A packet's size with its header, for a body of ``length`` bytes (see ``_Framer``)."""
    parts = max(0, (length - 1) // PART)
    return 1 + parts + len(_length(length - parts * PART)) + length


def _encrypt(plain: BinaryIO, key: str) -> Iterator[bytes]:
    salt = os.urandom(8)
    session = _s2k(key.encode(), _HASHES[_SHA256], salt, _count(_COUNT), 32)
    skesk = bytes([4, _AES256, 3, _SHA256]) + salt + bytes([_COUNT])
    yield _header(_SKESK) + _length(len(skesk)) + skesk
    cfb = _cfb(session).encryptor()
    mdc = hashlib.sha1()
    outer, inner = _Framer(_SEIPD), _Framer(_LITERAL)

    def seal(data: bytes) -> bytes:
        mdc.update(data)
        return outer.feed(cfb.update(data))

    prefix = os.urandom(16)
    yield outer.feed(b"\x01") + seal(prefix + prefix[-2:])
    yield seal(inner.feed(b"b\x00" + struct.pack(">I", int(time.time()) & 0xFFFFFFFF)))
    while chunk := plain.read(PART):
        yield seal(inner.feed(chunk))
    yield seal(inner.close() + b"\xd3\x14")
    yield outer.feed(cfb.update(mdc.digest()) + cfb.finalize()) + outer.close()


class _Framer:
    """A packet's header and body in partial lengths of :data:`PART`, the last one definite."""

    def __init__(self, tag: int) -> None:
        self.pending = bytearray(_header(tag))
        self.body = bytearray()

    def feed(self, data: bytes) -> bytes:
        self.body += data
        while len(self.body) > PART:
            self.pending += bytes([224 + PART.bit_length() - 1]) + self.body[:PART]
            del self.body[:PART]
        out = bytes(self.pending)
        self.pending.clear()
        return out

    def close(self) -> bytes:
        out = bytes(self.pending) + _length(len(self.body)) + bytes(self.body)
        self.pending.clear()
        self.body.clear()
        return out


def _header(tag: int) -> bytes:
    return bytes([0xC0 | tag])


def _length(n: int) -> bytes:
    """A new-format definite body length."""
    if n < 192:
        return bytes([n])
    if n < 8384:
        return bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
    return b"\xff" + struct.pack(">I", n)


# ---- keys --------------------------------------------------------------------------------------


def _count(coded: int) -> int:
    return (16 + (coded & 15)) << ((coded >> 4) + 6)


def _s2k(passphrase: bytes, hash_name: str, salt: bytes, count: int, size: int) -> bytes:
    """RFC 4880 string-to-key: ``count`` bytes of salt+passphrase hashed (0: just once)."""
    data = salt + passphrase
    if not data:
        raise PgpError("an empty key cannot be used")
    left_each = max(count, len(data))
    block = data * max(1, PART // len(data))
    key, preload = b"", 0
    while len(key) < size:
        digest = hashlib.new(hash_name, bytes(preload))
        preload += 1
        left = left_each
        while left >= len(block):
            digest.update(block)
            left -= len(block)
        digest.update((data * (left // len(data) + 1))[:left])
        key += digest.digest()
    return key[:size]


def _cfb(key: bytes) -> Cipher[Any]:
    """AES in OpenPGP's CFB mode (a zero IV: the message's random prefix serves as one)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    try:
        from cryptography.hazmat.decrepit.ciphers.modes import CFB
    except ImportError:  # cryptography < 47
        from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[no-redef]
    return Cipher(algorithms.AES(key), CFB(bytes(16)))


# ---- reading -----------------------------------------------------------------------------------


def decrypting(cipher: BinaryIO, key: str) -> BinaryIO:
    """A readable stream of the plain text of the OpenPGP message ``cipher``.

    Raises (while it is read):
        PgpError: the key is wrong or the message damaged (:data:`DAMAGED`), or it is not
            a symmetrically encrypted OpenPGP message of a kind this module reads.
    """
    return _reader(_decrypt(_Source(iter(lambda: cipher.read(PART), b"")), key.encode()))


def _decrypt(source: _Source, key: bytes) -> Iterator[bytes]:
    sessions: list[tuple[int, bytes]] = []
    while True:
        tag, body = _packet(source)
        if tag == _SKESK and not sessions:
            sessions.append(_session(b"".join(body), key))
        elif tag == _MARKER:
            b"".join(body)
        elif tag == _SEIPD and sessions:
            break
        elif tag == 1:
            raise PgpError("not an OTFE file: it is encrypted for a public key")
        else:
            raise PgpError("not an OpenPGP message encrypted with a key (a passphrase)")
    plain = _Source(_integrity_checked(body, *sessions[0]))
    try:
        yield from _literal(plain)
        rest = plain.some(1)
    except PgpError as exc:  # in what was decrypted, nonsense is a wrong key or damage
        if str(exc).startswith("unsupported"):
            raise
        raise PgpError(DAMAGED) from None
    if rest or source.some(1):
        raise PgpError(f"{DAMAGED} (data after the message)")


def _session(skesk: bytes, key: bytes) -> tuple[int, bytes]:
    """The cipher and session key an SKESK packet gives for ``key``."""
    if len(skesk) < 4 or skesk[0] != 4:
        raise PgpError("unsupported OpenPGP key packet (only version 4 is read)")
    algo, s2k, hash_id = skesk[1], skesk[2], skesk[3]
    if algo not in _AES or hash_id not in _HASHES or s2k not in (0, 1, 3):
        raise PgpError("unsupported OpenPGP cipher or key derivation (AES and RFC 4880 S2K only)")
    if len(skesk) < {0: 4, 1: 12, 3: 13}[s2k]:
        raise PgpError(DAMAGED)
    salt = skesk[4:12] if s2k else b""
    count = _count(skesk[12]) if s2k == 3 else 0
    rest = skesk[4 + len(salt) + (s2k == 3) :]
    derived = _s2k(key, _HASHES[hash_id], salt, count, _AES[algo])
    if not rest:
        return algo, derived
    opened = _cfb(derived).decryptor().update(rest)
    if opened[0] not in _AES or len(opened) != 1 + _AES[opened[0]]:
        raise PgpError(DAMAGED)
    return opened[0], opened[1:]


def _integrity_checked(body: Iterator[bytes], algo: int, key: bytes) -> Iterator[bytes]:
    """The decrypted contents of an SEIPD body, its prefix and MDC checked and removed."""
    data = _Source(body)
    if data.exact(1) != b"\x01":
        raise PgpError("unsupported OpenPGP encrypted data (only version 1 is read)")
    cfb = _cfb(key).decryptor()
    prefix = cfb.update(data.exact(18))
    if prefix[14:16] != prefix[16:18]:
        raise PgpError(DAMAGED)
    mdc = hashlib.sha1(prefix)
    held = b""
    while chunk := data.some(PART):
        held += cfb.update(chunk)
        if len(held) > 22:
            out, held = held[:-22], held[-22:]
            mdc.update(out)
            yield out
    held += cfb.finalize()
    if len(held) != 22 or held[:2] != b"\xd3\x14":
        raise PgpError(DAMAGED)
    mdc.update(held[:2])
    if mdc.digest() != held[2:]:
        raise PgpError(DAMAGED)


def _literal(source: _Source) -> Iterator[bytes]:
    """The data of the one Literal Data packet in ``source`` (maybe inside compression)."""
    tag, body = _packet(source)
    if tag == _COMPRESSED:
        inner = _Source(_inflated(_Source(body)))
        yield from _literal(inner)
        if inner.some(1):
            raise PgpError("unsupported OpenPGP message (more than one file in it)")
        return
    if tag != _LITERAL:
        raise PgpError("unsupported OpenPGP message (signed, or not a single file)")
    data = _Source(body)
    data.exact(1)
    data.exact(data.exact(1)[0] + 4)
    while chunk := data.some(PART):
        yield chunk


def _inflated(body: _Source) -> Iterator[bytes]:
    """The contents of a Compressed Data packet's body, a chunk at a time."""
    algo = body.exact(1)[0]
    chunks = iter(lambda: body.some(PART), b"")
    try:
        if algo == 0:
            yield from chunks
        elif algo == 3:
            unpack = bz2.BZ2Decompressor()
            for chunk in chunks:
                yield unpack.decompress(chunk, PART)
                while not unpack.needs_input and not unpack.eof:
                    yield unpack.decompress(b"", PART)
        elif algo in (1, 2):
            inflate = zlib.decompressobj(-15 if algo == 1 else 15)
            for chunk in chunks:
                while chunk:
                    yield inflate.decompress(chunk, PART)
                    chunk = inflate.unconsumed_tail
            yield inflate.flush()
        else:
            raise PgpError(f"unsupported OpenPGP compression ({algo})")
    except (zlib.error, OSError, EOFError):
        raise PgpError(DAMAGED) from None


def _packet(source: _Source) -> tuple[int, Iterator[bytes]]:
    """The next packet's tag and a stream of its body (partial lengths joined)."""
    first = source.exact(1)[0]
    if not first & 0x80:
        armored = first == ord("-") and source.some(13) == b"----BEGIN PGP"
        raise PgpError(
            "ASCII-armored OpenPGP is not read (binary only)"
            if armored
            else "not an OpenPGP message (was it stored without OTFE?)"
        )
    if first & 0x40:
        return first & 0x3F, _new_body(source)
    kind = first & 3
    if kind == 3:
        return (first >> 2) & 15, iter(lambda: source.some(PART), b"")
    size = int.from_bytes(source.exact(1 << kind), "big")
    return (first >> 2) & 15, source.chunks(size)


def _new_body(source: _Source) -> Iterator[bytes]:
    while True:
        octet = source.exact(1)[0]
        if octet < 192:
            size = octet
        elif octet < 224:
            size = ((octet - 192) << 8) + source.exact(1)[0] + 192
        elif octet == 255:
            size = int.from_bytes(source.exact(4), "big")
        else:
            yield from source.chunks(1 << (octet & 0x1F))
            continue
        yield from source.chunks(size)
        return


class _Source:
    """Bytes from an iterator of chunks, read exactly or in pieces."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes; ``b""`` only at the end."""
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer = chunk
        out, self._buffer = self._buffer[:limit], self._buffer[limit:]
        return out

    def exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes; a message that ends before is damaged."""
        out = b""
        while len(out) < size:
            piece = self.some(size - len(out))
            if not piece:
                raise PgpError(f"{DAMAGED} (it ends too early)")
            out += piece
        return out

    def chunks(self, size: int) -> Iterator[bytes]:
        """The next ``size`` bytes, in pieces."""
        while size:
            piece = self.some(min(size, PART))
            if not piece:
                raise PgpError(f"{DAMAGED} (it ends too early)")
            size -= len(piece)
            yield piece


class _Reader(io.RawIOBase):
    """A readable binary stream over an iterator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _reader(chunks: Iterator[bytes]) -> BinaryIO:
    return io.BufferedReader(_Reader(chunks), PART)  # type: ignore[return-value]
