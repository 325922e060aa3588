"""Chapter 8: encoder-pass counts, the benchmark's throughput figure, and a live timing.

The live timing compares the official-style loop against the prompt bank and batching.

The benchmark itself is ``benchmarks/bench_inference.py`` (part of the repository, not of the
package); :func:`load_benchmarks` reads its results files with its own loader.
"""

from __future__ import annotations

import glob
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

__all__ = ["batch_invariance", "batching_gains", "batching_sentence", "live_timing", "load_benchmarks",
           "machine_name", "plot_throughput", "work_counts"]

#: Text sentences per category in the prompt ensemble (154 normal + 88 anomalous).
N_SENTENCES = 242


def work_counts(n_test: int, ks: Sequence[int] = (2, 4, 8)) -> pd.DataFrame:
    """Image-encoder passes and encoded sentences for ``n_test`` queries of one category.

    The official loop (everything per query) against a prompt bank with batched scoring.

    Args:
        n_test: the number of queries.
        ks: the K values, one row each.

    Returns:
        A DataFrame indexed by K: image passes and sentences of each way, and the fraction
        of image passes the bank saves.
    """
    rows = [{"K": k, "image passes, official": n_test * (k + 1), "image passes, bank": n_test + k,
             "sentences, official": N_SENTENCES * n_test, "sentences, bank": N_SENTENCES} for k in ks]
    frame = pd.DataFrame(rows).set_index("K")
    frame["image passes saved"] = 1 - frame["image passes, bank"] / frame["image passes, official"]
    return frame


# ------------------------------------------------------------------------ benchmark results
def load_benchmarks(pattern: str, repo_root: str | Path = "..") -> tuple[pd.DataFrame, list[Path]]:
    """Every benchmark results file matching ``pattern``, one row per measurement.

    Read with the benchmark's own ``load_results``.

    Args:
        pattern: a glob pattern of results files.
        repo_root: the repository root (it holds ``benchmarks/``).

    Returns:
        ``(rows, files)``: the measurements with ``file`` and ``kind`` (the file's
        ``device_type``) columns, and the files read.
        Both are empty when the benchmark is not importable (the package installed without
        the repository) or no file matches.
    """
    root = str(Path(repo_root).resolve())
    if root not in sys.path:  # the benchmarks folder is not part of the package
        sys.path.insert(0, root)
    try:
        from benchmarks.report import load_results
    except ImportError:
        return pd.DataFrame(), []
    files = [Path(p) for p in sorted(glob.glob(pattern))]
    frames = [load_results(p).assign(file=p.name).rename(columns={"device_type": "kind"})
              for p in files]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), files


def machine_name(device: str, kind: str = "") -> str:
    """A short name of the machine of a results file, for a panel title.

    Args:
        device: the file's ``device`` string (a CPU's model and thread counts, or a GPU's name).
        kind: the file's ``device_type`` (``"cpu"``, ``"cuda"``, ...).

    Returns:
        ``"2-core CPU"`` for a CPU (the core count when the string gives it), else the device
        name with ``" GPU"`` appended where it lacks it.

    Examples:
        >>> machine_name("Intel(R) Xeon(R) Processor (2 cores, 2 torch threads)", "cpu")
        '2-core CPU'
        >>> machine_name("NVIDIA H200", "cuda")
        'NVIDIA H200 GPU'
    """
    if kind == "cpu" or (not kind and "cpu" in device.lower()):
        cores = re.search(r"(\d+) cores", device)
        return f"{cores.group(1)}-core CPU" if cores else "CPU"
    return device if "GPU" in device else f"{device} GPU"


