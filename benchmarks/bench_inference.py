"""Inference benchmark: batched InCTRL scoring against the bare image encoder and against the
official one-query-at-a-time loop.

    python benchmarks/bench_inference.py                      # CPU or GPU defaults, ~5 min on CPU
    python benchmarks/bench_inference.py --device cuda         # GPU: fp32 and bf16, B = 1, 32, 256
    python benchmarks/bench_inference.py --quick               # seconds: tiny profile only

Timed on preprocessed random tensors already on the device (decoding and resizing excluded):

* ``encoder``  - ``model.backbone.clip.visual(x)``: the bare open_clip image encoder;
* ``inctrl``   - ``model.score(x, bank, batch_size=B)``, against a prompt bank built once per K;
* ``official`` - what the authors' code does per query: re-encode the K prompt images and all
  242 text prompts (a fresh ``prompt_bank`` with the text cache cleared), then score it.

Each measurement is repeated round-robin after warm-up calls and its median reported, with the
working memory of one call (:mod:`benchmarks.measure`); benchmarks/README.md explains every
field of the results JSON. :func:`benchmarks.report.load_results` reads one into a pandas
DataFrame; the run's options are a :class:`benchmarks.bench_config.BenchConfig`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from benchmarks.bench_config import BenchConfig  # noqa: E402
from benchmarks.measure import (  # noqa: E402
    PeakMemory,
    device_name,
    device_slug,
    interleaved,
    sync,
    tensor_memory_peak,
)
from benchmarks.report import markdown_table  # noqa: E402
from inctrl.device import autocast  # noqa: E402
from inctrl.flops import query_flops  # noqa: E402

CATEGORY = "candle"
TARGET_SPEED = 0.8    # InCTRL throughput / encoder throughput, K <= 8
TARGET_MEMORY = 1.25  # InCTRL working memory / encoder working memory


def parse_args(argv=None) -> BenchConfig:
    """Read the command line into a run configuration.

    ``--quick`` narrows the run to a smoke test: the tiny profile and K=2, and unless given
    explicitly B=1 2, no warm-up, one repeat and one official-style query.

    Args:
        argv: the arguments; None reads ``sys.argv[1:]``.

    Returns:
        The configuration, device defaults still open (see :meth:`BenchConfig.for_device`).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--profiles", nargs="+", default=["tiny", "paper"],
                        choices=["tiny", "paper", "mini", "mini-v2"],
                        help="mini-v2: the earlier mini backbone's architecture (a small ViT), for speed")
    parser.add_argument("--shots", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None,
                        help="default: CPU paper 1 8, tiny 1 8 32; GPU 1 32 256")
    parser.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=None,
                        help="default: fp32 on the CPU, fp32 and bf16 on CUDA")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--official-queries", type=int, default=None,
                        help="queries timed in the official-style loop (0 skips it)")
    parser.add_argument("--official-shots", nargs="+", type=int, default=None,
                        help="K values of the official-style loop (default: CPU largest K, GPU all)")
    parser.add_argument("--out", default=None,
                        help="results JSON (default benchmarks/results/<device>.json)")
    parser.add_argument("--quick", action="store_true",
                        help="seconds: tiny profile, K=2, B=1 2, one repeat (a smoke test)")
    args = parser.parse_args(argv)

    def tup(values):
        return None if values is None else tuple(values)

    config = BenchConfig(args.device, tuple(args.profiles), tuple(args.shots), tup(args.batch_sizes),
                         tup(args.precision), args.warmup, args.repeats, args.official_queries,
                         tup(args.official_shots), args.out,
                         tuple(sys.argv[1:] if argv is None else argv))
    if args.quick:
        config = replace(config, profiles=("tiny",), shots=(2,), batch_sizes=config.batch_sizes or (1, 2),
                         warmup=config.warmup or 0, repeats=config.repeats or 1,
                         official_queries=1 if config.official_queries is None else config.official_queries)
    return config


