"""``client.Options`` and how a remote client's Upload or Download batch follows them.

Where the contract leaves room, this module chooses:

- Kept versions of a replaced file (``VersionedUpload``/``VersionedDownload``) are named
  ``name.~1~`` (the newest) up to ``name.~N~`` (N = ``VersionsToKeepRemote``/``Local``);
  older ones are deleted. A file skipped by the overwrite policy is not versioned.
- ``Upload``/``Download``: a path without ``*?[`` must name a file; a glob (in the last part
  only) that matches nothing is no failure (logged at info). A file skipped by the
  overwrite policy counts as done.
- ``OTFE``: the remote copy is an OpenPGP message (:mod:`aft.otfe`). ``OverwriteIfDiffSize``
  compares the remote size with the size the local file has once encrypted, exact for
  files aft encrypted. A key set while ``OTFE`` is false is refused: the script meant to
  encrypt. A download that fails to decrypt (wrong key, damaged or foreign file) keeps
  nothing, not even the plain text decrypted before the check at the message's end.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aft.exceptions import (
    PgpError,
    VfsError,
    VfsIntegrityError,
    VfsIsADirectory,
    VfsNotFound,
    VfsUnsupported,
)
from aft.syncjs.declarations import ScriptRecord
from aft.syncjs.engine import HostTypeError

if TYPE_CHECKING:
    from typing import Literal

    from aft.journal import FileRecord, Progress, Tracker
    from aft.models import FileInfo
    from aft.syncjs.host import HaltSignal
    from aft.vfs.base import Vfs

    Operation = Literal["Upload", "Download"]

#: The overwrite policies, by their script constants' values (0, 1, 2, 3).
POLICIES = ("NeverOverwrite", "AlwaysOverwrite", "OverwriteIfDiffSize", "OverwriteIfNewer")
NEVER, ALWAYS, IF_DIFF_SIZE, IF_NEWER = range(len(POLICIES))
#: The script constants of this module.
CONSTANTS: dict[str, Any] = {name: value for value, name in enumerate(POLICIES)}


#: Options of the original product that aft does not implement: a script that turns one
#: on is refused, never sent on as if it had worked.
NOT_IMPLEMENTED = {
    "OnDownloadGrantTo": "Windows ACLs cannot be granted on this system; nothing was sent",
}


class TransferOptions(ScriptRecord):
    """``client.Options``: each client's copy starts with these defaults.

    An option aft does not know, or knows but does not implement, is refused when it is
    set (to anything but off or empty): never silently ignored.
    """

    UploadPolicy: int = NEVER
    DownloadPolicy: int = NEVER
    StopOnTransferError: bool = False
    UploadWithTempName: bool = True
    DownloadWithTempName: bool = True
    DeleteSourceAfterUpload: bool = False
    DeleteSourceAfterDownload: bool = False
    AdjustTimeOnUpload: bool = False
    AdjustTimeOnDownload: bool = False
    VersionedUpload: bool = False
    VersionedDownload: bool = False
    VersionsToKeepRemote: int = 3
    VersionsToKeepLocal: int = 3
    OTFE: bool = False
    OTFEKey: str = ""
    OTFEKeyFromSecret: str = ""

    @classmethod
    def read(cls, given: Any, owner: str) -> TransferOptions:
        """The options a script set, checked; one aft does not honour is refused.

        Raises:
            HostTypeError: a field of the wrong type, or an option set that aft does not
                implement (``OTFE``, ...) or does not know.
        """
        if isinstance(given, dict):
            known = cls.defaults()
            for name, value in given.items():
                if name in known or value in (False, None, "", 0):
                    continue
                reason = NOT_IMPLEMENTED.get(name, "aft has no such option")
                raise HostTypeError(f"{owner}.{name} is refused: {reason}")
        return super().read(given, owner)


class TransferPolicy:
    """What ``client.Options`` say for one Upload or Download batch.

    Args:
        op: ``"Upload"`` or ``"Download"``.
        policy: the overwrite policy (an index of :data:`POLICIES`).
        temp_name: write to a temporary name, renamed when complete.
        delete_source: remove each source file once it is sent.
        adjust_time: give each target its source's modification time.
        versions: versions of a replaced file to keep; 0: none.
        stop_on_error: stop the batch at the first failed file.
        otfe_key: the key of on-the-fly encryption; None: none.
    """

    __slots__ = (
        "op", "policy", "temp_name", "delete_source", "adjust_time", "versions",
        "stop_on_error", "otfe_key",
    )  # fmt: skip

    def __init__(
        self,
        op: Operation,
        policy: int,
        temp_name: bool,
        delete_source: bool,
        adjust_time: bool,
        versions: int,
        stop_on_error: bool,
        otfe_key: str | None = None,
    ) -> None:
        self.op = op
        self.policy = policy
        self.temp_name = temp_name
        self.delete_source = delete_source
        self.adjust_time = adjust_time
        self.versions = versions
        self.stop_on_error = stop_on_error
        self.otfe_key = otfe_key

    @classmethod
    def read(
        cls,
        options: Any,
        op: Operation,
        owner: str,
        secret: Callable[[str], str | None] = lambda name: None,
    ) -> TransferPolicy:
        """Read and check the options for ``op``.

        Args:
            options: the script's ``client.Options``.
            op: ``"Upload"`` or ``"Download"``.
            owner: how messages name the options (``"SftpClient.Options"``).
            secret: a secret's value by its name (None when missing), for
                ``OTFEKeyFromSecret``.

        Raises:
            HostTypeError: an option of the wrong type or value, or OTFE options that do
                not give exactly one key.
            VfsError: ``OTFEKeyFromSecret`` names no secret.
        """
        given = TransferOptions.read(options, owner)
        policy = getattr(given, f"{op}Policy")
        if policy not in range(len(POLICIES)):
            raise HostTypeError(
                f"{owner}.{op}Policy: unknown policy {policy} (use {', '.join(POLICIES)})"
            )
        keep = given.VersionsToKeepRemote if op == "Upload" else given.VersionsToKeepLocal
        return cls(
            op,
            policy,
            getattr(given, f"{op}WithTempName"),
            getattr(given, f"DeleteSourceAfter{op}"),
            getattr(given, f"AdjustTimeOn{op}"),
            max(keep, 0) if getattr(given, f"Versioned{op}") else 0,
            given.StopOnTransferError,
            otfe_key(given, owner, secret),
        )

    def replaces(self, src: FileInfo, existing: FileInfo) -> bool:
        """Whether the policy lets ``src`` replace the ``existing`` target.

        With OTFE, sizes are compared as stored: the plain side's size once encrypted.
        """
        src_size, dst_size = src.size, existing.size
        if self.otfe_key is not None:
            from aft.otfe import encrypted_size

            if self.op == "Upload":
                src_size = encrypted_size(src_size)
            else:
                dst_size = encrypted_size(dst_size)
        return (
            self.policy == ALWAYS
            or (self.policy == IF_DIFF_SIZE and src_size != dst_size)
            or (self.policy == IF_NEWER and int(src.mtime) > int(existing.mtime))
        )


def otfe_key(given: TransferOptions, owner: str, secret: Callable[[str], str | None]) -> str | None:
    """The OTFE key the options give (None: no OTFE); refused unless there is exactly one."""
    key, name = given.OTFEKey, given.OTFEKeyFromSecret
    if not given.OTFE:
        if key or name:
            field = "OTFEKey" if key else "OTFEKeyFromSecret"
            raise HostTypeError(
                f"{owner}.{field} is set but {owner}.OTFE is false: set OTFE = true to "
                "encrypt (or clear the key); nothing was sent"
            )
        return None
    if key and name:
        raise HostTypeError(
            f"{owner}: set OTFEKey or OTFEKeyFromSecret, not both; nothing was sent"
        )
    if not (key or name):
        raise HostTypeError(
            f"{owner}.OTFE is true but no key is given: set OTFEKey or OTFEKeyFromSecret; "
            "nothing was sent"
        )
    if key:
        return key
    found = secret(name)
    if not found:
        why = "is empty" if found == "" else "does not exist"
        raise VfsError(f"{owner}.OTFEKeyFromSecret: the secret {name!r} {why}; nothing was sent")
    return found


class Batch:
    """One Upload or Download: the files a path or glob names, sent as a policy says.

    Up to ``files_in_flight`` files are in flight at once, each through the same per-file
    steps as alone: files up to :data:`aft.vfs.base.SMALL_FILE` in one batch of the remote
    side from this thread where it has one (:meth:`small_files`), the others one per
    thread (:func:`aft.vfs.base.in_parallel`); with ``StopOnTransferError`` one at a
    time, in order, so that no file after the first failed one is sent. For the policy,
    the destination folder of a wildcard is listed once (and made when missing); a single
    file's target is looked up alone. Each failed file is logged once, naming its path.
    Once the halt signal is set no file starts; those under way end.

    Args:
        policy: what the options say.
        log: ``log(level, text)`` into the job log.
        halt: the run's halt signal; no file starts once it is set.
        tracker: follows the run's transfers: each file sent is recorded (None: not).
        files_in_flight: how many files move at once (the setting
            ``transfer_files_in_flight``; 1: one after another; None: what the two
            sides ask for, :func:`aft.vfs.base.batch_width`).
    """

    def __init__(
        self,
        policy: TransferPolicy,
        log: Callable[[str, str], None],
        halt: HaltSignal,
        tracker: Tracker | None = None,
        files_in_flight: int | None = None,
    ) -> None:
        self.policy = policy
        self.files_in_flight = files_in_flight
        self._log = log
        self._lock = threading.Lock()
        self.halt = halt
        self.tracker = tracker.doing(policy.op.lower()) if tracker else None

    def log(self, level: str, text: str) -> None:
        """``log(level, text)``, one line at a time from any thread."""
        with self._lock:
            self._log(level, text)

    def run(self, src: Vfs, pattern: str, dst: Vfs, dst_dir: str) -> bool:
        """Send the files ``pattern`` names into ``dst_dir``; True if every one went."""
        from aft.vfs.base import SMALL_FILE, batches_between, in_parallel, join

        op = self.policy.op
        if not any(c in pattern for c in "*?["):
            info = src.stat(pattern)
            if info.is_dir:
                raise VfsIsADirectory(
                    f"{pattern}: is a directory (to send its files, use {join(pattern, '*')})"
                )
            files = [info]
            dst.prepare_write(info.size)  # meanwhile: the look at the target takes a round trip
            present = target_of(dst, join(dst_dir, info.name))
        else:
            files = src.glob(pattern)
            if not files:
                self.log("info", f"{op}: no file matches {pattern}")
                return True
            present = targets(dst, dst_dir)
        failed = done = 0
        if self.tracker:
            self.tracker.expect(len(files))

        def send(src: Vfs, dst: Vfs, info: FileInfo) -> None:
            self.send(src, info, dst, join(dst_dir, info.name), present)

        def stop() -> bool:
            return self.halt.is_set() or bool(failed and self.policy.stop_on_error)

        def outcomes() -> Iterator[tuple[FileInfo, VfsError | None]]:
            rest = files
            if len(files) > 1 and self.pipelined() and batches_between(src, dst):
                small = {f.path for f in files if not f.is_dir and f.size <= SMALL_FILE}
                left: list[FileInfo] = []
                yield from self.small_files(
                    src, [f for f in files if f.path in small], dst, dst_dir, present, left
                )
                rest = left + [f for f in files if f.path not in small]
            workers = 1 if self.policy.stop_on_error else self.files_in_flight
            yield from in_parallel(src, dst, rest, send, workers=workers, stop=stop)

        for info, error in outcomes():
            done += 1
            if error is not None:
                self.log("error", f"{op}: {info.path}: {error}")
                failed += 1
        if done < len(files) and self.halt.is_set():
            stopped = f"stopped after {done} of {len(files)} files"
            self.log("warn", f"{op}: halt signal received; {stopped}")
            return False
        if failed and done < len(files):
            stopped = "stopped at the first failed file (StopOnTransferError)"
            self.log("warn", f"{op}: {stopped}")
        return not failed

    def pipelined(self) -> bool:
        """Whether the options let small files move in the remote side's batch of small
        files: not one at a time (``StopOnTransferError``), no OTFE, no kept versions."""
        policy = self.policy
        return not policy.stop_on_error and policy.otfe_key is None and not policy.versions

    def small_files(
        self,
        src: Vfs,
        files: list[FileInfo],
        dst: Vfs,
        dst_dir: str,
        present: dict[str, FileInfo],
        left: list[FileInfo],
    ) -> Iterator[tuple[FileInfo, VfsError | None]]:
        """Send ``files`` (small, as :meth:`pipelined` allows) in one batch of the remote
        side (:meth:`Vfs.write_many` up, :meth:`Vfs.read_many` down) from this thread, each
        through the same steps as :meth:`send`; yields each file's outcome.

        A file the batch could not send (its error may be the batch's own: a folder it
        does not make, a rename the server refuses), and after a dropped connection every
        file not yet sent, is added to ``left`` for :meth:`send`, which says why if it
        fails again. No file starts once the halt signal is set.
        """
        from aft.vfs.base import join, small_file_batch

        decided: list[tuple[FileInfo, VfsError | None]] = []  # before their bytes moved

        def starting() -> Iterator[tuple[FileInfo, str]]:
            for info in files:
                if self.halt.is_set():
                    return
                target = join(dst_dir, info.name)
                try:
                    go = self.starts(src, info, dst, target, present)
                except VfsError as exc:
                    decided.append((info, exc))
                    continue
                if go:
                    yield info, target
                else:
                    decided.append((info, None))

        undone: list[tuple[FileInfo, str]] = []
        for info, target, error in small_file_batch(
            src,
            dst,
            starting(),
            undone,
            use_temp_name=self.policy.temp_name and not dst.atomic_writes,
            in_flight=self.files_in_flight,
            tracker=self.tracker,
        ):
            yield from _taken(decided)
            if error is None:
                try:
                    self.finish(src, info, dst, target)
                except VfsError as exc:
                    error = exc
            yield info, error
        left.extend(info for info, _ in undone)
        yield from _taken(decided)

    def starts(
        self, src: Vfs, info: FileInfo, dst: Vfs, dst_path: str, present: dict[str, FileInfo]
    ) -> bool:
        """Whether ``info`` is sent to ``dst_path`` as the policy says, given what is
        ``present`` in the destination (False: skipped, logged as such).

        Raises:
            VfsIsADirectory: a folder is in the way.
        """
        policy, op = self.policy, self.policy.op
        existing = present.get(dst_path)
        if existing is None:
            return True
        if existing.is_dir:
            error = VfsIsADirectory(f"{dst_path}: is a directory")
            if self.tracker:
                from aft.vfs.base import name_of

                where = (name_of(src), info.path, name_of(dst), dst_path)
                self.tracker.note(self.tracker.op, *where, error=error)
            raise error
        if not policy.replaces(info, existing):
            why = f"{dst_path} exists ({POLICIES[policy.policy]})"
            self.log("info", f"{op}: skipped {info.path}: {why}")
            if self.tracker:
                from aft.vfs.base import name_of

                self.tracker.skip(name_of(src), info.path, name_of(dst), dst_path, why)
            return False
        return True

    def send(
        self, src: Vfs, info: FileInfo, dst: Vfs, dst_path: str, present: dict[str, FileInfo]
    ) -> None:
        """One file of the batch, as the policy says, given what is ``present`` in the
        destination (by path)."""
        from aft.vfs.base import temp_name

        policy = self.policy
        if not self.starts(src, info, dst, dst_path, present):
            return
        existing = present.get(dst_path)
        temp = policy.temp_name and not dst.atomic_writes
        keep = policy.versions if existing is not None else 0
        if keep and temp:  # the old file is kept as a version only once the new one is complete
            tmp = temp_name(dst_path)
            self.copy(src, info, dst, tmp, use_temp_name=False)
            try:
                keep_versions(dst, dst_path, keep)
                dst.rename(tmp, dst_path)
            except BaseException:
                with contextlib.suppress(VfsError):
                    dst.remove(tmp)
                raise
        else:
            if keep:
                keep_versions(dst, dst_path, keep)
            self.copy(src, info, dst, dst_path, use_temp_name=temp)
        self.finish(src, info, dst, dst_path)

    def finish(self, src: Vfs, info: FileInfo, dst: Vfs, dst_path: str) -> None:
        """What follows a file sent to ``dst_path``: its time kept, its source deleted, as
        the options say, and its line in the log."""
        policy, op = self.policy, self.policy.op
        if policy.adjust_time:
            try:
                dst.chtimes(dst_path, info.mtime, info.mtime)
            except VfsUnsupported as exc:
                self.log("warn", f"{op}: {dst_path}: time not kept ({exc})")
        if policy.delete_source:
            try:
                src.remove(info.path)
            except BaseException as exc:
                self._note_delete(src, info, exc)
                raise
            self._note_delete(src, info, None)
        self.log("info", f"{op}: {info.path} -> {dst_path} ({info.size} bytes)")

    def copy(
        self, src: Vfs, info: FileInfo, dst: Vfs, dst_path: str, *, use_temp_name: bool
    ) -> None:
        """One file's bytes: :func:`copy`, or through OTFE."""
        key = self.policy.otfe_key
        if key is None:
            copy(
                src,
                info.path,
                dst,
                dst_path,
                use_temp_name=use_temp_name,
                source=info,
                progress=self.tracker,
            )
            return
        from aft.vfs.base import name_of

        tracker = self.tracker
        record = tracker.start(name_of(src), info.path, name_of(dst), dst_path) if tracker else None
        try:
            copy_otfe(
                src, info, dst, dst_path, key, self.policy.op == "Upload", use_temp_name, record
            )
        except BaseException as exc:
            if record:
                record.end(exc)
            raise
        if record:
            record.end()

    def _note_delete(self, src: Vfs, info: FileInfo, error: BaseException | None) -> None:
        if self.tracker:
            from aft.vfs.base import name_of

            self.tracker.note("delete", name_of(src), info.path, error=error, size=info.size)


