"""Choosing where to compute: CUDA, Apple MPS or the CPU."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The device to compute on: ``"auto"`` picks one, anything else is checked.

    Args:
        device: ``"auto"`` or None (CUDA, then Apple MPS, then the CPU), or a device name
            or :class:`torch.device` such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.

    Returns:
        The chosen :class:`torch.device`.

    Raises:
        ValueError: the name is not a device, or CUDA or MPS is asked for but not available.
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'mps'") from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} was asked for but Apple MPS is not available here")
    return chosen


def autocast(device: torch.device, enabled: bool):
    """The mixed-precision context: bf16 autocast on CUDA and the CPU, fp16 on MPS.

    Args:
        device: where the block computes.
        enabled: False gives a context that changes nothing.

    Returns:
        A ``torch.autocast`` context manager.
    """
    if enabled and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if enabled and device.type == "mps":
        return torch.autocast("mps", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)
