"""The inference benchmark: its output structure on a tiny quick run (the numbers related to
each other, no speed assertions), its configuration, its memory probe, and the FLOP counts."""

import importlib
import json
import statistics
import sys
from pathlib import Path

import pytest
import torch

from inctrl.flops import encoder_flops, patch_distance_flops, query_flops

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("benchmarks.bench_inference")


def test_quick_benchmark_writes_results(tmp_path):
    bench = _bench()
    out = tmp_path / "results" / "cpu.json"
    bench.main(["--device", "cpu", "--quick", "--batch-sizes", "1", "--repeats", "1",
                "--out", str(out)])
    data = json.loads(out.read_text())
    for key in ("device", "date", "torch", "open_clip", "memory_method", "rows", "profiles"):
        assert key in data
    assert data["settings"]["shots"] == [2] and data["settings"]["repeats"] == 1
    assert data["settings"]["warmup"] == 0 and data["settings"]["official_shots"] == [2]
    rows = {(r["method"], r["batch_size"]): r for r in data["rows"]}
    assert set(rows) == {("encoder", 1), ("inctrl", 1), ("official", 1)}
    for row in data["rows"]:
        assert row["latency_ms"] == pytest.approx(statistics.median(row["latency_ms_all"]))
        assert row["queries_per_s"] == pytest.approx(1e3 * row["batch_size"] / row["latency_ms"])
    encoder, inctrl_row, official = rows["encoder", 1], rows["inctrl", 1], rows["official", 1]
    assert len(encoder["latency_ms_all"]) == len(inctrl_row["latency_ms_all"]) == 1
    assert inctrl_row["shots"] == 2 and official["shots"] == 2 and official["queries_timed"] == 1
    assert inctrl_row["speed_ratio"] == pytest.approx(inctrl_row["queries_per_s"] / encoder["queries_per_s"])
    assert inctrl_row["speedup_vs_official"] == pytest.approx(
        inctrl_row["queries_per_s"] / official["queries_per_s"])
    tiny = data["profiles"]["tiny"]
    # the arithmetic ratio E / (E + R_2) of the tiny profile, from the hand count below
    assert float(tiny["arithmetic"]["speed_ratio_arithmetic"]["2"]) == pytest.approx(
        3.350953984 / (3.350953984 + 0.15552))
    # bf16 really ran (scores differ) and stayed close to fp32
    assert 0 < tiny["precision_check"]["max_abs_score_diff"] < 5e-3

    report = importlib.import_module("benchmarks.report")
    frame = report.load_results(out)
    assert len(frame) == len(data["rows"])
    assert {"profile", "method", "batch_size", "shots", "queries_per_s", "device"} <= set(frame.columns)
    assert "| tiny | fp32 | 2 | 1 |" in report.markdown_table(data)


def test_config_fills_in_the_device_defaults_without_changing_what_was_asked():
    bench = _bench()
    quick = bench.parse_args(["--quick", "--warmup", "2"])
    assert (quick.profiles, quick.shots, quick.batch_sizes, quick.warmup, quick.repeats) == (
        ("tiny",), (2,), (1, 2), 2, 1)
    cpu = bench.parse_args(["--shots", "2", "8"]).for_device(torch.device("cpu"))
    assert (cpu.precision, cpu.warmup, cpu.repeats, cpu.official_queries, cpu.official_shots) == (
        ("fp32",), 1, 5, 1, (8,))
    assert cpu.batch_sizes_for("tiny") == (1, 8, 32) and cpu.batch_sizes_for("paper") == (1, 8)
    cuda = bench.parse_args(["--repeats", "3"]).for_device(torch.device("cuda"))
    assert (cuda.precision, cuda.repeats, cuda.official_shots) == (("fp32", "bf16"), 3, (2, 4, 8))
    with pytest.raises(AttributeError):
        cuda.repeats = 4  # frozen: a run's configuration is not edited on the way


def test_flops_match_a_hand_count(tiny_model):
    # tiny: 225 patches + class token, width 256, MLP 1024, 8 blocks, 16x16x3 patches, proj 256x640
    tokens, width, mlp = 226, 256, 1024
    block = tokens * (4 * width * width + 2 * width * mlp) + 2 * tokens * tokens * width
    macs = 225 * 3 * 16 * 16 * width + 8 * block + width * 640
    assert encoder_flops(tiny_model.backbone.clip.visual) == 2 * macs == 3_350_953_984
    assert patch_distance_flops(3, 225, 256, 8) == 2 * 3 * 225 * 8 * 225 * 256
    assert query_flops(tiny_model, 8) == {"encoder": 2 * macs, "patch_distances": 2 * 3 * 225 * 8 * 225 * 256}


def test_cpu_tensor_memory_peak_counts_live_tensors():
    bench = _bench()

    def two_then_one():
        a = torch.ones(1_000_000)            # 4 MB
        b = torch.ones(500_000)              # +2 MB: the peak, 6 MB
        del a, b
        return torch.ones(250_000)           # 1 MB, returned and then dropped

    peak = bench.tensor_memory_peak(two_then_one)
    assert peak is not None, "torch.profiler's memory timeline is missing from this torch"
    assert 6_000_000 <= peak < 6_100_000


def test_cpu_tensor_memory_peak_falls_back_when_the_private_api_changes(monkeypatch):
    bench = _bench()

    def changed(self):
        raise AttributeError("no timeline in this torch")

    monkeypatch.setattr(torch.profiler.profile, "_memory_profile", changed)
    assert bench.tensor_memory_peak(lambda: torch.ones(10)) is None
    monkeypatch.setitem(sys.modules, "torch.profiler._memory_profiler", None)  # import fails
    assert bench.tensor_memory_peak(lambda: torch.ones(10)) is None
