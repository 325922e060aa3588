"""Reading torch files safely, and loading state dicts exactly: what every checkpoint format shares.

:mod:`inctrl.checkpoint` (the project's own format) and :mod:`inctrl.official` (the authors'
checkpoints) both build on this module, so neither imports the other's internals.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

EMBEDDED = "embedded"  # config.pretrained value: backbone weights live in the checkpoint


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded as asked; the message lists what is wrong."""


def read_torch_file(path: str | Path, what: str = "checkpoint") -> dict:
    """``torch.load(weights_only=True)`` of a file that must hold a dictionary.

    Pickled Python objects are never unpickled: that could run code.

    Args:
        path: the file.
        what: what the file should be, for the messages (``"checkpoint"``).

    Returns:
        The dictionary, its tensors on the CPU.

    Raises:
        CheckpointError: the file is missing, not a regular file, empty, truncated, not a
            torch file, holds pickled Python objects, or holds something other than a
            dictionary; the one-line message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}" if not path.exists() else
                              f"{what} {path} is not a regular file (a folder, FIFO, socket or device); "
                              f"give a {what} file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable {what}: {_load_failure(path, error)}. Only "
                              "files holding tensors and plain containers are accepted (torch.load "
                              "weights_only=True)") from error
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not a {what} dictionary")
    return dict(data)


def _load_failure(path: Path, error: Exception) -> str:
    """Why torch.load failed, in a few words.

    torch's own text advises weights_only=False, which would execute whatever the file holds.
    """
    if path.stat().st_size == 0:
        return "the file is empty"
    text = str(error)
    found = re.search(r"GLOBAL (\S+)", text)
    if found:
        return f"it holds pickled Python objects ({found.group(1)}), refused unread"
    with path.open("rb") as fh:
        head = fh.read(2)
    if head[:1] == b"\x80":  # a raw pickle (protocol 2+) that is not tensors and plain containers
        return "it holds pickled Python objects, refused unread"
    if head == b"PK" or isinstance(error, EOFError):  # a torch zip archive, cut or damaged
        return "the file is truncated or damaged"
    return f"not a torch file ({type(error).__name__})"


def key_list(keys, limit: int = 20) -> str:
    keys = sorted(str(k) for k in keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def check_weights(state, what: str) -> dict[str, torch.Tensor]:
    """``state`` as a dict of tensors, refusing other values and NaN or infinite weights.

    NaN or infinite weights would load silently and give NaN scores.

    Args:
        state: a state dict from a checkpoint.
        what: what it holds, for the messages (``"trainable weights"``).

    Returns:
        ``state`` as a plain dict.

    Raises:
        CheckpointError: not a dictionary, a value that is not a tensor, or a floating-point
            tensor with NaN or infinite values.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"its {what} are a {type(state).__name__}, not a dictionary of tensors")
    state = dict(state)
    odd = sorted(f"{k} ({type(v).__name__})" for k, v in state.items() if not isinstance(v, torch.Tensor))
    if odd:
        raise CheckpointError(f"its {what} hold values that are not tensors: {key_list(odd)}")
    broken = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if broken:
        raise CheckpointError(f"its {what} hold NaN or infinite values in {key_list(broken)} (training "
                              "diverged or the file is damaged); use an earlier checkpoint")
    return state


def load_exact(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str,
                only_prefixes: tuple[str, ...] = (), optional: set[str] = frozenset()) -> None:
    """load_state_dict that reports missing, unexpected and mis-shaped keys together."""
    expected = {k: v for k, v in module.state_dict().items()
                if not only_prefixes or k.startswith(only_prefixes)}
    missing = set(expected) - set(state) - set(optional)
    unexpected = set(state) - set(expected)
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
             for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing keys: {key_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {key_list(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes: {key_list(wrong)}")
    if problems:
        raise CheckpointError(f"cannot load {what}: " + "; ".join(problems))
    module.load_state_dict({**{k: v for k, v in expected.items() if k in optional}, **state},
                           strict=not only_prefixes)
