"""Measuring for the benchmarks: the machine's name, interleaved timing and working memory.

Working memory of one call is its peak above what was allocated just before it. CUDA:
``torch.cuda.max_memory_allocated`` minus ``memory_allocated`` before the call. CPU: the
same quantity from the allocation and free events of torch's CPU allocator, recorded by
``torch.profiler`` (:func:`tensor_memory_peak`, one untimed call), and beside it the growth
of the process's peak resident set during the timed calls (:class:`PeakMemory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import re
import sys
import time
from pathlib import Path

import torch


def device_name(device: torch.device) -> str:
    """A human-readable name of the device, for the results JSON.

    Args:
        device: the device the benchmark runs on.

    Returns:
        The CUDA device name, or the CPU model with its core and torch thread counts.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def device_slug(device: torch.device) -> str:
    """The results file name of a device.

    Args:
        device: the device the benchmark runs on.

    Returns:
        The device type (``cpu``, ``mps``) off CUDA; on CUDA the lower-cased device name, each
        run of characters other than ``a-z0-9`` turned into ``-``.
    """
    if device.type != "cuda":
        return device.type
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so a timer reads the finished call.

    Args:
        device: the device to synchronise; a no-op on anything but CUDA.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Working memory of the timed calls, between :meth:`start` and :meth:`stop`.

    CUDA: allocated tensor memory. Linux CPUs: the growth of the peak resident set
    (``VmHWM``, reset through ``/proc/self/clear_refs`` after ``malloc_trim``, over
    ``VmRSS`` before the call).

    Args:
        device: the device the timed calls run on.

    Attributes:
        device: the device the timed calls run on.
        method: a description of the measurement used (for the results JSON), or None where
            neither is available.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.method = None
        if device.type == "cuda":
            self.method = "torch.cuda.max_memory_allocated - memory_allocated before the call"
        elif self._can_reset_rss():
            self.method = ("peak_mem_mb: peak of the tensor memory allocated by one untimed call "
                           "(torch.profiler profile_memory allocator events); peak_rss_mb: peak "
                           "resident set growth in the timed calls, VmHWM (reset via "
                           "/proc/self/clear_refs after malloc_trim) - VmRSS before the call")
        self._libc = None
        with contextlib.suppress(OSError):
            self._libc = ctypes.CDLL("libc.so.6")

    @staticmethod
    def _can_reset_rss() -> bool:
        """Whether the peak resident set can be reset and read (Linux ``/proc``)."""
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return "VmHWM" in Path("/proc/self/status").read_text()
        except OSError:
            return False

    @staticmethod
    def _status_kb(key: str) -> int:
        """A kB field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def start(self) -> None:
        """Record the baseline just before a call and reset the peak."""
        gc.collect()
        if self.device.type == "cuda":
            sync(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.method:
            if self._libc is not None:
                self._libc.malloc_trim(0)
            self._base = self._status_kb("VmRSS") * 1024
            Path("/proc/self/clear_refs").write_text("5")

    def stop(self) -> int | None:
        """The working-memory peak since :meth:`start`.

        Returns:
            Bytes above the baseline, or None where it cannot be measured.
        """
        if self.device.type == "cuda":
            sync(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self._base
        if self.method:
            return max(0, self._status_kb("VmHWM") * 1024 - self._base)
        return None


@contextlib.contextmanager
def _stderr_silenced():
    """The profiler's C++ side prints start/stop lines on file descriptor 2: hide them."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tensor_memory_peak(fn) -> int | None:
    """CPU working memory of ``fn()``, from torch.profiler's allocator events.

    The peak, over the call, of the tensor memory it allocated and had not yet freed (the CPU
    analogue of ``torch.cuda.max_memory_allocated``). The allocator timeline is private torch
    API (``torch.profiler._memory_profiler``): where it is missing or reads differently, the
    answer is None (not measured), never an error.

    Args:
        fn: the call to measure, without arguments; it runs once, untimed.

    Returns:
        The peak in bytes, or None when not measured.
    """
    from torch.profiler import ProfilerActivity, profile

    try:
        from torch.profiler._memory_profiler import Action
    except ImportError:
        return None
    gc.collect()
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True,
                                     record_shapes=True, with_stack=True) as prof:
        fn()
    live = peak = 0
    try:
        for _time, action, _key, size in prof._memory_profile().timeline:
            if action == Action.CREATE:
                live += size
            elif action == Action.DESTROY:  # also frees of tensors made before the call
                live -= size
            peak = max(peak, live)
    except Exception:  # any change of the private API means "not measured", not a failed run
        return None
    return peak


def interleaved(fns: dict, device: torch.device, memory: PeakMemory, warmup: int,
                repeats: int) -> dict[str, tuple[list[float], list[int | None]]]:
    """Time every function round-robin, so that a noisy neighbour slows all of them alike.

    Args:
        fns: name -> function without arguments.
        device: the device they run on (synchronised around every call).
        memory: the working-memory probe, started and stopped around every timed call.
        warmup: untimed rounds of every function first.
        repeats: timed rounds.

    Returns:
        ``{name: (seconds of each repeat, working-memory peak of each repeat)}``.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync(device)
    times = {name: [] for name in fns}
    peaks = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            memory.start()
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
            peaks[name].append(memory.stop())
    return {name: (times[name], peaks[name]) for name in fns}
