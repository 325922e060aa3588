"""Checks of the command line's options and paths, run before any work starts.

Each refuses with a :class:`CLIError` (one line naming the option or file and the fix);
:func:`inctrl.cli.main` prints it as ``inctrl: error: ...``. Output paths are checked to be
creatable and writable, and never inside an input folder.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path


class CLIError(Exception):
    """A user error detected by the command line itself."""


def _weights_kwargs(args) -> dict:
    """``pretrained`` / ``weights`` for inctrl.load and train, checked against --profile."""
    weights = getattr(args, "weights", None)
    random_weights = getattr(args, "random_weights", False)
    if not weights and not random_weights:
        return {"pretrained": True, "weights": None}
    option = "--weights" if weights else "--random-weights"
    if not getattr(args, "profile", None):
        if random_weights:
            raise CLIError("--random-weights applies to --profile paper, not to --checkpoint (a "
                           "checkpoint rebuilds its own backbone)")
    elif args.profile not in ("paper", "mini"):
        raise CLIError(f"{option} applies to --profile paper or mini only (the {args.profile} profile has "
                       "fixed random weights)")
    if weights:
        from .paths import regular_file

        try:
            regular_file(Path(weights).expanduser(), "--weights")
        except FileNotFoundError:
            raise CLIError(f"--weights: no such file: {weights}") from None
        except (ValueError, OSError) as error:
            raise CLIError(str(error)) from None
    return {"pretrained": not random_weights,
            "weights": str(Path(weights).expanduser()) if weights else None}


def _real(path) -> Path:
    """``path`` with every symlink followed; unlike ``Path.resolve`` it never raises (loops)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _inside(path: Path, folder: Path) -> bool:
    path, folder = _real(path), _real(folder)
    return path == folder or folder in path.parents


def _refuse_inside(outputs, inputs) -> None:
    for out in outputs:
        for folder in inputs:
            folder = Path(folder)
            if not folder.exists():
                continue  # reported as missing by the command itself
            folder = folder if folder.is_dir() else folder.parent
            if out is not None and _inside(Path(out), folder):
                raise CLIError(f"refusing to write {out} inside the input folder {folder}")


def _expand(items, option: str) -> tuple[list[Path], int]:
    """The images of ``option``'s files and folders, and how many folder entries were skipped.

    Entries of a folder named like images that are no readable files (dangling symlinks,
    symlink loops, folders named ``*.png``) are skipped with one warning line on stderr.
    """
    from .data.images import list_images, unreadable_reason

    paths, skipped_count = [], 0
    for item in items:
        path = Path(item)
        if path.is_dir():
            skipped: list = []
            paths.extend(list_images(path, skipped=skipped))
            if skipped:
                skipped_count += len(skipped)
                listed = ", ".join(f"{p.name} ({why})" for p, why in skipped[:5])
                print(f"inctrl: warning: {option}: skipped {len(skipped)} entries of {path} that are no "
                      f"readable image files: {listed}{' ...' if len(skipped) > 5 else ''}", file=sys.stderr)
        elif path.is_file():
            paths.append(path)
        elif path.is_symlink():
            raise CLIError(f"{option} {path} is {unreadable_reason(path)}; give an image file or a folder")
        elif path.exists():  # a FIFO or a device: reading it would block or never end
            raise CLIError(f"{path} is neither an image file nor a folder")
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    return paths, skipped_count


def _no_duplicates(paths: list[Path], option: str) -> None:
    """Refuse an image that ``option`` lists twice (compared resolved).

    A normal image listed twice would count twice among the K prompts (or be held out and a
    prompt at once).
    """
    seen = set()
    for path in paths:
        if _real(path) in seen:
            raise CLIError(f"{option} lists {path} twice; give each image once")
        seen.add(_real(path))


def _at_least_one(option: str, *values) -> None:
    _at_least(1, option, *values)