# ---------------------------------------------------------------------------- benchmark
def _row(profile, precision, method, batch, shots, times, peaks, *, cpu_tensor_peak=None,
         on_cpu=False, **extra) -> dict:
    """One measurement as a results row (median latency, throughput, memory).

    ``peaks`` come from the timed calls (CUDA: allocated tensor memory, the reported peak; CPU:
    resident-set growth, reported as ``peak_rss_mb`` beside the profiler's ``cpu_tensor_peak``).
    """
    median = statistics.median(times)
    known = [p for p in peaks if p is not None]
    timed_peak = (max(known) / 2**20) if known else None
    row = {"profile": profile, "precision": precision, "method": method, "batch_size": batch,
           "shots": shots, "latency_ms": 1e3 * median, "latency_ms_all": [1e3 * t for t in times],
           "queries_per_s": batch / median, "peak_mem_mb": timed_peak}
    if on_cpu:
        row["peak_mem_mb"] = None if cpu_tensor_peak is None else cpu_tensor_peak / 2**20
        row["peak_rss_mb"] = timed_peak
    return {**row, **extra}


def _ratio(a, b) -> float | None:
    """``a / b``, or None when either is missing or zero."""
    return a / b if a and b else None


def time_batch(model, banks: dict, x: torch.Tensor, precision: str, config: BenchConfig,
               memory: PeakMemory, profile: str) -> list[dict]:
    """Time the encoder and InCTRL at every K on one batch ``x``, round-robin.

    Args:
        model: the :class:`~inctrl.model.InCTRL` model.
        banks: K -> the prompt bank built from K prompts.
        x: [B, 3, S, S] preprocessed queries on the model's device.
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
        config: the run (warm-up and repeats, the K values).
        memory: the working-memory probe.
        profile: the profile name, recorded in the rows.

    Returns:
        An encoder row, then one InCTRL row per K with its speed and memory ratios to the
        encoder.
    """
    device = model.device
    on_cpu = device.type == "cpu"
    amp = precision == "bf16"
    visual = model.backbone.clip.visual

    def encoder():
        with torch.no_grad(), autocast(device, amp):
            return visual(x)

    fns = {"encoder": encoder, **{k: partial(model.score, x, banks[k], batch_size=len(x), amp=amp)
                                  for k in config.shots}}
    results = interleaved(fns, device, memory, config.warmup, config.repeats)
    # CPU: tensor memory from one extra, untimed call per function under the profiler
    tensor_peaks = {name: tensor_memory_peak(fn) for name, fn in fns.items()} if on_cpu else {}
    enc_times, enc_peaks = results.pop("encoder")
    enc = _row(profile, precision, "encoder", len(x), None, enc_times, enc_peaks,
               cpu_tensor_peak=tensor_peaks.get("encoder"), on_cpu=on_cpu)
    rows = [enc]
    for k, (times, peaks) in results.items():
        row = _row(profile, precision, "inctrl", len(x), k, times, peaks,
                   cpu_tensor_peak=tensor_peaks.get(k), on_cpu=on_cpu)
        row["speed_ratio"] = row["queries_per_s"] / enc["queries_per_s"]
        # per repeat: each InCTRL call against the encoder call just before it
        row["speed_ratio_paired"] = statistics.median(e / t for e, t in zip(enc_times, times))
        # fastest call of each: the least disturbed by other work on a shared machine
        row["speed_ratio_best"] = min(enc_times) / min(times)
        row["memory_ratio"] = _ratio(row["peak_mem_mb"], enc["peak_mem_mb"])
        if on_cpu:
            row["rss_ratio"] = _ratio(row["peak_rss_mb"], enc["peak_rss_mb"])
        rows.append(row)
    return rows


def time_official(model, prompts: torch.Tensor, queries: torch.Tensor, k: int, precision: str,
                  config: BenchConfig, memory: PeakMemory, profile: str) -> dict:
    """Time the official-style loop: prompts and text re-encoded for every query.

    Args:
        model: the :class:`~inctrl.model.InCTRL` model.
        prompts: [K_max, 3, S, S] prompt images on the model's device; the first ``k`` are used.
        queries: [B, 3, S, S] query images, scored one at a time (cycled).
        k: the number of prompts.
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
        config: the run (``official_queries`` is the number of queries timed).
        memory: the working-memory probe.
        profile: the profile name, recorded in the row.

    Returns:
        One ``official`` row, its latency the seconds per query.
    """
    amp, n = precision == "bf16", config.official_queries
    device = model.device

    def loop():
        for i in range(n):
            model.clear_text_cache()
            bank = model.prompt_bank(prompts[:k], CATEGORY, amp=amp)
            model.score(queries[i % len(queries)][None], bank, batch_size=1, amp=amp)

    results = interleaved({"q": loop}, device, memory, 0 if device.type == "cpu" else 1, 1)
    times, peaks = results["q"]
    return _row(profile, precision, "official", 1, k, [times[0] / n], peaks,
                on_cpu=device.type == "cpu", queries_timed=n)


