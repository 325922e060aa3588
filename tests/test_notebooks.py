"""Execute every chapter listed in _toc.yml with papermill at small sizes, then check the
numbers each chapter wrote to its metrics.json.

Chapters are discovered from the toc, so a chapter added there is executed here too; give
it small parameters in ``OVERRIDES`` and specific checks in ``CHECKS``. Every run gets its
own ``output_dir`` under tmp_path and shares one ``data_dir`` per session, so ELPV is
prepared once. Set INCTRL_TEST_DATA_DIR to reuse an already prepared data folder.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from test_book import resolve, toc_files

from inctrl.book.notebook import profile_label
from inctrl.data import WORLD_AUX

papermill = pytest.importorskip("papermill")

#: Small parameters per chapter (file stem -> papermill parameters).
SMALL = {"n_normal": 6, "n_anomalous": 6}
OVERRIDES: dict[str, dict] = {
    "index": {},
    "01_in_context_learning": {**SMALL, "shots": 2, "toy_points": 50},
    "02_patch_residuals": {**SMALL, "shots": 2, "ks": [1, 2], "prompt_seeds": [0, 1]},
    # chapter 3 trains (or loads) the shared run with chapter 5's knobs, as the book build does
    "03_image_residuals": {**SMALL, "shots": 2,
                           "run": {"shots": [2], "seeds": [0], "epochs": 1, "steps_per_epoch": 5}},
    "04_text_priors": {**SMALL, "n_show": 2},
    # 05-07 share one small offline run (experiment_dir, see SHARED_EXPERIMENT): same knobs
    "05_training": {"shots": [2], "seeds": [0], "epochs": 1, "steps_per_epoch": 5, "batch_rows": 2,
                    "phi_queries": 8},
    "06_benchmark": {"shots": [2], "seeds": [0], "epochs": 1, "steps_per_epoch": 5, "roc_queries": 40},
    "07_your_own_images": {"shots": 2, "n_good": 6, "n_new": 8},
    "08_speed": {"shots": 2, "n_live": 4, "live_batch_sizes": [1, 4], "n_official": 1, "repeats": 1},
    "09_offline_backbone": {"photo_size": 64},
}

#: Chapters that read or write the shared offline experiment (trained once per session).
SHARED_EXPERIMENT = {"03_image_residuals", "05_training", "06_benchmark", "07_your_own_images"}

#: Extra runs: the Colab path (paper architecture) on random weights, no download; and
#: profile "auto", which on a machine without CUDA is the offline default.
EXTRA_RUNS = {
    "02_patch_residuals[paper-random]": (
        "02_patch_residuals",
        {"profile": "paper", "pretrained": False, "n_normal": 2, "n_anomalous": 2, "shots": 1,
         "ks": [1], "prompt_seeds": [0], "batch_size": 4},
    ),
    "03_image_residuals[untrained]": (
        "03_image_residuals", {**SMALL, "shots": 2, "trained_heads": False}),
    "01_in_context_learning[auto]": (
        "01_in_context_learning", {**SMALL, "shots": 2, "toy_points": 50, "profile": "auto"}),
}


def _notebook_entries() -> list[str]:
    return [e for e in toc_files() if resolve(e).suffix == ".ipynb"]


RUNS = {Path(e).name: (Path(e).name, OVERRIDES.get(Path(e).name, {})) for e in _notebook_entries()}
RUNS.update(EXTRA_RUNS)


def default_parameter(stem: str, name: str):
    """The default value of ``name`` in the parameters cell of chapter ``stem``."""
    import ast

    import nbformat

    nb = nbformat.read(resolve(f"book/{stem}"), as_version=4)
    source = next(c.source for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"{stem}: no parameter {name!r}")


def expected_profile(stem: str, params: dict) -> str:
    """The concrete profile a run of chapter ``stem`` with ``params`` must report."""
    from inctrl.book.notebook import resolve_profile

    return resolve_profile(params.get("profile", default_parameter(stem, "profile")), "cpu")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    shared = os.environ.get("INCTRL_TEST_DATA_DIR")
    return Path(shared) if shared else tmp_path_factory.mktemp("data")


def _auroc_like(metrics, path=""):
    """Every value whose key mentions auroc/auprc, with its dotted path."""
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            sub = f"{path}.{key}" if path else str(key)
            if any(word in str(key) for word in ("auroc", "auprc")):
                for leaf in _leaves(value):
                    yield sub, leaf
            else:
                yield from _auroc_like(value, sub)


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


# ------------------------------------------------------------------ per-chapter checks
def trainable_count(profile: str) -> int:
    """psi (E*E/4*2, no bias) + eta on E + phi on the 225 cells: the official checkpoints' 334,916
    at E = 640; the offline default's CNN has E = 1280 (its pooled features): 1,032,516."""
    from inctrl.heads import Adapter, ScoreHead

    dim = 1280 if profile == "mini" else 640
    parts = (Adapter(dim), ScoreHead(dim), ScoreHead(225))
    count = sum(p.numel() for part in parts for p in part.parameters())
    assert dim != 640 or count == 334_916  # book/equations.md §3, §5
    return count