def _at_least(low: int, option: str, *values) -> None:
    """Refuse a number of ``option`` below ``low`` (None: not given)."""
    for value in values:
        if value is not None and value < low:
            raise CLIError(f"{option} must be at least {low}, got {value}")


def _once_each(option: str, values) -> None:
    """Refuse a value that ``option`` lists twice (it would be run, and counted, once)."""
    seen = set()
    for value in values:
        if value in seen:
            raise CLIError(f"{option} lists {value} twice; give each value once")
        seen.add(value)


def _check_device(device: str) -> None:
    from .device import resolve_device

    try:
        resolve_device(device)
    except ValueError as error:
        raise CLIError(f"--device: {error}") from None


def _check_out_file(value: str, option: str, overwrite: bool) -> None:
    """Refuse an output file that cannot or should not be written.

    A folder, a FIFO or a read-only file is refused; an existing file or a symlink only with
    ``overwrite`` (the CLI then replaces the link itself, never its target). The folder the
    file goes in must be creatable and writable.
    """
    from .atomic import output_target

    if not value.strip():
        raise CLIError(f"{option} is empty ({value!r}); give a file path, e.g. scores.csv")
    path = Path(value).expanduser()
    if path.is_symlink():
        if not overwrite:
            raise CLIError(f"{option} {value} is a symlink (to {os.readlink(path)}); pass --overwrite to "
                           "replace the link itself (its target is left alone), or give another path")
        _check_writable(path.parent, option, value)
        return
    try:
        target = output_target(path)
    except (ValueError, PermissionError) as error:
        raise CLIError(f"{option} {error}") from None
    if target.exists() and not overwrite:
        raise CLIError(f"{option} {value} already exists; pass --overwrite to replace it, or give another "
                       "path")
    _check_writable(target.parent, option, value)


def _check_results_folder(value: str, option: str, names, overwrite: bool) -> None:
    """An output folder (as :func:`_check_out_folder`) that holds none of ``names`` unless ``overwrite``."""
    _check_out_folder(value, option)
    folder = Path(value).expanduser()
    held = [n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
    if held and not overwrite:
        listed = ", ".join(held[:4]) + (" ..." if len(held) > 4 else "")
        raise CLIError(f"{option} {value} already holds results ({listed}); pass --overwrite to replace "
                       "them, or choose another folder")


def _check_out_folder(value: str, option: str, overwrite: bool = False, whole: bool = False) -> None:
    """An output folder, by the one rule of every writer (:func:`inctrl.paths.check_output_folder`)."""
    from .paths import check_output_folder

    try:
        check_output_folder(value, overwrite=overwrite, whole=whole, what=option)
    except (ValueError, OSError) as error:
        raise CLIError(str(error)) from None


def _check_writable(folder: Path, option: str, value: str) -> None:
    """``folder``, or the first existing folder above it (the rest is created), takes new files."""
    from .paths import check_writable

    try:
        check_writable(folder, option, value)
    except (ValueError, OSError) as error:
        raise CLIError(str(error)) from None


def _check_checkpoints(paths) -> None:
    from .paths import regular_file

    for path in paths or ():
        if not Path(path).expanduser().exists():
            raise CLIError(f"--checkpoint {path}: no such file")
        try:
            regular_file(Path(path).expanduser(), "--checkpoint")
        except IsADirectoryError:
            raise CLIError(f"--checkpoint {path} is not a checkpoint file but a folder; give the .pt file "
                           "in it") from None
        except (ValueError, OSError) as error:  # a FIFO would block forever
            raise CLIError(str(error)) from None


def _threshold(value: str | None) -> float | None:
    """--threshold as a finite number (None for 'auto' or not given)."""
    if value is None or value == "auto":
        return None
    try:
        threshold = float(value)
    except ValueError:
        raise CLIError(f"--threshold must be a number or 'auto', got {value!r}") from None
    if not math.isfinite(threshold):  # NaN would flag nothing, inf everything or nothing
        raise CLIError(f"--threshold must be a finite number or 'auto', got {value!r}")
    return threshold
