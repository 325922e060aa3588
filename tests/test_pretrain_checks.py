"""The pretrained-backbone checks: the validation and real-texture sets, the s_p table."""

import json

import pandas as pd
import pytest

from inctrl.book import pretrain_checks
from inctrl.book.baselines import feature_free_baselines
from inctrl.data import CanonicalDataset
from inctrl.data.photos import REAL_HELD_OUT_FAMILIES
from inctrl.data.world import HELD_OUT_FAMILIES, PRETRAIN_FAMILIES, make_world_dataset


def test_validation_families_are_held_in_and_textures_held_out():
    assert set(pretrain_checks.VALIDATION_FAMILIES) <= set(PRETRAIN_FAMILIES)
    assert not set(pretrain_checks.VALIDATION_FAMILIES) & set(HELD_OUT_FAMILIES)
    assert "grass" in REAL_HELD_OUT_FAMILIES


def test_patch_score_table_puts_raw_patches_beside_the_backbones(tmp_path):
    root = make_world_dataset(tmp_path / "tex", families=["grass"], n_normal=6, n_anomalous=3, size=240,
                              show_progress=False)
    table = pretrain_checks.patch_score_table({"random": None}, root, shots=(2,), seeds=(0,))
    assert list(table["backbone"]) == ["random", "raw patches"]
    assert table["auroc"].between(0, 1).all() and table["pixel_auroc"].between(0, 1).all()
    raw = feature_free_baselines(root, (2,), (0,))
    assert table["auroc"].iloc[1] == pytest.approx(raw[raw["baseline"] == "raw patches"]["auroc"].iloc[0])
    assert CanonicalDataset(root).categories == ["grass"]


def test_weights_must_be_named(capsys):
    with pytest.raises(SystemExit):
        pretrain_checks.main(["textures", "--weights", "v1.pt"])
    assert "NAME=FILE" in capsys.readouterr().err


def test_residual_auroc_reads_what_pretraining_taught_the_patches():
    from inctrl.backbone import MINI_WEIGHTS_FILE

    random = pretrain_checks.residual_auroc(None, batches=4)
    mini = pretrain_checks.residual_auroc(MINI_WEIGHTS_FILE, batches=4)
    assert random["queries"] == mini["queries"] == 4 * 12  # 12 groups per 128 px v2 batch
    assert random["defective"] == mini["defective"] and 0 < mini["defective"] < 48  # the same photos
    # the shipped backbone's patch residual finds defects a random one of its shape misses
    assert mini["patch_residual"] > random["patch_residual"] + 0.1
    assert all(0 <= r[k] <= 1 for r in (random, mini) for k in ("image_residual", "patch_residual"))


def test_recipe_summary_averages_over_k_and_prefers_the_best_full_score():
    residuals = [{"backbone": b, "queries": 240, "defective": 131, "image_residual": i, "patch_residual": p}
                 for b, i, p in (("v1", 0.66, 0.74), ("v2", 0.70, 0.65))]
    ablation = [{"backbone": b, "k": k, "head_seed": seed, "score": s, "auroc": a + (0.02 if seed else 0.0)}
                for b, base in (("v1", 0.70), ("v2", 0.60)) for k, dk in ((2, -0.02), (4, 0.0), (8, 0.05))
                for seed in (0, 1)
                for s, a in (("s_p", base + dk), ("s_i", 0.5), ("s_a", 0.55), ("full", base + dk + 0.01))]
    textures = [{"backbone": b, "k": k, "auroc": a}
                for b, a in (("v1", 0.67), ("v2", 0.63), ("raw patches", 0.62)) for k in (2, 4, 8)]
    record = {"residuals": residuals, "ablation": ablation, "textures": textures}
    summary = pretrain_checks.recipe_summary(record)
    assert list(summary.index) == ["v1", "v2", "raw patches"]
    assert summary.loc["v1", "full"] == pytest.approx(0.72 + 0.01)  # (0.69 + 0.71 + 0.76) / 3 + 0.02 / 2
    assert summary.loc["v1", "full spread (heads)"] == pytest.approx(0.01)  # two seeds 0.02 apart
    assert summary.loc["v2", "image residual"] == 0.70 and summary.loc["v1", "real textures s_p"] == 0.67
    assert summary.loc["raw patches", "real textures s_p"] == 0.62 and summary["full"].isna()["raw patches"]
    assert pretrain_checks.preferred_backbone(summary) == "v1"
    summary.loc["v2", "full"] = 0.9
    assert pretrain_checks.preferred_backbone(summary) == "v2"


def test_the_record_gathers_backbones_across_runs(tmp_path, monkeypatch, capsys):
    families_seen = []

    def fake_check(check, backbones, data_dir, out, families=()):  # one row per backbone, its name's length
        families_seen.append(tuple(families))
        return pd.DataFrame([{"backbone": name, "value": len(name)} for name in backbones])

    monkeypatch.setattr(pretrain_checks, "_run_check", fake_check)
    record = tmp_path / "record.json"
    run = ["all", "--out", str(tmp_path / "out"), "--record", str(record), "--weights"]
    pretrain_checks.main([*run, "a=random", "bb=random"])
    pretrain_checks.main([*run, "ccc=random"])
    first = json.loads(record.read_text())
    assert [r["backbone"] for r in first["ablation"]] == ["a", "bb", "ccc"]
    assert first["sha256"] == {"a": None, "bb": None, "ccc": None}
    assert first["commands"][1].endswith("--weights ccc=random")
    pretrain_checks.main([*run, "a=random"])  # measured again: its earlier rows are replaced
    assert [r["backbone"] for r in json.loads(record.read_text())["residuals"]] == ["bb", "ccc", "a"]
    pretrain_checks.main([*run, "my a=random"])  # a name with a space is quoted in the command
    assert json.loads(record.read_text())["commands"][-1].endswith("--weights 'my a=random'")
    with pytest.raises(SystemExit):
        pretrain_checks.main(["textures", "--record", str(record), "--weights", "a=random"])
    assert "--record stores all three checks" in capsys.readouterr().err
    assert set(families_seen) == {()}
    pretrain_checks.main([*run, "a=random", "--family-out"])
    assert families_seen[-1] == pretrain_checks.VALIDATION_FAMILIES