def _taken(
    items: list[tuple[FileInfo, VfsError | None]],
) -> Iterator[tuple[FileInfo, VfsError | None]]:
    """Each of ``items``, removed as it is taken."""
    while items:
        yield items.pop(0)


def target_of(dst: Vfs, path: str) -> dict[str, FileInfo]:
    """What is at ``path`` already (by path; empty when nothing is): one stat, where a
    listing of its folder could be long (a missing folder is made when the file is)."""
    try:
        return {path: dst.stat(path)}
    except VfsNotFound:
        return {}


def targets(dst: Vfs, folder: str) -> dict[str, FileInfo]:
    """What is in ``folder`` already (by path): one listing, made when it is missing."""
    try:
        return {info.path: info for info in dst.listdir(folder)}
    except VfsNotFound:
        dst.makedirs(folder)
        return {}


def copy(
    src: Vfs,
    src_path: str,
    dst: Vfs,
    dst_path: str,
    *,
    use_temp_name: bool = True,
    source: FileInfo | None = None,
    progress: Callable[[Progress], object] | Tracker | None = None,
) -> None:
    """:func:`aft.vfs.base.copy_file`, imported on first use."""
    from aft.vfs.base import copy_file

    copy_file(
        src,
        src_path,
        dst,
        dst_path,
        use_temp_name=use_temp_name,
        source=source,
        progress=progress,
    )


