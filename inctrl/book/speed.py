"""Chapter 8: encoder-pass counts, the benchmark's throughput figure, and a live timing.

The live timing compares the official-style loop against the prompt bank and batching.

The benchmark itself is ``benchmarks/bench_inference.py`` (part of the repository, not of the
package); :func:`load_benchmarks` reads its results files with its own loader.
"""

from __future__ import annotations

import glob
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

__all__ = ["batch_invariance", "live_timing", "load_benchmarks", "plot_throughput", "work_counts"]

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
        ``(rows, files)``: the measurements with a ``file`` column, and the files read.
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
    frames = [load_results(p).assign(file=p.name) for p in files]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), files


def plot_throughput(df: pd.DataFrame, axes) -> None:
    """Plot queries/s against batch size (log-log), one line per K and the bare encoder.

    The official loop shows as crosses; each panel's title names its machine (the file's
    ``device``, a parenthesised part on a line of its own), then the profile and the precision.

    Args:
        df: the benchmark rows (:func:`load_benchmarks`).
        axes: matplotlib axes, one per results file, profile and precision (in groupby order).
    """
    from matplotlib.ticker import LogLocator

    from .viz import PALETTE, log_ticks

    for ax, ((_, prof, prec), part) in zip(axes, df.groupby(["file", "profile", "precision"])):
        enc = part[part.method == "encoder"].sort_values("batch_size")
        ax.plot(enc.batch_size, enc.queries_per_s, "k--", marker="o", label="encoder")
        ks = sorted(part[part.method != "encoder"].shots.dropna().unique())
        color = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(ks)}
        for k, rows in part[part.method == "inctrl"].groupby("shots"):
            rows = rows.sort_values("batch_size")
            ax.plot(rows.batch_size, rows.queries_per_s, marker="o", color=color[k], label=f"K={int(k)}")
        for k, rows in part[part.method == "official"].groupby("shots"):
            ax.scatter(rows.batch_size, rows.queries_per_s, marker="x", s=50, color=color[k],
                       label=f"official loop, K={int(k)}")
        ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="queries / s")
        log_ticks(ax, sorted(part.batch_size.unique()))
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labels between decades
        machine = part.device.iloc[0].replace(" (", "\n(", 1)  # details on a line of their own
        ax.set_title(f"{machine}\n{prof}, {prec}")


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