def test_family_out_residuals_draw_only_the_validation_families(monkeypatch):
    from inctrl import pretrain
    from inctrl.data.world_families import VALIDATION_FAMILIES

    seen = []
    real = pretrain.training_batch

    def spy(config, step, tokenizer, device):
        seen.append((config.families, config.real_fraction))
        return real(config, step, tokenizer, device)

    monkeypatch.setattr(pretrain, "training_batch", spy)
    pretrain_checks.residual_auroc(None, batches=1, families=VALIDATION_FAMILIES)
    pretrain_checks.residual_auroc(None, batches=1)
    assert seen == [(tuple(sorted(VALIDATION_FAMILIES)), 0.0), ((), 0.25)]


def test_validation_table_trains_the_heads_with_the_given_options(tmp_path, monkeypatch):
    from types import SimpleNamespace

    (tmp_path / "synthetic").mkdir()  # no auxiliary set is made: the encoder and the heads are stand-ins
    aux = SimpleNamespace(features=SimpleNamespace(tokens=None), rows=lambda paths: [])
    monkeypatch.setattr(pretrain_checks, "_model", lambda weights: None)
    monkeypatch.setattr(pretrain_checks, "auxiliary_samples", lambda roots: [])
    monkeypatch.setattr(pretrain_checks, "encode_paths", lambda *args, **kwargs: aux)
    monkeypatch.setattr(pretrain_checks.PairTable, "build", staticmethod(lambda *args: None))
    seen = []

    def heads(roots, out_dir, **kwargs):
        seen.append(kwargs)
        raise RuntimeError("stop after the first heads")

    monkeypatch.setattr(pretrain_checks, "train", heads)
    for options, expected in [(None, 10), ({"epochs": 3, "weight_decay": 0.1}, 3)]:
        with pytest.raises(RuntimeError, match="stop after"):
            pretrain_checks.validation_table("w.pt", tmp_path, tmp_path / "out", train_options=options)
        assert seen[-1].get("epochs", 10) == expected and seen[-1]["weights"] == "w.pt"
    assert seen[-1]["weight_decay"] == 0.1 and "weight_decay" not in seen[0]


def test_the_world_auxiliary_set_leaves_out_validation_and_targets(tmp_path, monkeypatch):
    from inctrl.book import offline_experiment
    from inctrl.data import world

    made = []

    def fake(root, **kwargs):
        made.append(kwargs)
        root.mkdir()

    monkeypatch.setattr(world, "make_world_dataset", fake)
    monkeypatch.setattr(offline_experiment, "prepare_elpv", lambda root, **kw: root.mkdir())
    for _ in range(2):  # made once
        assert offline_experiment.prepare_offline_data(tmp_path)[1] == tmp_path / "world_aux"
    (given,) = made
    families = set(given["families"])
    assert families and not families & set(pretrain_checks.VALIDATION_FAMILIES)
    assert not families & set(HELD_OUT_FAMILIES) and families <= set(PRETRAIN_FAMILIES)
    assert given["seed"] != pretrain_checks.VALIDATION_SEED and given["strength"] == 1.0
    assert given == {**world.WORLD_AUX, "overwrite": False, "show_progress": False}
    # a name the runs know, or a folder; anything else is one line naming both
    assert offline_experiment.prepare_offline_data(tmp_path, aux=tmp_path)[1] == tmp_path
    with pytest.raises(ValueError, match=r"aux must be one of world, synthetic or a canonical dataset "
                                         r"folder; 'mvtec' is neither"):
        offline_experiment.prepare_offline_data(tmp_path, aux="mvtec")


def test_heads_training_rule_and_record():
    from inctrl.book import heads_training as ht

    def rows(full, draws=0.02):
        return [{"k": k, "score": s, "head_seed": seed, "auroc": full + 0.001 * seed if s == "full" else 0.7,
                 "auroc_std": draws} for k in (2, 4) for seed in (0, 1) for s in ("full", "s_p", "s_i")]

    summary = ht.arm_summary({ht.BOOK: rows(0.70), "a": rows(0.715), "b": rows(0.73), "c": rows(0.725)})
    assert summary.loc["a", "heads spread"] == pytest.approx(0.0005)
    assert summary.loc[ht.BOOK, "draws spread"] == pytest.approx(0.02)
    assert ht.adopted(summary) == "b"  # beats 0.7005 + 0.02, and is the best that does
    assert ht.adopted(summary.drop(index=["b", "c"])) is None
    record = json.loads(ht.HEADS_TRAINING_RECORD.read_text())
    assert set(record["arms"]) == set(ht.ARMS)
    assert record["command"].startswith("python -m inctrl.book.heads_training")
    assert all(arm["options"] == ht.ARMS[name][0] for name, arm in record["arms"].items())
    stored = ht.arm_summary({name: arm["validation"] for name, arm in record["arms"].items()})
    assert ht.adopted(stored) is None  # what the note and the docstring say: the book keeps its training