def plot_throughput(df: pd.DataFrame, axes, precision: str = "fp32") -> None:
    """Plot queries/s against batch size (log-log), one panel per results file (machine).

    Each panel shows, for every profile (one colour each) at the file's largest K, batched
    InCTRL scoring (solid), the bare image encoder (dashed, the lower bound on the cost) and
    the official one-query loop (a cross at batch size 1). Its title names the machine
    (:func:`machine_name`), the precision and K.

    Args:
        df: the benchmark rows (:func:`load_benchmarks`).
        axes: matplotlib axes, one per results file (in file order).
        precision: the precision plotted.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogLocator

    from .viz import PALETTE, log_ticks

    rows = df[df.precision == precision]
    profiles = sorted(rows.profile.unique(), key=lambda p: (p != "paper", p))  # the paper's first
    color = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(profiles)}
    for ax, (_, part) in zip(axes, rows.groupby("file", sort=True)):
        k = part[part.method != "encoder"].shots.max()
        for prof, prows in part.groupby("profile"):
            enc = prows[prows.method == "encoder"].sort_values("batch_size")
            ours = prows[(prows.method == "inctrl") & (prows.shots == k)].sort_values("batch_size")
            off = prows[(prows.method == "official") & (prows.shots == k)]
            ax.plot(enc.batch_size, enc.queries_per_s, "--", color=color[prof], alpha=0.8)
            ax.plot(ours.batch_size, ours.queries_per_s, "-", marker="o", color=color[prof])
            ax.scatter(off.batch_size, off.queries_per_s, marker="x", s=60, color=color[prof])
        ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="queries / s")
        log_ticks(ax, sorted(part.batch_size.unique()))
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labels between decades
        kind = part["kind"].iloc[0] if "kind" in part else ""
        ax.set_title(f"{machine_name(part.device.iloc[0], kind)}, {precision}, K = {int(k)}")
    handles = [Line2D([], [], color=color[p], lw=6, label=f"{p} profile") for p in profiles] + [
        Line2D([], [], color="k", marker="o", label="InCTRL, batched"),
        Line2D([], [], color="k", ls="--", label="bare encoder"),
        Line2D([], [], color="k", marker="x", ls="", markersize=8, label="official loop")]
    ax = next(iter(axes), None)
    if ax is not None:
        ax.figure.legend(handles=handles, loc="outside lower center", ncol=len(handles))


def batching_gains(df: pd.DataFrame, profile: str = "paper", precision: str = "fp32") -> dict[str, dict]:
    """How much batching multiplies InCTRL's throughput on each machine, at its largest K.

    Args:
        df: the benchmark rows (:func:`load_benchmarks`).
        profile: the profile compared.
        precision: the precision compared.

    Returns:
        Results file -> ``machine`` (:func:`machine_name`), ``kind``, ``shots``, the smallest
        and largest batch size (``from``, ``to``) and ``gain``, the ratio of their throughputs.
    """
    gains = {}
    if df.empty:
        return gains
    rows = df[(df.method == "inctrl") & (df.profile == profile) & (df.precision == precision)]
    for file, part in rows.groupby("file"):
        part = part[part.shots == part.shots.max()].sort_values("batch_size")
        kind = part["kind"].iloc[0] if "kind" in part else ""
        gains[file] = {"machine": machine_name(part.device.iloc[0], kind), "kind": kind,
                       "shots": int(part.shots.iloc[0]), "from": int(part.batch_size.iloc[0]),
                       "to": int(part.batch_size.iloc[-1]),
                       "gain": float(part.queries_per_s.iloc[-1] / part.queries_per_s.iloc[0])}
    return gains


def batching_sentence(gains: dict[str, dict]) -> str:
    """One sentence on :func:`batching_gains`: the largest gain on a GPU and on a CPU.

    It says that a GPU needs large batches only when every GPU gains more than every CPU.

    Args:
        gains: what :func:`batching_gains` returns.

    Returns:
        The sentence, or an empty string when there is neither a GPU nor a CPU file.
    """
    by_kind = {kind: [g["gain"] for g in gains.values() if g["kind"] == kind] for kind in ("cuda", "cpu")}
    said = [f"{max(v):.1f}\u00d7 on {'a GPU' if kind == 'cuda' else 'a CPU'}"
            for kind, v in by_kind.items() if v]
    if not said:
        return ""
    contrast = bool(by_kind["cuda"] and by_kind["cpu"]) and min(by_kind["cuda"]) > max(by_kind["cpu"])
    start = ("From the smallest to the largest batch of the benchmark, batching multiplies the paper "
             "architecture's throughput by ")
    if contrast:
        return (start + f"{said[0]} but only by {said[1]}: a GPU needs large batches to keep its "
                "thousands of cores busy, while a small CPU is already kept busy by one image.")
    return start + " and by ".join(said) + "."


# ------------------------------------------------------------------------ live timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(fn, device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def live_timing(model, x: torch.Tensor, prompts: torch.Tensor, name: str, batch_sizes: Sequence[int],
                n_official: int, repeats: int) -> tuple[dict[str, float], float]:
    """Seconds per query of preprocessed queries scored three ways (median of ``repeats``).

    The official style (for each of ``n_official`` queries a fresh prompt bank with the
    text cache cleared, then the one query), one at a time with one bank, and in batches of
    each size of ``batch_sizes``.

    Args:
        model: the :class:`~inctrl.model.InCTRL` model.
        x: [B, 3, H, W] preprocessed queries.
        prompts: [K, 3, H, W] preprocessed normal prompts.
        name: the category (drives the text prior).
        batch_sizes: the batch sizes to time (capped at B; 1 is "one at a time").
        n_official: queries timed the official way (at least 1, at most B).
        repeats: timings per way; the median counts.

    Returns:
        ``(timings, seconds to build a bank)``: way -> seconds per query.
    """
    device = x.device
    n = len(x)
    n_off = max(1, min(n_official, n))

    def official_style():
        for i in range(n_off):
            model.clear_text_cache()           # the official code re-encodes the text each time
            model.score(x[i:i + 1], model.prompt_bank(prompts, name), batch_size=1)

    start = time.perf_counter()
    bank = model.prompt_bank(prompts, name)
    _sync(device)
    bank_seconds = time.perf_counter() - start
    model.score(x[:1], bank, batch_size=1)   # warm-up (first-call allocations)
    timings = {"official-style": _median_seconds(official_style, device, repeats) / n_off}
    for b in sorted({min(int(b), n) for b in batch_sizes}):
        key = "one at a time" if b == 1 else f"batched, B={b}"
        timings[key] = _median_seconds(lambda b=b: model.score(x, bank, batch_size=b), device, repeats) / n
    return timings, bank_seconds


def batch_invariance(model, x: torch.Tensor, bank) -> float:
    """The largest difference of any score between scoring one query at a time and in one batch.

    Args:
        model: the :class:`~inctrl.model.InCTRL` model.
        x: [B, 3, H, W] preprocessed queries.
        bank: the :class:`~inctrl.containers.PromptBank`.

    Returns:
        The largest absolute difference of s, s_p, s_i or s_a.
    """
    one = model.score(x, bank, batch_size=1).cpu()
    full = model.score(x, bank, batch_size=len(x)).cpu()
    return max(float((getattr(one, f) - getattr(full, f)).abs().max())
               for f in ("score", "patch_score", "image_score", "text_score"))
