"""One writer per output: an exclusive ``fcntl.flock`` on ``<output>.lock`` held for a whole run; and an
output that cannot be written (a read-only folder, a full disk) named in one line.

The lock file records the holder's PID, so a second writer is refused with a message naming it. The
kernel drops the lock when the holder exits, however it exits (SIGKILL and the OOM killer included), so
a stale ``.lock`` file left behind never blocks the next run. Used by every command that writes an
output a second run could also write: ``envs.generate``/``rerender``/``merge`` (whose inputs are kept from
writers by a shared lock: ``unwritten_input``), ``alignment.embed`` and
the training run directories; ``claimed_output`` adds the overwrite check for commands that write one
file (``alignment.evaluate``, ``recognition.evaluate``/``retrieve``).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from typing import Iterator, List

# What a failed write says when the folder or the disk is the problem, not the program.
WRITE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class OutputLocked(RuntimeError):
    """Another process holds the output's lock."""


class OutputNotWritable(OSError):
    """The output cannot be written: a read-only or unwritable folder, or a full disk."""


def is_disk_full(err: Exception) -> bool:
    # HDF5's own write errors may reach Python without an errno (even as RuntimeError), with it in the message.
    return getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(err)


def is_write_error(err: Exception) -> bool:
    """Whether ``err`` says the output's folder or disk cannot take the write (rather than a bug)."""
    return getattr(err, "errno", None) in WRITE_ERRNOS or is_disk_full(err)


def not_writable(output: str, err: OSError, kept: str = "") -> OutputNotWritable:
    """``err``, raised writing ``output`` or a temp file beside it, as one line naming the output and the fix
    (``kept`` says what the output still holds)."""
    folder = os.path.dirname(os.path.abspath(output))
    if is_disk_full(err):
        free = shutil.disk_usage(folder).free if os.path.isdir(folder) else 0
        return OutputNotWritable(f"no space left on the disk of {folder} ({free / 2**20:.0f} MiB free) to write "
                                 f"{output}{kept}; free some space or choose an output on another disk")
    return OutputNotWritable(f"cannot write {output}: {err.strerror or err} in {folder}{kept}; "
                             f"choose an output in a folder you can write to")


class LocksUnsupported(OSError):
    """The output's filesystem refuses file locks."""


def _lock(fd: int, operation: int, output: str) -> None:
    """``flock`` without waiting; a filesystem that refuses locks (NFS without a lock daemon, Lustre mounted
    without ``flock``) is named in one line, since one writer per output cannot be kept there."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        raise
    except OSError as err:
        if err.errno not in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL):
            raise
        folder = os.path.dirname(os.path.abspath(output))
        raise LocksUnsupported(f"cannot lock {output}: the filesystem of {folder} does not support file "
                               f"locks ({err.strerror}); write it on a local disk, or mount that "
                               f"filesystem with locking (Lustre: -o flock; NFS: a running lock "
                               f"daemon)") from None


def lock_path(output: str) -> str:
    """The lock file beside ``output`` (for a directory, inside its parent, named after it)."""
    output = os.path.realpath(output.rstrip(os.sep))  # one lock however the path is spelt (symlinks too)
    return os.path.join(os.path.dirname(output), f".{os.path.basename(output)}.lock")


@contextlib.contextmanager
def exclusive_output(output: str, what: str = "output") -> Iterator[None]:
    """Hold ``output``'s lock for the ``with`` block; refuse at once if another process holds it."""
    path = lock_path(output)
    try:  # the first write of a run: a folder that cannot be written is named here
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise not_writable(output, err) from None
    try:
        try:
            _lock(fd, fcntl.LOCK_EX, output)
        except BlockingIOError:
            if _readers_only(fd):
                readers = ", ".join(map(str, lock_holders(fd)))
                raise OutputLocked(f"{output} is being read by a merge{f' (PID {readers})' if readers else ''}; wait "
                                   f"for it to finish or choose another {what}") from None
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise OutputLocked(f"{output} is being written by another run (PID {holder}); wait for it to finish "
                               f"or choose another {what}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def lock_holders(fd: int, locks: str = "/proc/locks") -> List[int]:
    """The PIDs holding ``flock`` locks on the file open at ``fd``, as Linux lists them in ``/proc/locks`` (a
    merge's shared locks write no PID into the lock file: there may be several); empty where it is not listed
    (another OS, a lock taken on another NFS client)."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open(locks) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    # "1: FLOCK  ADVISORY  READ 30706 fe:00:5530462 0 EOF" (blocked requests start "1: -> FLOCK ...")
    return sorted({int(fields[4]) for fields in (line.split() for line in lines)
                   if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == inode})


def _readers_only(fd: int) -> bool:
    """Whether the lock an exclusive request was refused is held shared (by ``unwritten_input``), not by a writer."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


@contextlib.contextmanager
def unwritten_input(path: str) -> Iterator[None]:
    """Keep writers of the input ``path`` out for the ``with`` block (a shared lock on its lock file), refusing at
    once while one runs: a shard still being generated would otherwise be read part-way. An input whose folder
    this user cannot write and which no run ever locked, or on a filesystem without locks, has no writer that
    could be kept out."""
    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:
            fd = os.open(lock, os.O_RDONLY)  # flock needs no write access
        except OSError:
            fd = None
    try:
        try:
            if fd is not None:
                _lock(fd, fcntl.LOCK_SH, path)
        except LocksUnsupported:  # nor could a writer take one there
            pass
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise OutputLocked(f"{path} is being written by another run (PID {holder}); wait for it to finish, "
                               f"then read it") from None
        yield
    finally:
        if fd is not None:
            os.close(fd)


def check_output(path: str, overwrite: bool) -> None:
    """An output file is replaced only when asked (``overwrite=true``), and is never a directory."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"out={path!r} is a directory; give a file path")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another out= or replace it with overwrite=true")


@contextlib.contextmanager
def claimed_output(output: str, overwrite: bool, what: str = "out") -> Iterator[None]:
    """Hold ``output``'s lock for the ``with`` block and refuse an existing file unless ``overwrite``: the
    check runs inside the lock, so of two runs started together one is refused rather than silently
    replacing the other's file."""
    with exclusive_output(output, what):
        check_output(output, overwrite)
        yield