def check_index(m, params):
    profile = expected_profile("index", params)
    assert m["profile"] == profile
    assert m["n_trainable_parameters"] == trainable_count(profile)
    assert m["n_backbone_parameters"] > m["n_trainable_parameters"]


def check_01(m, params):
    assert m["profile"] == expected_profile("01_in_context_learning", params)
    assert m["shots"] == params["shots"]
    assert (m["n_normal"], m["n_anomalous"]) == (params["n_normal"], params["n_anomalous"])
    toy = m["toy_auroc"]
    # the in-context residual works in both contexts; the absolute detector only in A
    assert toy["residual_A"] > 0.95 and toy["residual_B"] > 0.95
    assert toy["absolute_A"] > 0.95 and toy["absolute_B"] < 0.2
    assert set(m["contexts"]) == {"ELPV", "textures"}
    for ctx in m["contexts"].values():
        assert 0 <= ctx["mean_sp_normal"] <= 1 and 0 <= ctx["mean_sp_anomalous"] <= 1
    # normal solar cells are closer to solar-cell prompts than to texture prompts
    assert m["contexts"]["ELPV"]["mean_sp_normal"] < m["contexts"]["textures"]["mean_sp_normal"]


def check_02(m, params):
    assert m["shots"] == params["shots"]
    assert (m["n_normal"], m["n_anomalous"]) == (params["n_normal"], params["n_anomalous"])
    profile = expected_profile("02_patch_residuals", params)
    assert m["profile"] == profile
    assert m["map_shape"] == [15, 15] and m["n_layers"] == 3
    assert 0 <= m["patch_map_min"] <= m["patch_map_max"] <= 1
    assert m["sp_equals_max_of_map"] is True
    assert all(0 <= d <= 1 for d in m["nearest_distances"])
    ks = [str(k) for k in params["ks"]]
    assert list(m["auroc_sp_by_k"]) == ks
    assert all(len(v) == len(params["prompt_seeds"]) for v in m["auroc_sp_by_k"].values())
    assert m["label"] == profile_label(profile, params.get("pretrained", True))
    assert len(m["prompt_cell_types"]) == params["shots"]
    assert set(m["prompt_cell_types"]) <= {"mono", "poly"}
    assert all(0 <= v <= 1 for v in m["argmax_in_corner"].values())