def profile_info(model, shots) -> dict:
    """The model's geometry and arithmetic (:mod:`inctrl.flops`).

    Args:
        model: the :class:`~inctrl.model.InCTRL` model.
        shots: the K values.

    Returns:
        The results JSON's per-profile entry: model name, taps, image size, patch count,
        encoder parameters, encoder and residual GFLOP and the arithmetic speed ratio per K;
        ``bank_build_ms`` is left empty for the caller.
    """
    flops = {k: query_flops(model, k) for k in shots}
    enc = flops[shots[0]]["encoder"]
    return {"model_name": model.config.model_name, "taps": list(model.backbone.taps),
            "image_size": model.backbone.image_size, "n_patches": model.backbone.n_patches,
            "encoder_params_m": sum(p.numel() for p in model.backbone.clip.visual.parameters()) / 1e6,
            "bank_build_ms": {},
            "arithmetic": {"encoder_gflop_per_image": enc / 1e9,
                           "residual_gflop_per_query": {k: f["patch_distances"] / 1e9
                                                        for k, f in flops.items()},
                           "speed_ratio_arithmetic": {k: enc / (enc + f["patch_distances"])
                                                      for k, f in flops.items()}}}


def precision_check(model, bank, x: torch.Tensor) -> dict:
    """Largest |score(bf16) - score(fp32)| over a batch of queries.

    Args:
        model: the :class:`~inctrl.model.InCTRL` model.
        bank: a prompt bank.
        x: [B, 3, S, S] preprocessed queries on the model's device.

    Returns:
        The query and shot counts, the largest absolute score difference and how the
        low-precision scores were computed (fp16 autocast on MPS).
    """
    reference = model.score(x, bank, batch_size=len(x)).score.float()
    low = model.score(x, bank, batch_size=len(x), amp=True).score.float()
    device = model.device
    how = f"model.score(amp=True): {'bf16' if device.type != 'mps' else 'fp16'} autocast on {device.type}"
    return {"queries": len(x), "shots": bank.k, "max_abs_score_diff": float((low - reference).abs().max()),
            "method": how}


#: The architecture of mini v2, the earlier offline backbone (an open_clip ViT); speed needs no weights.
MINI_V2_CONFIG = Path(__file__).with_name("mini_v2_vit.json")


def bench_model(profile: str, device):
    """A randomly initialised model of ``profile`` (throughput does not depend on the weights).

    ``"mini-v2"`` builds the earlier mini backbone's architecture from :data:`MINI_V2_CONFIG`.
    """
    import inctrl
    from inctrl.containers import InCTRLConfig

    if profile == "mini-v2":
        config = InCTRLConfig(profile="mini-v2", model_name="inctrl-mini-vit",
                              model_cfg=json.loads(MINI_V2_CONFIG.read_text()))
        return inctrl.InCTRL(config).to(device)
    return inctrl.load(profile, pretrained=False, device=device)


