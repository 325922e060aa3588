"""Inference benchmark: batched InCTRL scoring against the bare image encoder and against the
official one-query-at-a-time loop (issue 6).

    python benchmarks/bench_inference.py                      # CPU or GPU defaults, ~5 min on CPU
    python benchmarks/bench_inference.py --device cuda         # GPU: fp32 and bf16, B = 1, 32, 256
    python benchmarks/bench_inference.py --quick               # seconds: tiny profile only

What is timed (inputs are preprocessed random tensors already on the device, so image
decoding and resizing are excluded):

* ``encoder``  - ``model.backbone.clip.visual(x)``: the bare open_clip image encoder;
* ``inctrl``   - ``model.score(x, bank, batch_size=B)``: hooks on the tapped blocks, the encoder
  forward, patch residuals for all layers and queries, image and text residuals and both
  heads, against a prompt bank built once per K (method.md §7);
* ``official`` - what the authors' code does per query: re-encode the K prompt images and all
  242 text prompts (a fresh ``prompt_bank`` with the text cache cleared), then score
  the one query.

Timings: warm-up calls, then several repeats of each measurement interleaved round-robin
(encoder, K=2, K=4, ...) so that a noisy neighbour slows all of them alike; medians are
reported. Peak memory is the working memory of one call: the peak of the tensor memory it
allocates, above what is allocated before it (weights, inputs and prompt banks, which both
paths share). On CUDA ``torch.cuda.max_memory_allocated`` minus ``memory_allocated`` before
the call (largest over the repeats); on the CPU the same quantity from the allocation and
free events of torch's CPU allocator, recorded by ``torch.profiler`` (``profile_memory``) in
one separate, untimed call. The CPU also reports the growth of the process's peak resident
set (``VmHWM``, reset through ``/proc/self/clear_refs`` after ``malloc_trim``) during the
timed calls: it includes the C allocator's overheads and is noisy at small batches.

``load_results(path)`` reads a results JSON into a pandas DataFrame (one row per measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as _dt
import gc
import os
import platform
import re
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd

CATEGORY = "candle"
TARGET_SPEED = 0.8    # InCTRL throughput / encoder throughput, K <= 8
TARGET_MEMORY = 1.25  # InCTRL working memory / encoder working memory

CPU_DEFAULTS = {"batch_sizes": {"paper": [1, 8], "tiny": [1, 8, 32]}, "precision": ["fp32"],
                "warmup": 1, "repeats": 5, "official_queries": 1,
                # each official-style query re-encodes 242 text prompts (~30 s for the paper
                # text tower on 2 CPU cores): on the CPU only the largest K is timed
                "official_shots": lambda shots: [max(shots)]}
GPU_DEFAULTS = {"batch_sizes": {"paper": [1, 32, 256], "tiny": [1, 32, 256]},
                "precision": ["fp32", "bf16"], "warmup": 3, "repeats": 10, "official_queries": 5,
                "official_shots": list}


# ---------------------------------------------------------------------------- machine
def device_name(device: torch.device) -> str:
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
    if device.type != "cuda":
        return device.type
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------- memory
class PeakMemory:
    """Working memory of one call: its peak above what was resident just before it (bytes)."""

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
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return "VmHWM" in Path("/proc/self/status").read_text()
        except OSError:
            return False

    @staticmethod
    def _status_kb(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def start(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            _sync(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.method:
            if self._libc is not None:
                self._libc.malloc_trim(0)
            self._base = self._status_kb("VmRSS") * 1024
            Path("/proc/self/clear_refs").write_text("5")

    def stop(self) -> int | None:
        """Working-memory peak of the call (bytes), or None where it cannot be measured."""
        if self.device.type == "cuda":
            _sync(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self._base
        if self.method:
            return max(0, self._status_kb("VmHWM") * 1024 - self._base)
        return None

    def resident(self) -> int | None:
        """What is resident now (CUDA: allocated tensors; CPU: the process's resident set)."""
        if self.device.type == "cuda":
            return torch.cuda.memory_allocated(self.device)
        return self._status_kb("VmRSS") * 1024 if self.method else None


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
    """CPU working memory of ``fn()`` in bytes: the peak, over the call, of the tensor memory it
    allocated and had not yet freed, from torch.profiler's allocator events (the CPU analogue
    of ``torch.cuda.max_memory_allocated``). None if this torch cannot record it."""
    from torch.profiler import ProfilerActivity, profile

    try:
        from torch.profiler._memory_profiler import Action
    except ImportError:  # a private module: absent from some torch builds
        return None
    gc.collect()
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True,
                                     record_shapes=True, with_stack=True) as prof:
        fn()
    live = peak = 0
    for _time, action, _key, size in prof._memory_profile().timeline:
        if action == Action.CREATE:
            live += size
        elif action == Action.DESTROY:  # also frees of tensors made before the call
            live -= size
        peak = max(peak, live)
    return peak


