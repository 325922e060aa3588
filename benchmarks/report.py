"""Reading and showing benchmark results: the results JSON as a DataFrame, the markdown table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def load_results(path) -> pd.DataFrame:
    """A results JSON -> one row per measurement, with the device and date as columns.

    Args:
        path: the results JSON.

    Returns:
        One row per measurement, plus ``device``, ``device_type`` (``"cpu"``, ``"cuda"``; empty
        when the file lacks it), ``date`` and (InCTRL rows) ``speed_ratio_arithmetic``.

    Examples:
        >>> df = load_results("benchmarks/results/cpu.json")                     # doctest: +SKIP
        >>> df[df.method == "inctrl"].pivot_table("queries_per_s", "batch_size", "shots")  # doctest: +SKIP
    """
    import json

    import pandas as pd

    data = json.loads(Path(path).read_text())
    frame = pd.DataFrame(data["rows"])
    frame["device"] = data["device"]
    frame["device_type"] = data.get("device_type", "")
    frame["date"] = data["date"]
    bounds = _arithmetic_bounds(data)
    frame["speed_ratio_arithmetic"] = [
        _arithmetic_value(bounds, r) if r["method"] == "inctrl" else None for r in data["rows"]]
    return frame


def _arithmetic_bounds(result: dict) -> dict:
    """Profile -> its arithmetic speed ratio per K (empty where the results lack it)."""
    return {p: info.get("arithmetic", {}).get("speed_ratio_arithmetic", {})
            for p, info in result.get("profiles", {}).items()}


def _arithmetic_value(bounds: dict, row: dict) -> float | None:
    """The arithmetic speed ratio of a row's profile and K (JSON keys are strings)."""
    table = bounds.get(row["profile"], {})
    return table.get(row["shots"], table.get(str(row["shots"])))


def markdown_table(result: dict) -> str:
    """The InCTRL rows of a results dict as a markdown table beside their encoder and official rows.

    Args:
        result: what :func:`run` returns.

    Returns:
        The table; an RSS-ratio column is added when the rows have one (CPU).
    """
    rows = result["rows"]
    enc = {(r["profile"], r["precision"], r["batch_size"]): r for r in rows if r["method"] == "encoder"}
    official = {(r["profile"], r["precision"], r["shots"]): r for r in rows if r["method"] == "official"}
    rss = any("rss_ratio" in r for r in rows)
    bounds = _arithmetic_bounds(result)
    lines = ["| profile | prec | K | B | InCTRL q/s | latency ms/batch | encoder q/s | speed ratio "
             "(median / fastest / arithmetic) | InCTRL MB | encoder MB | memory ratio "
             + ("| RSS ratio " if rss else "") + "| official q/s | speed-up |",
             "|---" * (14 if rss else 13) + "|"]

    def fmt(value, spec):
        return "n/a" if value is None else format(value, spec)

    for r in rows:
        if r["method"] != "inctrl":
            continue
        e = enc[(r["profile"], r["precision"], r["batch_size"])]
        o = official.get((r["profile"], r["precision"], r["shots"]))
        base = (f"| {r['profile']} | {r['precision']} | {r['shots']} | {r['batch_size']} "
                f"| {r['queries_per_s']:.2f} | {r['latency_ms']:.0f} | {e['queries_per_s']:.2f} "
                f"| {r['speed_ratio']:.2f} / {r.get('speed_ratio_best', float('nan')):.2f} / "
                f"{fmt(_arithmetic_value(bounds, r), '.2f')} | {fmt(r['peak_mem_mb'], '.0f')} "
                f"| {fmt(e['peak_mem_mb'], '.0f')} | {fmt(r.get('memory_ratio'), '.2f')} ")
        if rss:
            base += f"| {fmt(r.get('rss_ratio'), '.2f')} "
        tail = (f"| {o['queries_per_s']:.3f} | {r['speedup_vs_official']:.0f}x |" if o else "| - | - |")
        lines.append(base + tail)
    return "\n".join(lines)
