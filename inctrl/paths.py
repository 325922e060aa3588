"""Where inctrl writes and what it opens: one rule for output folders, names as data, input files.

Output folders: every writer (``prepare`` and each converter, ``train``, ``eval``, ``detect
--heatmaps``, and any new command) checks its folder with :func:`check_output_folder` before
any work starts:

* never ``""``, the working directory or a folder holding it (``/`` among them), nor the home
  folder; never a file, a broken symlink or a folder without write permission;
* a writer that replaces the folder as a whole (``whole=True``, e.g. ``prepare``) takes a new
  or empty folder, or, with ``overwrite``, a folder it wrote itself: every entry in it is
  listed in the folder's marker file (:data:`MARKER`, :func:`mark_output_folder`). Anything
  else there is refused even with ``overwrite``. A symlink is followed to a missing or empty
  folder only: the folder a link points to is never emptied;
* a writer of named files into the folder (``whole=False``) replaces only its own files.

:func:`staged_folder` builds a whole folder in a hidden sibling (``.NAME.tmp-PID-HEX``) and
renames it into place; a rerun removes the siblings that a killed or interrupted run left.

Names are data, never paths: :func:`file_name` makes any text one safe file name,
:func:`path_part` refuses a name that would leave its folder. Input files are checked with
:func:`regular_file` before they are opened (a FIFO would block forever, a device never end).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The file that lists every entry of a folder inctrl wrote (relative POSIX paths).
MARKER = ".inctrl-output.json"


def _real(path) -> Path:
    """``path`` with every symlink followed; unlike ``Path.resolve`` it never raises (loops)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _protected(real: Path) -> str | None:
    """What ``real`` is, when no command may write into it as its own folder."""
    try:
        cwd = Path(os.path.realpath(os.getcwd()))
    except OSError:  # the working directory was removed
        cwd = None
    if real == cwd:
        return "the working directory"
    if cwd is not None and real in cwd.parents:
        return f"a folder holding the working directory {cwd}"
    try:
        home = _real(Path.home())
    except (RuntimeError, KeyError):  # no HOME and no user entry
        home = None
    if real == home:
        return "the home folder"
    return "the root folder" if real == Path(real.anchor) else None