# ---------------------------------------------------------------------------- arithmetic
def encoder_flops(visual) -> float:
    """Floating-point operations (2 per multiply-add) of one image through an open_clip
    VisionTransformer: patch embedding, per block the q/k/v/out projections, the two
    attention products and the MLP, then the output projection. Counted from the shapes
    (torch's FlopCounterMode misses the fused attention kernel)."""
    conv = visual.conv1
    grid = visual.grid_size[0] * visual.grid_size[1]
    tokens = grid + 1
    macs = grid * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    for block in visual.transformer.resblocks:
        width = block.attn.embed_dim
        mlp = block.mlp.c_fc.out_features
        macs += tokens * (4 * width * width + 2 * width * mlp) + 2 * tokens * tokens * width
    if visual.proj is not None:
        macs += visual.proj.numel()
    return 2.0 * macs


def residual_flops(n_layers: int, n_patches: int, width: int, shots: int) -> float:
    """Eq. 1 per query: every query patch against all K*N prompt patches, for each layer."""
    return 2.0 * n_layers * n_patches * shots * n_patches * width


# ---------------------------------------------------------------------------- timing
def _measure(fn, device: torch.device, memory: PeakMemory) -> tuple[float, int | None]:
    memory.start()
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    elapsed = time.perf_counter() - start
    return elapsed, memory.stop()