def copy_otfe(
    src: Vfs,
    info: FileInfo,
    dst: Vfs,
    dst_path: str,
    key: str,
    seal: bool,
    use_temp_name: bool,
    record: FileRecord | None = None,
) -> None:
    """Stream one file from ``src`` to ``dst``, encrypted (``seal``) or decrypted with ``key``.

    As :func:`aft.vfs.base.copy_file`, the bytes go to a temporary name renamed when
    complete; on any failure what was written is removed, so a file that does not decrypt
    leaves nothing behind. ``record`` counts (and hashes) the bytes written.

    Raises:
        VfsIntegrityError: the file does not decrypt, or changed while it was read.
    """
    from aft.otfe import PART, decrypting, encrypted_size, encrypting
    from aft.vfs.base import temp_name

    direct = dst.atomic_writes or not use_temp_name
    target = dst_path if direct else temp_name(dst_path)
    try:
        written = 0
        with src.open_read(info.path) as raw, dst.open_write(target) as writer:
            stream = encrypting(raw, key) if seal else decrypting(raw, key)
            while chunk := stream.read(PART):
                writer.write(chunk)
                written += len(chunk)
                if record:
                    record.add(chunk)
            if seal and written != encrypted_size(info.size):  # raised here, an upload aborts
                raise VfsIntegrityError(f"{info.path}: changed while it was read")
        if not direct:
            dst.rename(target, dst_path)
    except PgpError as exc:
        _discard(dst, target)
        raise VfsIntegrityError(
            f"OTFE: cannot decrypt {info.path}: {exc}; nothing was kept"
        ) from None
    except BaseException:
        _discard(dst, target)
        raise


def _discard(vfs: Vfs, path: str) -> None:
    """Remove what a failed write left at ``path`` (an object store wrote nothing)."""
    if not vfs.atomic_writes:
        with contextlib.suppress(VfsError, OSError):
            vfs.remove(path)


def lookup(vfs: Vfs, path: str) -> FileInfo | None:
    """What is at ``path``, or None when nothing is."""
    try:
        return vfs.stat(path)
    except VfsNotFound:
        return None


def keep_versions(vfs: Vfs, path: str, keep: int) -> None:
    """Rename ``path`` to ``path.~1~``, shifting older versions up to ``path.~keep~``."""
    names = [path, *(f"{path}.~{n}~" for n in range(1, keep + 1))]
    with contextlib.suppress(VfsNotFound):
        vfs.remove(names[-1])
    for n in range(keep, 0, -1):
        with contextlib.suppress(VfsNotFound):
            vfs.rename(names[n - 1], names[n])
