"""The inference benchmark's output structure on a tiny quick run (no timing assertions)."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inference.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_inference", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_writes_results(tmp_path):
    bench = _bench()
    out = tmp_path / "results" / "cpu.json"
    bench.main(["--device", "cpu", "--quick", "--batch-sizes", "1", "--repeats", "1",
                "--out", str(out)])
    data = json.loads(out.read_text())
    for key in ("device", "date", "torch", "open_clip", "memory_method", "rows", "profiles"):
        assert key in data
    methods = {(r["method"], r["batch_size"]) for r in data["rows"]}
    assert {("encoder", 1), ("inctrl", 1), ("official", 1)} <= methods
    for row in data["rows"]:
        assert row["queries_per_s"] > 0 and row["latency_ms"] > 0
        if row["method"] == "inctrl":
            assert row["speed_ratio"] > 0 and row["shots"] == 2
            assert "speedup_vs_official" in row
    assert data["profiles"]["tiny"]["precision_check"]["max_abs_score_diff"] >= 0

    frame = bench.load_results(out)
    assert len(frame) == len(data["rows"])
    assert {"profile", "method", "batch_size", "shots", "queries_per_s", "device"} <= set(frame.columns)
    assert "| tiny | fp32 | 2 | 1 |" in bench.markdown_table(data)


def test_encoder_flops_match_a_hand_count(tiny_model):
    # tiny: 225 patches + class token, width 256, MLP 1024, 8 blocks, 16x16x3 patches, proj 256x640
    tokens, width, mlp = 226, 256, 1024
    block = tokens * (4 * width * width + 2 * width * mlp) + 2 * tokens * tokens * width
    macs = 225 * 3 * 16 * 16 * width + 8 * block + width * 640
    bench = _bench()
    assert bench.encoder_flops(tiny_model.backbone.clip.visual) == 2 * macs
    assert bench.residual_flops(3, 225, 256, 8) == 2 * 3 * 225 * 8 * 225 * 256


def test_cpu_tensor_memory_peak_counts_live_tensors():
    import torch

    bench = _bench()

    def two_then_one():
        a = torch.ones(1_000_000)            # 4 MB
        b = torch.ones(500_000)              # +2 MB: the peak, 6 MB
        del a, b
        return torch.ones(250_000)           # 1 MB, returned and then dropped

    peak = bench.tensor_memory_peak(two_then_one)
    assert peak is not None, "torch.profiler's memory timeline is missing from this torch"
    assert 6_000_000 <= peak < 6_100_000