def _interleaved(fns: dict, device, memory, warmup: int, repeats: int) -> dict:
    """Time every function round-robin; -> {name: (seconds per repeat, peak bytes per repeat)}."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    times = {name: [] for name in fns}
    peaks = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            seconds, peak = _measure(fn, device, memory)
            times[name].append(seconds)
            peaks[name].append(peak)
    return {name: (times[name], peaks[name]) for name in fns}


def _precision_context(precision: str, device: torch.device):
    return contextlib.nullcontext() if precision == "fp32" else _bf16(device)


def _bf16(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16)


# ---------------------------------------------------------------------------- benchmark
def _row(profile, precision, method, batch, shots, times, peaks, *, cpu_tensor_peak=None,
         on_cpu=False, **extra) -> dict:
    """One measurement. ``peaks`` come from the timed calls (CUDA: allocated tensor memory, the
    reported peak; CPU: resident-set growth, reported as ``peak_rss_mb`` beside the profiler's
    ``cpu_tensor_peak``)."""
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


def _official_query(model, prompts, query, amp: bool):
    """One query the way the official code scores it: everything re-encoded."""
    model.clear_text_cache()
    bank = model.prompt_bank(prompts, CATEGORY, amp=amp)
    return model.score(query, bank, batch_size=1, amp=amp)


def _official_loop(model, prompts, queries, n: int, amp: bool) -> None:
    for i in range(n):
        _official_query(model, prompts, queries[i % len(queries)][None], amp)


def _precision_check(model, bank, x, device) -> dict:
    """Largest |score(bf16) - score(fp32)| over a batch of queries."""
    reference = model.score(x, bank, batch_size=len(x)).score.float()
    low = model.score(x, bank, batch_size=len(x), amp=True).score.float()
    how = f"model.score(amp=True): {'bf16' if device.type != 'mps' else 'fp16'} autocast on {device.type}"
    return {"queries": len(x), "shots": bank.k, "max_abs_score_diff": float((low - reference).abs().max()),
            "method": how}


def benchmark_profile(profile: str, device: torch.device, args, memory: PeakMemory,
                      log=print) -> tuple[list[dict], dict]:
    import inctrl

    model = inctrl.load(profile, pretrained=False, device=device)
    size = model.backbone.image_size
    gen = torch.Generator().manual_seed(0)
    prompts = torch.randn(max(args.shots), 3, size, size, generator=gen).to(device)
    batch_sizes = args.batch_sizes or args.defaults["batch_sizes"][profile]
    queries = torch.randn(max(batch_sizes), 3, size, size, generator=gen).to(device)
    info = {"model_name": model.config.model_name, "taps": list(model.backbone.taps),
            "image_size": size, "n_patches": model.backbone.n_patches,
            "encoder_params_m": sum(p.numel() for p in model.backbone.clip.visual.parameters()) / 1e6,
            "bank_build_ms": {}}
    # The ratio expected if Eq. 1 ran at the encoder's arithmetic rate (FLOP/s), to read the
    # measured ratios against (the heads add < 0.1%).
    enc_flops = encoder_flops(model.backbone.clip.visual)
    width = model.backbone.clip.visual.transformer.resblocks[0].attn.embed_dim
    res_flops = {k: residual_flops(len(model.backbone.taps), model.backbone.n_patches, width, k)
                 for k in args.shots}
    info["arithmetic"] = {"encoder_gflop_per_image": enc_flops / 1e9,
                          "residual_gflop_per_query": {k: f / 1e9 for k, f in res_flops.items()},
                          "speed_ratio_arithmetic": {k: enc_flops / (enc_flops + f)
                                                for k, f in res_flops.items()}}
    banks = {}
    for k in args.shots:
        start = time.perf_counter()
        banks[k] = model.prompt_bank(prompts[:k], CATEGORY)
        _sync(device)
        info["bank_build_ms"][k] = 1e3 * (time.perf_counter() - start)
    visual = model.backbone.clip.visual
    rows = []
    for precision in args.precision:
        amp = precision == "bf16"
        for batch in batch_sizes:
            x = queries[:batch]

            def encoder(x=x, precision=precision):
                with torch.no_grad(), _precision_context(precision, device):
                    return visual(x)

            fns = {"encoder": encoder}
            for k in args.shots:
                fns[k] = partial(model.score, x, banks[k], batch_size=len(x), amp=amp)
            log(f"[{profile}] {precision} B={batch}: timing encoder and K={list(args.shots)} ...")
            results = _interleaved(fns, device, memory, args.warmup, args.repeats)
            on_cpu = device.type == "cpu"
            # CPU: tensor memory from one extra, untimed call per function under the profiler
            tensor_peaks = {name: tensor_memory_peak(fn) for name, fn in fns.items()} if on_cpu else {}
            enc_times, enc_peaks = results.pop("encoder")
            enc = _row(profile, precision, "encoder", batch, None, enc_times, enc_peaks,
                       cpu_tensor_peak=tensor_peaks.get("encoder"), on_cpu=on_cpu)
            rows.append(enc)
            for k, (times, peaks) in results.items():
                row = _row(profile, precision, "inctrl", batch, k, times, peaks,
                           cpu_tensor_peak=tensor_peaks.get(k), on_cpu=on_cpu)
                row["speed_ratio"] = row["queries_per_s"] / enc["queries_per_s"]
                # per repeat: each InCTRL call against the encoder call just before it
                row["speed_ratio_paired"] = statistics.median(
                    e / t for e, t in zip(enc_times, times))
                # fastest call of each: the least disturbed by other work on a shared machine
                row["speed_ratio_best"] = min(enc_times) / min(times)
                row["memory_ratio"] = (row["peak_mem_mb"] / enc["peak_mem_mb"]
                                       if row["peak_mem_mb"] and enc["peak_mem_mb"] else None)
                if on_cpu:
                    row["rss_ratio"] = (row["peak_rss_mb"] / enc["peak_rss_mb"]
                                        if row["peak_rss_mb"] and enc["peak_rss_mb"] else None)
                rows.append(row)
        # the official-style loop: one query at a time, prompts and text re-encoded each time
        if args.official_queries > 0:
            for k in args.official_shots or args.defaults["official_shots"](args.shots):
                log(f"[{profile}] {precision} official-style loop, K={k} ...")
                loop = partial(_official_loop, model, prompts[:k], queries, args.official_queries, amp)
                results = _interleaved({"q": loop}, device, memory, 0 if device.type == "cpu" else 1, 1)
                times, peaks = results["q"]
                per_query = [times[0] / args.official_queries]
                rows.append(_row(profile, precision, "official", 1, k, per_query, peaks,
                                 on_cpu=device.type == "cpu",
                                 queries_timed=args.official_queries))
    check_batch = min(4, len(queries))
    info["precision_check"] = _precision_check(model, banks[min(args.shots)],
                                               queries[:check_batch], device)
    del model, banks
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows, info


def _add_speedups(rows: list[dict]) -> None:
    official = {(r["profile"], r["precision"], r["shots"]): r["queries_per_s"]
                for r in rows if r["method"] == "official"}
    for r in rows:
        key = (r["profile"], r["precision"], r["shots"])
        if r["method"] == "inctrl" and key in official:
            r["speedup_vs_official"] = r["queries_per_s"] / official[key]


def run(args, log=print) -> dict:
    import open_clip

    from inctrl.atomic import write_json
    from inctrl.device import resolve_device

    device = resolve_device(args.device)
    args.defaults = GPU_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
    for name in ("warmup", "repeats", "official_queries"):
        if getattr(args, name) is None:
            setattr(args, name, args.defaults[name])
    args.precision = args.precision or args.defaults["precision"]
    memory = PeakMemory(device)
    started = time.perf_counter()
    rows, profiles = [], {}
    for profile in args.profiles:
        profile_rows, info = benchmark_profile(profile, device, args, memory, log=log)
        rows += profile_rows
        profiles[profile] = info
    _add_speedups(rows)
    result = {
        "benchmark": "inctrl inference (benchmarks/bench_inference.py)",
        "device": device_name(device), "device_type": device.type,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "open_clip": open_clip.__version__,
        "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
        "command": " ".join(["python", "benchmarks/bench_inference.py", *args.argv]),
        "settings": {"shots": list(args.shots), "precision": list(args.precision),
                     "warmup": args.warmup, "repeats": args.repeats,
                     "official_queries": args.official_queries,
                     "official_shots": sorted({r["shots"] for r in rows if r["method"] == "official"}),
                     "category": CATEGORY,
                     "input": "preprocessed random tensors on the device (decoding excluded)",
                     "weights": "random (pretrained=False); speed does not depend on them"},
        "memory_method": memory.method or "unavailable on this platform",
        "targets": {"speed_ratio_min": TARGET_SPEED, "memory_ratio_max": TARGET_MEMORY},
        "profiles": profiles, "rows": rows,
        "wall_s": time.perf_counter() - started,
    }
    if args.out:
        write_json(args.out, result)
        log(f"wrote {args.out}")
    return result


# ---------------------------------------------------------------------------- reporting
def load_results(path) -> pd.DataFrame:
    """A results JSON -> one row per measurement, with the device and date as columns.

    >>> df = load_results("benchmarks/results/cpu.json")                     # doctest: +SKIP
    >>> df[df.method == "inctrl"].pivot_table("queries_per_s", "batch_size", "shots")  # doctest: +SKIP
    """
    import json

    import pandas as pd

    data = json.loads(Path(path).read_text())
    frame = pd.DataFrame(data["rows"])
    frame["device"] = data["device"]
    frame["date"] = data["date"]
    bounds = {p: info.get("arithmetic", {}).get("speed_ratio_arithmetic", {})
              for p, info in data.get("profiles", {}).items()}
    frame["speed_ratio_arithmetic"] = [
        _arithmetic_value(bounds, r) if r["method"] == "inctrl" else None for r in data["rows"]]
    return frame


def _arithmetic_value(bounds: dict, row: dict) -> float | None:
    """The arithmetic speed ratio of a row's profile and K (JSON keys are strings)."""
    table = bounds.get(row["profile"], {})
    return table.get(row["shots"], table.get(str(row["shots"])))