def check_03(m, params):
    trained = params.get("trained_heads", True)
    assert m["shots"] == params["shots"] and m["heads_trained"] is trained
    assert (m["checkpoint"] is not None) is trained
    c = m["complement"]
    assert c["n_defective"] == params["n_anomalous"]
    assert c["n_si_higher"] + c["n_sp_higher"] <= c["n_defective"]
    assert (m["n_normal"], m["n_anomalous"]) == (params["n_normal"], params["n_anomalous"])
    dim = 1280 if expected_profile("03_image_residuals", params) == "mini" else 640  # E: the embedding
    assert m["residual_dim"] == dim
    assert m["n_adapter_parameters"] == 2 * dim * (dim // 4)
    assert m["si_max_abs_diff"] < 1e-5  # the notebook's eta(F_x) is the model's s_i
    assert 0 < m["image_score_min"] <= m["image_score_max"] < 1
    assert set(m["auroc"]) == {"raw_residual_norm", "adapted_residual_norm", "s_i"}
    assert 0 < m["pca_explained_variance"] <= 1


def check_04(m, params):
    assert (m["n_normal_sentences"], m["n_anomalous_sentences"]) == (154, 88)
    assert (m["n_cifar_normal"], m["n_cifar_anomalous"]) == (1, 1)
    assert (m["n_normal"], m["n_anomalous"]) == (params["n_normal"], params["n_anomalous"])
    assert m["text_shape"] == [2, 1280 if expected_profile("04_text_priors", params) == "mini" else 640]
    assert -1 <= m["cos_tn_ta"] <= 1
    assert m["sa_max_abs_diff"] < 1e-4  # Eq. 6 recomputed equals the model's text_score
    assert 0 < m["sa_mean"] < 1


def check_05(m, params):
    shots = [str(k) for k in params["shots"]]
    profile = expected_profile("05_training", params)
    assert m["profile"] == profile and m["label"] == profile_label(profile)
    n = len(WORLD_AUX["families"])  # the book's auxiliary set: the world-drawn one
    assert m["aux_categories"] == sorted(WORLD_AUX["families"])
    assert m["aux_images"] == n * (WORLD_AUX["n_normal"] + WORLD_AUX["n_anomalous"])
    assert m["aux_anomalous"] == n * WORLD_AUX["n_anomalous"]
    assert m["batch_size"] == 16 and m["batch_prompts_same_category"] is True
    assert list(m["loss"]) == shots
    for loss in m["loss"].values():
        assert loss["steps"] == params["epochs"] * params["steps_per_epoch"]
        # two focal terms, each at most the worst case FL(z=1, y=0) = 0.70 of the official form
        worst = math.log1p(math.e) * (1 - math.exp(-math.log1p(math.e))) ** 2
        assert 0 < loss["last_epoch"] < 2 * worst
    # official focal form at a perfect score: BCEWithLogits(1, 1) = log(1 + e^-1) -> 0.0227;
    # BCEWithLogits(0, 0) = log 2, pt = 1/2 -> log(2) / 4
    b = math.log1p(math.exp(-1))
    assert abs(m["loss_curve_official"]["best_anomalous"] - (1 - math.exp(-b)) ** 2 * b) < 1e-5
    assert abs(m["loss_curve_official"]["best_normal"] - math.log(2) / 4) < 1e-5
    assert m["n_trainable"] == trainable_count(profile)
    for files in m["checkpoints"].values():
        assert {"last.pt", "loss_log.csv", "epoch_1.pt"} <= set(files)


def check_06(m, params):
    shots = [str(k) for k in params["shots"]]
    assert m["profile"] == expected_profile("06_benchmark", params)
    assert m["checkpoint_dir"] is None and m["targets"] == ["elpv"]
    assert list(m["full_auroc"]) == shots and list(m["full_auprc"]) == shots
    rows = m["table"]["elpv"]
    assert len(rows) == 4 * len(shots) and {r["score"] for r in rows} == {"full", "s_p", "s_i", "s_a"}
    # the published numbers are carried separately, never as this run's
    assert m["paper_auroc"] == {k: v for k, v in {"2": 0.839, "4": 0.846, "8": 0.872}.items() if k in shots}
    by_k = {}
    for r in rows:
        by_k.setdefault(str(r["k"]), {})[r["score"]] = r["auroc"]
    assert m["full_beats_every_part"] == {  # the verdict is the table's, not computed apart
        k: v["full"] > max(v["s_p"], v["s_i"], v["s_a"]) for k, v in by_k.items()}
    assert m["roc"]["n"] == params["roc_queries"] and set(m["roc"]["curves"]) >= {"full s", "s_p (patch)"}
    assert "diagnosis" not in m
    # the summary's ablation sentence follows the table
    every_k = all(v["full"] < v["s_p"] for v in by_k.values())
    assert ("beats the full score for every K" in m["summary_ablation"]) == every_k


def check_07(m, params):
    assert m["n_good"] == params["n_good"] and m["n_new"] == params["n_new"]
    assert m["n_defective"] == params["n_new"] - params["n_new"] // 2
    assert m["n_held_out"] == params["n_good"] - params["shots"]
    assert m["checkpoint"] is not None and m["checkpoint"].endswith("last.pt")
    assert 0 < m["thresholds"]["best_f1"] <= 1
    cli = m["cli"]
    assert cli["returncode"] == 0 and cli["rows"] == params["n_new"] and cli["heatmaps"] == params["n_new"]
    assert {"path", "score", "patch_score", "image_score", "text_score", "threshold", "anomalous",
            "heatmap"} <= set(cli["columns"])
    # a user error: one line, non-zero exit, no traceback
    assert cli["bad_returncode"] != 0 and "Traceback" not in cli["bad_message"]
    assert "--shots" in cli["bad_message"]
    # the command line draws the API's prompts and thresholds on the same held-out images
    assert cli["max_abs_score_diff"] < 1e-5
    assert abs(cli["threshold"] - m["thresholds"]["normal"]) < 1e-6


def check_08(m, params):
    assert m["batch_invariance_max_abs_diff"] < 1e-5  # batching never changes a score
    assert m["work_counts"] == {"n_test": 1092, "official_image_passes_k8": 1092 * 9,
                                "inctrl_image_passes_k8": 1092 + 8}
    assert m["n_live"] == params["n_live"] and m["batch_sizes"] == params["live_batch_sizes"]
    # timings are reported, never compared: only that each configuration was measured
    assert set(m["live_seconds_per_query"]) == {"official-style", "one at a time", "batched, B=4"}
    assert m["n_official"] == params["n_official"]


CHECKS = {"index": check_index, "01_in_context_learning": check_01, "02_patch_residuals": check_02,
          "03_image_residuals": check_03, "04_text_priors": check_04, "05_training": check_05,
          "06_benchmark": check_06, "07_your_own_images": check_07, "08_speed": check_08}


@pytest.fixture(scope="session")
def experiment_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("offline-elpv")


@pytest.mark.notebook
@pytest.mark.parametrize("run", sorted(RUNS))
def test_chapter_executes(run, data_dir, experiment_dir, tmp_path):
    stem, overrides = RUNS[run]
    entry = next(e for e in _notebook_entries() if Path(e).name == stem)
    source = resolve(entry)
    out_dir = tmp_path / "outputs"
    params = {"data_dir": str(data_dir), "output_dir": str(out_dir), "device": "cpu", **overrides}
    if stem in SHARED_EXPERIMENT:
        params["experiment_dir"] = str(experiment_dir)
    executed = tmp_path / source.name
    papermill.execute_notebook(str(source), str(executed), parameters=params, kernel_name="python3",
                               cwd=str(source.parent), progress_bar=False)
    metrics_path = out_dir / "metrics.json"
    assert metrics_path.is_file(), f"{source.name} wrote no metrics.json into output_dir"
    metrics = json.loads(metrics_path.read_text())
    assert isinstance(metrics, dict) and metrics, f"{source.name}: empty metrics"
    for key, value in _auroc_like(metrics):
        assert isinstance(value, (int, float)), f"{source.name}: {key} = {value!r} is not a number"
        assert math.isnan(value) or 0.0 <= value <= 1.0, f"{source.name}: {key} = {value} outside [0, 1]"
    if stem in CHECKS:
        CHECKS[stem](metrics, {**overrides})


@pytest.mark.parametrize("stem", ["05_training", "06_benchmark"])
def test_book_run_is_the_chapters_default_run(stem):
    """Chapter 3 trains chapter 5's run with inctrl.book.runs.BOOK_RUN; chapters 5 and 6 must ask
    for the same run, or a build would train it twice and chapter 3 would show other heads."""
    from inctrl.book.runs import BOOK_RUN

    for key in ("shots", "seeds", "epochs", "steps_per_epoch"):
        value = BOOK_RUN[key]
        assert default_parameter(stem, key) == (list(value) if isinstance(value, tuple) else value), key
    if stem == "05_training":
        assert default_parameter(stem, "aux_dataset") == BOOK_RUN["aux"]
    for chapter in ("03_image_residuals", stem):
        assert default_parameter(chapter, "experiment_dir") == "../outputs/offline-elpv"


def test_book_run_refuses_an_unknown_setting(tmp_path):
    from inctrl.book.runs import book_run

    with pytest.raises(ValueError, match=r"unknown run setting\(s\) epoch; use shots, seeds"):
        book_run(tmp_path, tmp_path / "run", profile="tiny", epoch=3)