def _entries(folder: Path) -> list[str]:
    """Every file, folder and link below ``folder`` (relative POSIX paths, links not followed)."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found += [(rel / name).as_posix() for name in (*dirs, *files)]
    return sorted(set(found) - {MARKER})


def _owned(folder: Path) -> set[str]:
    """The entries ``folder``'s marker lists (none without a readable marker)."""
    marker = folder / MARKER
    if marker.is_symlink() or not marker.is_file():
        return set()
    try:
        listed = json.loads(marker.read_text(encoding="utf-8")).get("entries", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {e for e in listed if isinstance(e, str)}


def foreign_entries(folder: str | os.PathLike) -> list[str]:
    """The entries below ``folder`` that inctrl did not write (not listed in its marker).

    Args:
        folder: an existing folder.

    Returns:
        Relative POSIX paths, sorted; all entries when the folder has no marker.
    """
    folder = Path(folder)
    owned = _owned(folder)
    return [e for e in _entries(folder) if e not in owned]


def mark_output_folder(folder: str | os.PathLike) -> Path:
    """Record every entry of ``folder`` as written by inctrl, so that ``overwrite`` may replace it.

    Args:
        folder: a folder a command has just written in full.

    Returns:
        The marker file (:data:`MARKER`).
    """
    from .atomic import write_text

    folder = Path(folder)
    text = json.dumps({"written_by": "inctrl", "entries": _entries(folder)}, indent=0)
    return write_text(folder / MARKER, text + "\n")


def check_writable(folder: Path, what: str, text: str) -> None:
    """``folder``, or the first existing folder above it (the rest is created), takes new files.

    Args:
        folder: the folder to write in; it need not exist.
        what: how the messages name it, e.g. ``"--out"``.
        text: the path the user gave, for the messages.

    Raises:
        ValueError: a file is where a folder would be made.
        PermissionError: the user may not write there.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{what} {text}: {existing} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {text}: no permission to write in {existing}; choose another location")


def check_output_folder(path: str | os.PathLike, *, overwrite: bool = False, whole: bool = False,
                        what: str = "output folder") -> Path:
    """Check ``path`` as a command's output folder before any work starts (the rule of the module docstring).

    Args:
        path: the folder the user gave; it need not exist.
        overwrite: the user allows replacing what inctrl wrote there before.
        whole: the command replaces the folder as a whole (True) rather than writing its own
            named files into it (False).
        what: how the messages name the folder, e.g. ``"--out"``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, ``~`` expanded.

    Raises:
        ValueError: ``path`` is empty, the working directory, a folder holding it, the home
            folder, a file, or a broken symlink; with ``whole``, a symlink to a non-empty
            folder, or a folder holding entries inctrl did not write (even with ``overwrite``).
        FileExistsError: with ``whole``, a non-empty folder and no ``overwrite``.
        PermissionError: no folder can be written there.
    """
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"{what} is empty ({text!r}); give a folder path, e.g. results/")
    folder = Path(text).expanduser()
    real = _real(folder)
    protected = _protected(real)
    if protected:
        raise ValueError(f"{what} {text} is {protected}; inctrl writes into a folder of its own only, give a "
                         "new folder (e.g. one inside it)")
    if folder.is_symlink() and not folder.exists():
        raise ValueError(f"{what} {text} is a broken symlink (to {os.readlink(folder)}); create its target "
                         "or give another folder")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} {text} is a file, not a folder; give a folder path")
    check_writable(folder, what, text)
    if whole and real.is_dir() and any(real.iterdir()):
        if folder.is_symlink():
            raise ValueError(f"{what} {text} is a symlink to {real}, which is not empty; inctrl never "
                             "empties the folder a link points to: give that folder itself, or a new folder")
        if not overwrite:
            flag = "--overwrite" if what.startswith("--") else "overwrite=True"
            raise FileExistsError(f"{what} {text} exists and is not empty; pass {flag} to replace a folder "
                                  "inctrl wrote, or choose a new folder")
        foreign = foreign_entries(real)
        if foreign:
            more = f" and {len(foreign) - 1} more entries" if len(foreign) > 1 else ""
            raise ValueError(f"{what} {text} holds {foreign[0]}{more} that inctrl did not write; refusing to "
                             "replace it, even to overwrite: move your files out or choose a new folder")
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no way to ask: assume it runs
        return True
    return True


def remove_tree(path: str | os.PathLike) -> None:
    """Remove a folder inctrl made; a Ctrl-C during the removal does not leave half of it behind."""
    while True:
        try:
            shutil.rmtree(path, ignore_errors=True)
            return
        except KeyboardInterrupt:
            continue


def remove_stale_staging(out: str | os.PathLike) -> list[Path]:
    """Remove the staging folders (``.NAME.tmp-*``, ``.NAME.old-*``) of ``out`` that a killed run left.

    A sibling whose name carries the id of a process still running is left alone (a run in
    progress); names without an id come from older versions of inctrl.

    Args:
        out: the output folder (its parent is searched).

    Returns:
        The folders removed.
    """
    out = _real(out)
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(?:tmp|old)-(?:(\d+)-)?[0-9a-f]{{8}}")
    removed = []
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return removed
    for entry in siblings:
        found = pattern.fullmatch(entry.name)
        if found and entry.is_dir() and not entry.is_symlink() and not (
                found.group(1) and _alive(int(found.group(1)))):
            remove_tree(entry)
            removed.append(entry)
    return removed


@contextmanager
def staged_folder(out: str | os.PathLike, *, overwrite: bool = False,
                  what: str = "output folder") -> Iterator[Path]:
    """Build a whole output folder in a hidden sibling that replaces ``out`` when the block succeeds.

    ``out`` is checked first (:func:`check_output_folder` with ``whole=True``) and the staging
    folders a killed run left are removed. A crash or Ctrl-C inside the block removes the
    staging folder, so ``out`` is either untouched or complete, never half written. The
    finished folder gets its marker (:func:`mark_output_folder`), so a later ``overwrite``
    may replace it.

    Args:
        out: the final output folder (a symlink to a missing or empty folder: its target).
        overwrite: replace a folder inctrl wrote before.
        what: how the messages name the folder, e.g. ``"--out"``.

    Yields:
        The staging folder to write into.

    Raises:
        ValueError: as :func:`check_output_folder`.
        FileExistsError: as :func:`check_output_folder`.
        PermissionError: as :func:`check_output_folder`.
    """
    out = _real(check_output_folder(out, overwrite=overwrite, whole=True, what=what))
    remove_stale_staging(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        mark_output_folder(tmp)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        remove_tree(tmp)
        raise
    if old is not None:
        remove_tree(old)


def file_name(text: str, limit: int = 100) -> str:
    """``text`` as one safe file name: separators and control characters become ``_``.

    A name given by the user (a dataset or object name) is data: it never decides in which
    folder a file goes.

    Args:
        text: any text.
        limit: the most characters kept.

    Returns:
        A non-empty name without path separators, not starting with a dot.
    """
    name = re.sub(r"[\x00-\x1f/\\]", "_", str(text))[:limit].strip()
    return re.sub(r"^\.", "_", name) or "_"


def path_part(name: str, what: str) -> str:
    """``name``, refused unless it is one plain folder or file name (not ``..``, no separator).

    Args:
        name: a name read from data (a CSV cell, a label).
        what: what the name is, for the message.

    Returns:
        ``name``.

    Raises:
        ValueError: ``name`` is empty, ``.`` or ``..``, or holds a path separator.
    """
    if name in ("", ".", "..") or any(c in name for c in "/\\\0") or (os.altsep and os.altsep in name):
        raise ValueError(f"{what} {name!r} is not a plain name (empty, '.' or '..', or holding a path "
                         "separator); names are data, never paths: fix the name")
    return name


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path``, checked to be a regular file (symlinks followed) before anything opens it.

    Args:
        path: the file to read.
        what: what the file is, for the messages (``"model config"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: nothing is there (or a dangling symlink).
        IsADirectoryError: a folder is there.
        ValueError: a FIFO, a socket or a device is there, or it cannot be examined.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise ValueError(f"{what} {path} cannot be read ({error.strerror}); give a regular file") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{what} {path} is a folder, not a file; give a file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {path} is {_kind(mode)}, not a regular file; give a regular file")
    return path