def _arithmetic(bounds: dict, row: dict) -> str:
    value = _arithmetic_value(bounds, row)
    return "n/a" if value is None else f"{value:.2f}"


def markdown_table(result: dict) -> str:
    rows = result["rows"]
    enc = {(r["profile"], r["precision"], r["batch_size"]): r for r in rows if r["method"] == "encoder"}
    official = {(r["profile"], r["precision"], r["shots"]): r for r in rows if r["method"] == "official"}
    rss = any("rss_ratio" in r for r in rows)
    bounds = {p: info.get("arithmetic", {}).get("speed_ratio_arithmetic", {})
              for p, info in result.get("profiles", {}).items()}
    lines = ["| profile | prec | K | B | InCTRL q/s | latency ms/batch | encoder q/s | speed ratio "
             "(median / fastest / arithmetic) | InCTRL MB | encoder MB | memory ratio "
             + ("| RSS ratio " if rss else "") + "| official q/s | speed-up |",
             "|---" * (14 if rss else 13) + "|"]

    def mb(value):
        return "n/a" if value is None else f"{value:.0f}"

    for r in rows:
        if r["method"] != "inctrl":
            continue
        e = enc[(r["profile"], r["precision"], r["batch_size"])]
        o = official.get((r["profile"], r["precision"], r["shots"]))
        ratio = "n/a" if r.get("memory_ratio") is None else f"{r['memory_ratio']:.2f}"
        base = (f"| {r['profile']} | {r['precision']} | {r['shots']} | {r['batch_size']} "
                f"| {r['queries_per_s']:.2f} | {r['latency_ms']:.0f} | {e['queries_per_s']:.2f} "
                f"| {r['speed_ratio']:.2f} / {r.get('speed_ratio_best', float('nan')):.2f} / "
                f"{_arithmetic(bounds, r)} | {mb(r['peak_mem_mb'])} | {mb(e['peak_mem_mb'])} | {ratio} ")
        if rss:
            base += "| n/a " if r.get("rss_ratio") is None else f"| {r['rss_ratio']:.2f} "
        tail = (f"| {o['queries_per_s']:.3f} | {r['speedup_vs_official']:.0f}x |" if o else "| - | - |")
        lines.append(base + tail)
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--profiles", nargs="+", default=["tiny", "paper"], choices=["tiny", "paper"])
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
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.profiles, args.shots = ["tiny"], [2]
        args.batch_sizes = args.batch_sizes or [1, 2]
        args.warmup = 0 if args.warmup is None else args.warmup
        args.repeats = args.repeats or 1
        args.official_queries = 1 if args.official_queries is None else args.official_queries
    return args


def main(argv=None) -> dict:
    from inctrl.device import resolve_device

    args = parse_args(argv)
    if args.out is None:
        args.out = str(ROOT / "benchmarks" / "results" / f"{device_slug(resolve_device(args.device))}.json")
    result = run(args, log=lambda msg: print(msg, file=sys.stderr, flush=True))
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
