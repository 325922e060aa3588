"""Atomic writes: a crash never leaves a half-written checkpoint or result file.

What a write does to the path it is given:

* nothing there: a new file with the permissions ``open()`` would give (the user's umask);
* a regular file: replaced, keeping its permission bits; a read-only one is refused;
* a symlink: followed, so its target gets the data and the link stays a link;
* a folder, a FIFO, a socket or a device: refused, never replaced.
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


def output_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or a symlink's final target.

    Args:
        path: the path a write was asked for; it need not exist yet.

    Returns:
        The path to replace: ``path``, or the final target when ``path`` is a symlink.

    Raises:
        ValueError: ``path`` is (or leads to) a folder, a FIFO, a socket, a device, or a
            symlink loop or a symlink that cannot be followed.
        PermissionError: ``path`` is an existing read-only file.
    """
    path = Path(path)
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


@contextmanager
def atomic_path(path: str | Path):
    """A temporary path next to ``path``'s target that replaces the target if the block succeeds.

    If the block raises, the temporary file is removed and the target is left as it was.
    The replaced file keeps the target's permission bits, or gets those a plain ``open()``
    would give (see the module docstring for folders, symlinks and special files).

    Args:
        path: the file to write.

    Yields:
        The temporary :class:`~pathlib.Path` to write to.

    Raises:
        ValueError: as :func:`output_target`.
        PermissionError: as :func:`output_target`.
    """
    target = output_target(path)
    existing = target.stat().st_mode if target.exists() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file 0600; give it the mode a plain open() would
        os.chmod(tmp, stat.S_IMODE(existing) if existing is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: the file to write (see :func:`atomic_path`).
        text: the contents.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    with atomic_path(path) as tmp:
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


def torch_save(obj, path: str | Path) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically; the same object always gives the same bytes.

    Args:
        obj: anything ``torch.save`` accepts.
        path: the file to write (see :func:`atomic_path`).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # through a file object the archive inside is named "archive", not after the random
        # temporary name, so the same object always gives the same bytes
        torch.save(obj, fh)
    return Path(path)