def benchmark_profile(profile: str, config: BenchConfig, memory: PeakMemory,
                      log=print) -> tuple[list[dict], dict]:
    """Time one profile: a randomly initialised model, random prompts and queries.

    Args:
        profile: ``"tiny"`` or ``"paper"``.
        config: the run, device defaults filled in.
        memory: the working-memory probe.
        log: prints progress lines.

    Returns:
        The measurement rows and the profile's entry (:func:`profile_info`, the bank build
        time per K and the :func:`precision_check`).
    """

    device = torch.device(config.device)
    model = bench_model(profile, device)
    size = model.backbone.image_size
    gen = torch.Generator().manual_seed(0)
    prompts = torch.randn(max(config.shots), 3, size, size, generator=gen).to(device)
    batch_sizes = config.batch_sizes_for(profile)
    queries = torch.randn(max(batch_sizes), 3, size, size, generator=gen).to(device)
    info = profile_info(model, config.shots)
    banks = {}
    for k in config.shots:
        start = time.perf_counter()
        banks[k] = model.prompt_bank(prompts[:k], CATEGORY)
        sync(device)
        info["bank_build_ms"][k] = 1e3 * (time.perf_counter() - start)
    rows = []
    for precision in config.precision:
        for batch in batch_sizes:
            log(f"[{profile}] {precision} B={batch}: timing encoder and K={list(config.shots)} ...")
            rows += time_batch(model, banks, queries[:batch], precision, config, memory, profile)
        if config.official_queries > 0:
            for k in config.official_shots:
                log(f"[{profile}] {precision} official-style loop, K={k} ...")
                rows.append(time_official(model, prompts, queries, k, precision, config, memory, profile))
    info["precision_check"] = precision_check(model, banks[min(config.shots)], queries[:min(4, len(queries))])
    del model, banks
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows, info


def _add_speedups(rows: list[dict]) -> None:
    """Add ``speedup_vs_official`` to every InCTRL row that has an official-style row."""
    official = {(r["profile"], r["precision"], r["shots"]): r["queries_per_s"]
                for r in rows if r["method"] == "official"}
    for r in rows:
        key = (r["profile"], r["precision"], r["shots"])
        if r["method"] == "inctrl" and key in official:
            r["speedup_vs_official"] = r["queries_per_s"] / official[key]


def run(config: BenchConfig, log=print) -> dict:
    """Run the benchmark; write the results JSON to ``config.out`` (if set) and return it.

    Args:
        config: the run; options left open take the device's defaults.
        log: prints progress lines.

    Returns:
        The results (benchmarks/README.md explains every field).
    """
    import open_clip

    from inctrl.atomic import write_json
    from inctrl.device import resolve_device

    device = resolve_device(config.device)
    config = config.for_device(device)
    memory = PeakMemory(device)
    started = time.perf_counter()
    rows, profiles = [], {}
    for profile in config.profiles:
        profile_rows, profiles[profile] = benchmark_profile(profile, config, memory, log=log)
        rows += profile_rows
    _add_speedups(rows)
    result = {
        "benchmark": "inctrl inference (benchmarks/bench_inference.py)",
        "device": device_name(device), "device_type": device.type,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "open_clip": open_clip.__version__,
        "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
        "command": " ".join(["python", "benchmarks/bench_inference.py", *config.argv]),
        "settings": {"shots": list(config.shots), "precision": list(config.precision),
                     "warmup": config.warmup, "repeats": config.repeats,
                     "official_queries": config.official_queries,
                     "official_shots": sorted({r["shots"] for r in rows if r["method"] == "official"}),
                     "category": CATEGORY,
                     "input": "preprocessed random tensors on the device (decoding excluded)",
                     "weights": "random (pretrained=False); speed does not depend on them"},
        "memory_method": memory.method or "unavailable on this platform",
        "targets": {"speed_ratio_min": TARGET_SPEED, "memory_ratio_max": TARGET_MEMORY},
        "profiles": profiles, "rows": rows,
        "wall_s": time.perf_counter() - started,
    }
    if config.out:
        write_json(config.out, result)
        log(f"wrote {config.out}")
    return result


def main(argv=None) -> dict:
    """The command line: run, write the results JSON and print the table.

    Args:
        argv: the arguments; None reads ``sys.argv[1:]``.

    Returns:
        The results.
    """
    from inctrl.device import resolve_device

    config = parse_args(argv)
    if config.out is None:
        config = replace(config, out=str(ROOT / "benchmarks" / "results" /
                                         f"{device_slug(resolve_device(config.device))}.json"))
    result = run(config, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"\n{result['device']}; torch {result['torch']}, open_clip {result['open_clip']}; "
          f"{result['date']}\n")
    print(markdown_table(result))
    for profile, info in result["profiles"].items():
        check = info["precision_check"]
        print(f"\n{profile}: bf16 vs fp32 max |score diff| = {check['max_abs_score_diff']:.2e} "
              f"({check['method']}, {check['queries']} queries, K={check['shots']})")
    return result


if __name__ == "__main__":
    main()
