"""Atomic writes: a crash never leaves a half-written checkpoint or result file.

What a write does to the path it is given:

* nothing there: a new file with the permissions ``open()`` would give (the user's umask);
* a regular file: replaced, keeping its permission bits; a read-only one is refused;
* a symlink: followed, so its target gets the data and the link stays a link; with
  ``follow_symlinks=False`` the link itself is replaced by a file and its target is left alone;
* a folder, a FIFO, a socket or a device: refused, never replaced.

An error while writing names the path the caller gave, never the temporary file.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def output_target(path: str | os.PathLike, follow_symlinks: bool = True) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or a symlink's final target.

    Args:
        path: the path a write was asked for; it need not exist yet.
        follow_symlinks: False returns a symlink ``path`` itself (the write replaces the link).

    Returns:
        The path to replace: ``path``, or the final target when ``path`` is a symlink
        followed.

    Raises:
        ValueError: ``path`` is (or leads to) a folder, a FIFO, a socket, a device, or a
            symlink loop or a symlink that cannot be followed.
        PermissionError: ``path`` is an existing read-only file.
    """
    path = Path(path)
    if not follow_symlinks and path.is_symlink():
        return path
    try:
        target = path.resolve() if path.is_symlink() else path
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        raise ValueError(f"{path} is a symlink loop; give a file path") from None
    except OSError as error:
        raise ValueError(f"{path} cannot be followed ({error.strerror}); give a file path") from None
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # not there yet (writing creates the folders)
        return target
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a folder, not a file; give a file path")
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise ValueError(f"{path} is {kind}; refusing to replace it, give a regular file path")
    if not os.access(target, os.W_OK):
        raise PermissionError(f"{path} is read-only; make it writable or give another path")
    return target


def _naming(error: OSError, path) -> OSError:
    """The same kind of error, naming the path the caller gave (not a temporary file)."""
    return type(error)(error.errno, f"cannot be written ({error.strerror}); choose a writable location",
                       str(path))


@contextmanager
def atomic_path(path: str | Path, follow_symlinks: bool = True):
    """A temporary path next to ``path``'s target that replaces the target if the block succeeds.

    If the block raises, the temporary file is removed and the target is left as it was.
    The replaced file keeps the target's permission bits, or gets those a plain ``open()``
    would give (see the module docstring for folders, symlinks and special files).

    Args:
        path: the file to write.
        follow_symlinks: False replaces a symlink ``path`` itself, leaving its target alone.

    Yields:
        The temporary :class:`~pathlib.Path` to write to.

    Raises:
        ValueError: as :func:`output_target`.
        PermissionError: as :func:`output_target`.
        OSError: the file cannot be written; the error names ``path``.
    """
    target = output_target(path, follow_symlinks)
    try:
        existing = target.lstat().st_mode
    except OSError:
        existing = None
    existing = existing if existing is not None and stat.S_ISREG(existing) else None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise _naming(error, path) from None
    os.close(fd)
    try:
        try:
            yield Path(tmp)
        except OSError as error:  # the writer failed on the temporary file (a full disk ...)
            if error.errno is not None and error.filename in (None, tmp, Path(tmp)):
                raise _naming(error, path) from None
            raise
        try:
            # mkstemp makes the file 0600; give it the mode a plain open() would
            os.chmod(tmp, stat.S_IMODE(existing) if existing is not None else 0o666 & ~_umask())
            os.replace(tmp, target)
        except OSError as error:
            raise _naming(error, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, follow_symlinks: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: the file to write (see :func:`atomic_path`).
        text: the contents.
        follow_symlinks: False replaces a symlink ``path`` itself, leaving its target alone.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    with atomic_path(path, follow_symlinks) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data, indent: int = 2) -> Path:
    """Write ``data`` as JSON, keys in their given order and a final newline, atomically.

    Args:
        path: the file to write (see :func:`atomic_path`).
        data: any object ``json.dumps`` accepts.
        indent: spaces per nesting level.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    return write_text(path, json.dumps(data, indent=indent, sort_keys=False) + "\n")


def torch_save(obj, path: str | Path, follow_symlinks: bool = True) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically; the same object always gives the same bytes.

    Args:
        obj: anything ``torch.save`` accepts.
        path: the file to write (see :func:`atomic_path`).
        follow_symlinks: False replaces a symlink ``path`` itself, leaving its target alone.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import torch

    with atomic_path(path, follow_symlinks) as tmp, open(tmp, "wb") as fh:
        # through a file object the archive inside is named "archive", not after the random
        # temporary name, so the same object always gives the same bytes
        torch.save(obj, fh)
    return Path(path)
