"""The book's helpers (inctrl.book): each against a hand computation, and the figure rules."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from test_book import ROOT  # noqa: E402

from inctrl.book import diagram, notebook, patches, progress, runs, score_plots, speed, tables, toy, viz  # noqa: E402


def test_import_inctrl_stays_free_of_the_book_stack():
    code = ("import sys, inctrl; bad = [m for m in ('pandas', 'matplotlib', 'seaborn', 'inctrl.book') "
            "if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, f"import inctrl pulls in {run.stdout.strip()}"


# ------------------------------------------------------------------------ profiles
def test_profile_auto_is_the_offline_default_without_cuda():
    assert notebook.resolve_profile("auto", "cpu") == notebook.offline_default()
    assert notebook.offline_default() in ("mini", "tiny")
    for name in ("mini", "tiny", "paper"):
        assert notebook.resolve_profile(name, "cpu") == name
    with pytest.raises(ValueError, match="profile must be one of"):
        notebook.resolve_profile("large", "cpu")


def test_profile_labels_name_the_weights():
    assert notebook.profile_label("tiny") == "tiny profile, random backbone"
    assert notebook.profile_label("mini") == "mini profile, ImageNet CNN with a LiT text tower"
    assert notebook.profile_label("mini", pretrained=False) == "mini profile, random weights"
    assert notebook.profile_label("paper") == "paper profile, laion400m_e32"
    assert notebook.profile_label("paper", weights="/x/w.bin") == "paper profile, weights w.bin"


def test_source_between_cuts_at_the_markers():
    def sample():
        a = 1
        # Eq. 1: first
        b = 2
        # Eq. 2: second
        return a + b

    assert notebook.source_between(sample, "# Eq. 1", "# Eq. 2") == "# Eq. 1: first\nb = 2"
    with pytest.raises(ValueError, match="does not occur"):
        notebook.source_between(sample, "# Eq. 9")


# ------------------------------------------------------------------------ progress
def test_live_bar_keeps_one_updated_output_per_loop(monkeypatch):
    shown = []

    class Handle:
        def update(self, data, raw=False):
            shown[-1] = data["text/plain"]

    def display(data, raw=False, display_id=False):
        shown.append(data["text/plain"])
        return Handle()

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", display)
    for leave in (True, False):
        for _ in progress.LiveBar(range(50), desc=f"leave={leave}", leave=leave, mininterval=0):
            pass
    assert len(shown) == 2, "one output per bar, updated in place"
    assert all("50/50" in text for text in shown), "each bar keeps its final line"
    assert not progress.use_live_progress(), "outside a kernel nothing is patched"


# ------------------------------------------------------------------------ chapter helpers
def test_toy_residual_transfers_and_absolute_does_not():
    rng = np.random.default_rng(0)
    a, b = toy.make_context(40.0, 100, 4, rng), toy.make_context(220.0, 100, 4, rng)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(b.y, toy.absolute_score(b.x, a.normal_direction)) < 0.2
    assert roc_auc_score(b.y, toy.residual_score(b.x, b.prompts)) > 0.95
    # Eq. 1 with one patch per sample: 0.5 * (1 - cos) to the nearest prompt, by hand
    hand = 0.5 * (1 - (b.x @ b.prompts.T).max(1))
    assert np.allclose(toy.residual_score(b.x, b.prompts), hand, atol=1e-6)


def test_nearest_prompt_patch_matches_brute_force():
    from types import SimpleNamespace

    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 3, 9, 8, generator=gen)                     # [L, B, N, D]
    prompt = torch.nn.functional.normalize(torch.randn(2, 2 * 9, 8, generator=gen), dim=-1)
    feats, bank = SimpleNamespace(tokens=tokens), SimpleNamespace(tokens=prompt)
    hit = patches.nearest_prompt_patch(feats, bank, query=1, patch=4)
    q = torch.nn.functional.normalize(tokens[-1, 1, 4], dim=0)
    dists = 0.5 * (1 - prompt[-1] @ q)
    best = int(dists.argmin())
    assert (hit.prompt, hit.prompt_patch) == divmod(best, 9)
    assert hit.distance == pytest.approx(float(dists[best]), abs=1e-6)


def test_argmax_in_corner():
    maps = torch.zeros(3, 15, 15)
    maps[0, 0, 14] = 1      # a corner
    maps[1, 1, 1] = 1       # within one patch of a corner
    maps[2, 7, 0] = 1       # on an edge, not a corner
    assert patches.argmax_in_corner(maps).tolist() == [True, True, False]


def test_confusion_counts_by_hand():
    counts = tables.confusion([0.1, 0.4, 0.5, 0.9], [0, 1, 0, 1], 0.45)
    assert counts == {"threshold": 0.45, "flagged": 2, "true positives": 1, "false positives": 1,
                      "missed": 1}


def test_operating_point_rates_by_hand():
    # 2 anomalous (0.4 missed, 0.9 caught), 2 normal (0.5 a false alarm)
    point = tables.operating_point([0.1, 0.4, 0.5, 0.9], [0, 1, 0, 1], 0.45)
    assert point == {"threshold": 0.45, "flagged": 2, "caught": 1, "false alarms": 1, "missed": 1,
                     "recall": 0.5, "false-alarm rate": 0.5, "precision": 0.5}
    assert all(isinstance(point[k], int) for k in ("flagged", "caught", "false alarms", "missed"))
    assert tables.operating_point([0.1, 0.2], [0, 1], 0.9)["precision"] == 1.0  # nothing flagged


def test_spread_and_published_phrases():
    assert tables.within_spread((0.675, 0.02), (0.649, 0.01))          # gap 0.026 <= 0.03
    assert not tables.within_spread((0.70, 0.01), (0.649, 0.01))       # gap 0.051 > 0.02
    assert tables.spread_phrase((0.7, 0.0), (0.6, 0.0), 3) == "larger than the spread of 3 draws"
    assert tables.published_auroc("ELPV") == ("0.839 ± 0.003 (K = 2), 0.846 ± 0.011 (K = 4), "
                                              "0.872 ± 0.013 (K = 8)")
    with pytest.raises(KeyError, match="no AUROC"):
        tables.published_auroc("cifar")


def test_identical_rows_merge_into_one():
    sizes = pd.DataFrame({2: [9.5] * 5 + [1.0], 4: [9.5] * 5 + [2.0]},
                         index=[f"epoch_{i}.pt" for i in range(1, 5)] + ["last.pt", "log.csv"])
    merged = tables.merge_identical_rows(sizes.iloc[[0, 1, 5]], noun="file")
    assert merged.index.tolist() == ["epoch_1.pt, epoch_2.pt", "log.csv"]
    merged = tables.merge_identical_rows(sizes, noun="file")
    assert merged.index.tolist() == ["epoch_1.pt, …, last.pt (5 files)", "log.csv"]
    assert merged.loc["log.csv"].tolist() == [1.0, 2.0]


def test_flat_scores_are_drawn_flat_with_their_range():
    assert score_plots.flat_range([0.4601, 0.4650, 0.462]) == pytest.approx((0.4601, 0.465))
    assert score_plots.flat_range([0.1, 0.5]) is None
    ax = score_plots.score_histogram(np.array([0.4601, 0.465, 0.462, 0.463]), np.array([0, 0, 1, 1]),
                                     plt.figure().gca(), xlabel="$s_i$")
    lo, hi = ax.get_xlim()
    assert hi - lo >= 0.1 and "0.460–0.465" in ax.get_xlabel()
    plt.close("all")


def _component_table():
    rows = []
    for k, values in ((2, (0.7, 0.8, 0.6, 0.5)), (4, (0.9, 0.8, 0.6, 0.5))):
        for score, auroc in zip(("full", "s_p", "s_i", "s_a"), values):
            rows.append({"k": k, "score": score, "auroc": auroc, "auroc_std": 0.01,
                         "auprc": auroc, "auprc_std": 0.02})
    return pd.DataFrame(rows)


def test_results_and_ablation_tables_fit_and_agree():
    table = _component_table()
    results = tables.results_table(table, (2, 4), {2: (0.839, 0.003)})
    assert list(results.columns) == ["AUROC (this run)", "AUPRC (this run)", "AUROC (published)"]
    assert results.loc[2, "AUROC (this run)"] == "0.700 ± 0.010"
    assert results.loc[4, "AUROC (published)"] == "–"
    verdict = tables.ablation(table, (2, 4))
    assert verdict["full − best part"].round(3).tolist() == [-0.1, 0.1]
    assert verdict.loc[2, "best part"] == "s_p (patch)"


def test_checkpoint_lookup(tmp_path):
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "checkpoint.pyth").write_bytes(b"")
    (tmp_path / "train_k2").mkdir()
    (tmp_path / "train_k2" / "last.pt").write_bytes(b"")
    assert runs.find_checkpoint(tmp_path, 4).name == "checkpoint.pyth"
    assert runs.find_checkpoint(tmp_path, 2).name == "last.pt"
    with pytest.raises(FileNotFoundError, match="K=8"):
        runs.find_checkpoint(tmp_path, 8)
    assert runs.nearest_checkpoint(tmp_path, 3).parent.name == "train_k2"
    assert runs.nearest_checkpoint(tmp_path / "none", 3) is None


def test_work_counts_and_the_throughput_panels_name_their_machine():
    work = speed.work_counts(1092)
    assert work.loc[8, "image passes, official"] == 1092 * 9 and work.loc[8, "image passes, bank"] == 1100
    df, files = speed.load_benchmarks(str(ROOT / "benchmarks" / "results" / "*.json"), ROOT)
    if df.empty:
        pytest.skip("no benchmark results in the repository")
    groups = df[df.precision == "fp32"].groupby("file")  # one panel per machine, fp32
    fig, axes = plt.subplots(1, len(groups), squeeze=False, layout="constrained")
    speed.plot_throughput(df, axes.ravel())
    titles = [ax.get_title() for ax in axes.ravel()]
    plt.close(fig)
    assert titles == [f"{speed.machine_name(part.device.iloc[0], part['kind'].iloc[0])}, fp32, "
                      f"K = {int(part.shots.max())}" for _, part in groups]
    assert speed.machine_name("Intel(R) Xeon(R) Processor (2 cores, 2 torch threads)", "cpu") == "2-core CPU"
    assert speed.machine_name("NVIDIA H200", "cuda") == "NVIDIA H200 GPU"
    # the batching sentence quotes what the finding checks
    from inctrl.book.findings import _batching_gains

    gains = speed.batching_gains(df)
    said = speed.batching_sentence(gains)
    assert _batching_gains({"batching": gains, "batching_sentence": said})
    slower_gpu = {f: {**g, "gain": 1.0} if g["kind"] == "cuda" else g for f, g in gains.items()}
    assert "a GPU needs large batches" not in speed.batching_sentence(slower_gpu)
    assert _batching_gains({"batching": slower_gpu, "batching_sentence": speed.batching_sentence(slower_gpu)})


# ------------------------------------------------------------------------ figures
def _check_legible(fig):
    assert fig.get_figwidth() <= viz.PAGE_WIDTH + 1e-9
    assert viz.smallest_font(fig) >= viz.MIN_FONT


def test_book_figures_are_legible_at_page_width():
    viz.use_style()
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20), np.ones(20)]
    scores = rng.random(40) + labels / 2
    try:
        _check_legible(diagram.pipeline_figure().figure)
        _, axes = viz.subplots(1, 2)
        score_plots.plot_roc_pr(labels, {"s": scores, "s_p": scores[::-1]}, axes, label="tiny profile")
        _check_legible(axes[0].figure)
        # the label once, above both panels (two long panel titles would overlap)
        assert axes[0].figure.get_suptitle() == "[tiny profile]"
        assert all("tiny" not in ax.get_title() for ax in axes)
        axes = score_plots.score_distributions({"a": scores, "b": -scores, "c": scores ** 2}, labels,
                                               label="x")
        _check_legible(axes[0].figure)
        _, ax = viz.subplots(1, 1, height=2.5)
        score_plots.auroc_heatmap(_component_table(), ax)
        _check_legible(ax.figure)
        assert len(ax.figure.axes) == 2, "the AUROC heatmap has its colour bar"
    finally:
        plt.close("all")


def test_wide_figures_count_as_shrunk():
    fig = plt.figure(figsize=(2 * viz.PAGE_WIDTH, 3))
    fig.text(0.5, 0.5, "x", fontsize=10)
    assert viz.smallest_font(fig) == pytest.approx(5.0)
    plt.close(fig)


def test_heatmaps_use_the_one_colormap_with_a_colour_bar():
    viz.use_style()
    fig, ax = viz.subplots(1, 1, width=3, height=3)
    viz.heatmap_overlay(np.zeros((32, 32, 3)), np.random.default_rng(0).random((15, 15)), ax)
    assert ax.images[-1].get_cmap().name == viz.ANOMALY_CMAP
    assert len(fig.axes) == 2, "a heatmap gets a colour bar"
    plt.close(fig)
