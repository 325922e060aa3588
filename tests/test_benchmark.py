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
