"""Pretraining the mini backbone: the forward at any resolution, the losses of v1 and v2, resume,
export, and the shipped-weights check of the mini profile."""

import math

import open_clip
import pytest
import torch
import torch.nn.functional as F

import inctrl
from inctrl import backbone as backbone_module
from inctrl.backbone import WeightsUnavailableError
from inctrl.cli import main
from inctrl.pretrain import (
    OBJECTIVES,
    RECIPES,
    PretrainConfig,
    build_clip,
    export_weights,
    file_sha256,
    patch_masks,
    pretrain,
)
from inctrl.pretrain_objectives import (
    IMAGE_RANK_SCALE,
    PixelDecoder,
    contrastive_loss,
    defect_loss,
    encode_tapped,
    group_patch_residual,
    image_defect_loss,
    image_residual,
    masked_pixel_loss,
    patch_pixels,
    patch_residual,
    resized_positions,
)

SMALL = {
    "steps": 3,
    "high_res_steps": 1,
    "low_res": 32,
    "groups": 2,
    "high_res_groups": 1,
    "warmup": 1,
    "checkpoint_every": 1,
}


@pytest.fixture(scope="module")
def random_mini():
    return inctrl.load("mini", pretrained=False, device="cpu")


def test_forward_at_240_matches_the_backbone(random_mini, images):
    """The pretraining forward is open_clip's forward (and the backbone's taps) at 240 px."""
    bb = random_mini.backbone
    with torch.no_grad():
        g, tokens = encode_tapped(bb.clip.visual, images[:2], bb.taps)
        ref = bb.encode_images(images[:2])
    torch.testing.assert_close(g, ref.embedding, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tokens, ref.tokens, rtol=1e-5, atol=1e-5)


def test_positions_interpolate_to_smaller_grids(random_mini):
    visual = random_mini.backbone.clip.visual
    assert resized_positions(visual, 15) is visual.positional_embedding
    small = resized_positions(visual, 8)
    assert small.shape == (65, visual.positional_embedding.shape[1])
    torch.testing.assert_close(small[0], visual.positional_embedding[0])  # class position kept
    with torch.no_grad():
        g, tokens = encode_tapped(visual, torch.randn(2, 3, 128, 128), random_mini.backbone.taps)
    assert g.shape == (2, 640) and tokens.shape[1:3] == (2, 64)


def test_patch_residual_is_eq1_by_brute_force():
    torch.manual_seed(0)
    tokens = torch.randn(2, 4, 5, 8)  # L=2 layers, 2 pairs, N=5 patches, D=8
    m = patch_residual(tokens)
    assert m.shape == (2, 5)
    for g in range(2):
        for j in range(5):
            per_layer = []
            for layer in range(2):
                q, prompts = tokens[layer, 2 * g + 1, j], tokens[layer, 2 * g]
                cos = max(float(F.cosine_similarity(q, p, dim=0)) for p in prompts)
                per_layer.append(0.5 * (1 - cos))
            assert m[g, j].item() == pytest.approx(sum(per_layer) / 2, abs=1e-6)


def test_contrastive_loss_by_hand_and_with_duplicate_captions():
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    scale = torch.tensor(2.0)
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert contrastive_loss(image, text, ["a", "b"], scale).item() == pytest.approx(expected, rel=1e-6)
    # identical captions: both texts are right for both images, the target is uniform
    same = contrastive_loss(image, text, ["a", "a"], scale).item()
    assert same == pytest.approx(math.log(math.exp(2) + 1) - 1, rel=1e-6)


def test_defect_loss_by_hand():
    residual = torch.tensor([[0.5, 0.1, 0.3]])
    fraction = torch.tensor([[0.5, 0.0, 0.01]])  # defective, clean, barely touched (ignored)
    affine = torch.tensor([0.2, math.log(10.0)])
    pos = F.softplus(torch.tensor(-(0.5 - 0.2) * 10)).item()  # -log sigmoid(3)
    neg = F.softplus(torch.tensor((0.1 - 0.2) * 10)).item()  # -log(1 - sigmoid(-1))
    assert defect_loss(residual, fraction, affine).item() == pytest.approx(0.5 * (pos + neg), rel=1e-6)
    clean = defect_loss(residual, torch.zeros(1, 3), affine).item()
    assert clean == pytest.approx(
        sum(F.softplus(torch.tensor((r - 0.2) * 10)).item() for r in (0.5, 0.1, 0.3)) / 3, rel=1e-6
    )


def test_config_rejects_bad_recipes():
    with pytest.raises(ValueError, match="objectives"):
        PretrainConfig(objectives=("mim",))
    with pytest.raises(ValueError, match="multiple of 16"):
        PretrainConfig(low_res=100)
    cfg = PretrainConfig(steps=10, high_res_steps=2, warmup=2, lr=1.0)
    assert cfg.resolution(7) == (cfg.low_res, cfg.groups) and cfg.resolution(8) == (240, cfg.high_res_groups)
    assert cfg.learning_rate(0) == 0.5 and cfg.learning_rate(2) == pytest.approx(1.0)


def test_resume_continues_exactly(tmp_path):
    config = PretrainConfig(**SMALL)
    pretrain(tmp_path / "straight", config, progress=False, threads=1)
    pretrain(tmp_path / "split", config, progress=False, threads=1, until=2)
    assert torch.load(tmp_path / "split" / "last.pt", weights_only=True)["step"] == 2
    pretrain(tmp_path / "split", config, progress=False, threads=1, resume=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 3
    for key in a["clip"]:
        assert torch.equal(a["clip"][key], b["clip"][key]), key
    assert [r["clip"] for r in a["log"]] == [r["clip"] for r in b["log"]]
    with pytest.raises(FileExistsError, match="resume"):
        pretrain(tmp_path / "straight", config, progress=False)
    changed = PretrainConfig(**{**SMALL, "seed": 1})
    with pytest.raises(ValueError, match="another configuration"):
        pretrain(tmp_path / "straight", changed, progress=False, resume=True)


def test_pretraining_changes_the_model_and_export_loads_as_mini(tmp_path):
    config = PretrainConfig(**SMALL)
    last = pretrain(tmp_path / "run", config, progress=False, threads=1)
    digest = export_weights(last, tmp_path / "w.pt")
    assert digest == file_sha256(tmp_path / "w.pt")
    exported = torch.load(tmp_path / "w.pt", weights_only=True)
    start = build_clip(config.model_name, config.seed).state_dict()
    assert all(v.dtype == torch.float16 for v in exported.values() if v.is_floating_point())
    assert any(
        not torch.allclose(exported[k].float(), start[k], atol=1e-3) for k in start if k.startswith("visual")
    )
    model = inctrl.load("mini", weights=str(tmp_path / "w.pt"), device="cpu")
    torch.testing.assert_close(model.backbone.clip.visual.proj, exported["visual.proj"].float())


def test_cli_pretrain_and_export(tmp_path, capsys):
    args = [
        "pretrain",
        "--out",
        str(tmp_path / "run"),
        "--steps",
        "1",
        "--high-res-steps",
        "0",
        "--low-res",
        "32",
        "--groups",
        "2",
        "--quiet",
        "--threads",
        "1",
        "--export",
        str(tmp_path / "w.pt"),
        "--lr",
        "1e-4",
    ]
    assert main(args) == 0
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"]["lr"] == 1e-4
    digest = file_sha256(tmp_path / "w.pt")
    assert digest in capsys.readouterr().out
    assert main(args) == 1  # the weights file exists: refused before any training, and kept
    assert "--export" in capsys.readouterr().err and file_sha256(tmp_path / "w.pt") == digest
    assert main([*args, "--overwrite"]) == 1  # the folder holds a run: --resume or another folder
    assert "resume" in capsys.readouterr().err
    other = [*args[:2], str(tmp_path / "other"), *args[3:-4]]  # no --export, no --lr
    given = ["--leave-out", "screw", "capsule", "--frozen-blocks", "2", "--steps", "2", "--until", "1"]
    assert main([*other, *given]) == 0
    assert "pretrained 1 of 2 steps" in capsys.readouterr().out
    saved = torch.load(tmp_path / "other" / "last.pt", weights_only=True)["config"]
    assert saved["frozen_blocks"] == 2 and "screw" not in saved["families"] and "gear" in saved["families"]
    scratch = [*args[:2], str(tmp_path / "scratch"), *args[3:-4], "--recipe", "v2-image"]
    assert main([*scratch, "--from-scratch", "--workers", "1"]) == 0
    assert torch.load(tmp_path / "scratch" / "last.pt", weights_only=True)["config"]["init"] == ""
    assert main([*other, "--leave-out", "dice"]) == 1
    assert capsys.readouterr().err.strip().endswith(
        "available: " + ", ".join(sorted(inctrl.data.world_families.PRETRAIN_FAMILIES)))


def test_shipped_weights_are_checked(tmp_path, monkeypatch):
    fake = tmp_path / "mini.pt"
    fake.write_bytes(b"not the weights")
    monkeypatch.setattr(backbone_module, "MINI_WEIGHTS_FILE", fake)
    with pytest.raises(WeightsUnavailableError, match="damaged"):
        inctrl.load("mini", device="cpu")
    monkeypatch.setattr(backbone_module, "MINI_WEIGHTS_FILE", tmp_path / "missing.pt")
    with pytest.raises(WeightsUnavailableError, match="missing"):
        inctrl.load("mini", device="cpu")


def test_the_shipped_v2_weights_are_what_their_record_says():
    """v2's record names the shipped file, continues from the v1 file that ships beside it (the
    start of every v2 recipe), and its per-step log has its steps."""
    import csv
    import json

    from inctrl.pretrain import file_sha256
    from inctrl.pretrain_config import V1_WEIGHTS_SHA256

    v2, v1 = backbone_module.MINI_WEIGHTS_FILE, backbone_module.MINI_V1_WEIGHTS_FILE
    record = json.loads(v2.with_suffix(".json").read_text())
    assert record["weights"] == v2.name
    assert record["sha256"] == backbone_module.MINI_WEIGHTS_SHA256 == file_sha256(v2)
    assert record["continues_from"] == v1.name
    assert record["continues_from_sha256"] == V1_WEIGHTS_SHA256 == file_sha256(v1)
    with open(v2.with_name(record["log"])) as log:
        steps = [int(row["step"]) for row in csv.DictReader(log)]
    assert steps == list(range(1, record["steps"] + 1))
    assert f"--steps {record['steps']}" in record["command"]


# ---------------------------------------------------------------- the v2 recipe
V2_SMALL = {**SMALL, "groups": 2, "high_res_groups": 1}


def test_v1_recipe_reproduces_the_shipped_runs_first_step(tmp_path):
    """v1's batches and losses are unchanged by v2: its first step gives the shipped log's losses."""
    last = pretrain(tmp_path / "v1", PretrainConfig(), progress=False, until=1)
    row = torch.load(last, weights_only=True)["log"][0]
    # row 1 of inctrl/weights/pretrain_log.csv
    assert row["clip"] == pytest.approx(4.177215576171875, rel=1e-5)
    assert row["patch"] == pytest.approx(1.0409741401672363, rel=1e-5)


def test_group_patch_residual_is_eq1_over_all_k_prompts():
    torch.manual_seed(0)
    tokens = torch.randn(2, 6, 4, 8)  # L=2, 2 groups of K=2 prompts + 1 query, N=4, D=8
    m = group_patch_residual(tokens, shots=2)
    assert m.shape == (2, 4)
    for g in range(2):
        for j in range(4):
            per_layer = []
            for layer in range(2):
                q = tokens[layer, 3 * g + 2, j]
                prompts = tokens[layer, 3 * g : 3 * g + 2].reshape(-1, 8)
                per_layer.append(0.5 * (1 - max(float(F.cosine_similarity(q, p, dim=0)) for p in prompts)))
            assert m[g, j].item() == pytest.approx(sum(per_layer) / 2, abs=1e-6)
    pairs = torch.randn(2, 4, 5, 8)  # with K = 1 the groups are v1's (prompt, query) pairs
    torch.testing.assert_close(group_patch_residual(pairs, shots=1), patch_residual(pairs))


def test_image_residual_by_hand():
    emb = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])  # K=2 prompts then the query
    expected = math.hypot(1 / math.sqrt(2) - 0.5, 1 / math.sqrt(2) - 0.5)
    assert image_residual(emb, shots=2).item() == pytest.approx(expected, rel=1e-6)
    same_direction = torch.tensor([[1.0, 0.0], [5.0, 0.0]])
    assert image_residual(same_direction, shots=1).item() == pytest.approx(0.0, abs=1e-7)


def test_image_defect_loss_ranks_defective_queries_above_normal_ones():
    torch.manual_seed(0)
    defective = torch.tensor([True] * 4 + [False] * 12)
    distance = torch.where(defective, 0.6, 0.2) * torch.exp(0.05 * torch.randn(16))
    separable = image_defect_loss(distance, defective).item()
    shuffled = image_defect_loss(distance[torch.randperm(16)], defective).item()
    assert separable < 0.05 < 0.5 < shuffled
    # by hand: every (defective, normal) pair, logistic on the gap of standardised log-distances
    z = distance.log()
    z = (z - z.mean()) / z.std()
    pairs = [F.softplus(-IMAGE_RANK_SCALE * (z[i] - z[j])) for i in range(4) for j in range(4, 16)]
    assert separable == pytest.approx(torch.stack(pairs).mean().item(), rel=1e-5)
    # growing every distance together, or their log-distances bunching, changes nothing:
    # only ordering and separating them pays
    assert image_defect_loss(3 * distance, defective).item() == pytest.approx(separable, rel=1e-5)
    assert image_defect_loss(distance ** 0.25, defective).item() == pytest.approx(separable, rel=1e-5)
    one_class = image_defect_loss(distance.requires_grad_(), torch.zeros(16, dtype=torch.bool))
    assert one_class.item() == 0.0
    one_class.backward()
    assert torch.equal(distance.grad, torch.zeros(16))


def test_patch_pixels_and_masked_pixel_loss():
    pixels = torch.rand(2, 3, 32, 32)
    target = patch_pixels(pixels)
    assert target.shape == (2, 4, 768)
    torch.testing.assert_close(target.mean(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    first = pixels[1, :, 16:32, 0:16].reshape(-1)  # patch (row 1, col 0) is patch 2
    torch.testing.assert_close(target[1, 2], (first - first.mean()) / (first.var() + 1e-6).sqrt())
    masked = torch.tensor([[True, False, False, False], [True, True, False, False]])
    prediction = torch.zeros_like(target)
    prediction[masked] = target[masked]  # perfect on masked patches, zero elsewhere
    error_visible = target[~masked].pow(2).mean(-1).mean()
    loss = masked_pixel_loss(prediction, target, masked).item()
    assert loss == pytest.approx(0.5 * error_visible.item(), rel=1e-5)
    assert PixelDecoder(3, 8)(torch.randn(3, 2, 4, 8)).shape == (2, 4, 768)


def test_masked_patches_see_only_the_mask_token(random_mini):
    visual = random_mini.backbone.clip.visual
    token = torch.randn(visual.conv1.out_channels)
    everything = torch.ones(2, 4, dtype=torch.bool)
    with torch.no_grad():
        a = encode_tapped(visual, torch.randn(2, 3, 32, 32), (1, 2), everything, token)
        b = encode_tapped(visual, torch.randn(2, 3, 32, 32), (1, 2), everything, token)
        c = encode_tapped(visual, torch.randn(2, 3, 32, 32), (1, 2), ~everything, token)
    torch.testing.assert_close(a[1], b[1])  # all masked: the pixels do not matter
    assert not torch.allclose(a[1], c[1])


def test_patch_masks_are_exact_and_a_function_of_seed_and_step():
    config = PretrainConfig.v2()
    m = patch_masks(config, 7, 5, 64)
    assert m.shape == (5, 64) and (m.sum(1) == round(0.4 * 64)).all()
    assert torch.equal(m, patch_masks(config, 7, 5, 64))
    assert not torch.equal(m, patch_masks(config, 8, 5, 64))
    assert not torch.equal(m, patch_masks(PretrainConfig.v2(seed=1), 7, 5, 64))


def test_v2_recipes_and_their_checks():
    v2 = RECIPES["v2"]()
    assert set(v2.objectives) == set(OBJECTIVES) and v2.batch == "groups" and v2.shots == 2
    assert RECIPES["v1"]() == PretrainConfig()
    assert "pixel" not in RECIPES["v2-image"]().objectives and RECIPES["v2-image"]().real_fraction == 0
    assert "image" not in RECIPES["v2-texture"]().objectives
    with pytest.raises(ValueError, match="groups"):
        PretrainConfig(shots=2)
    with pytest.raises(ValueError, match="mask_ratio"):
        PretrainConfig.v2(mask_ratio=1.0)


def test_v2_resume_continues_exactly(tmp_path):
    config = PretrainConfig.v2(**V2_SMALL)
    pretrain(tmp_path / "straight", config, progress=False, threads=1)
    pretrain(tmp_path / "split", config, progress=False, threads=1, until=2)
    pretrain(tmp_path / "split", config, progress=False, threads=1, resume=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 3
    for part in ("clip", "heads"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for objective in OBJECTIVES:
        assert [r[objective] for r in a["log"]] == [r[objective] for r in b["log"]], objective
    assert all(r["steps_per_s"] > 0 for r in a["log"])


def test_batches_from_worker_processes_are_the_same_run(tmp_path):
    from inctrl.pretrain_batches import step_batches

    config = PretrainConfig.v2(**V2_SMALL)
    tokenizer = open_clip.get_tokenizer(config.model_name)
    here, there = list(step_batches(config, 1, 3, tokenizer, "cpu")), list(
        step_batches(config, 1, 3, tokenizer, "cpu", workers=2))
    assert len(here) == len(there) == 2
    for a, b in zip(here, there):
        assert a[2] == b[2]  # the captions
        for x, y in zip(a[:2] + a[3:], b[:2] + b[3:]):
            assert torch.equal(x, y)
    with pytest.raises(ValueError, match="workers must be >= 0, got -1"):
        step_batches(config, 0, 3, tokenizer, "cpu", workers=-1)
    # a run whose first two steps came from workers, resumed without them, is the plain run
    pretrain(tmp_path / "plain", config, progress=False, threads=1)
    pretrain(tmp_path / "mixed", config, progress=False, threads=1, until=2, workers=2)
    pretrain(tmp_path / "mixed", config, progress=False, threads=1, resume=True)
    a = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "mixed" / "last.pt", weights_only=True)
    for key in a["clip"]:
        assert torch.equal(a["clip"][key], b["clip"][key]), key
    assert [r["image"] for r in a["log"]] == [r["image"] for r in b["log"]]


def test_export_weights_replaces_a_symlink_itself_only_when_asked(tmp_path):
    state = tmp_path / "last.pt"
    torch.save({"clip": {"w": torch.ones(2, dtype=torch.float32), "n": torch.tensor(3)}}, state)
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"the user's file")
    link = tmp_path / "w.pt"
    link.symlink_to(mine)
    export_weights(state, link, follow_symlinks=False)
    assert not link.is_symlink() and mine.read_bytes() == b"the user's file"
    weights = torch.load(link, weights_only=True)
    assert weights["w"].dtype == torch.float16 and weights["n"].dtype == torch.int64  # only floats halve


def test_a_run_can_leave_out_the_validation_families():
    from inctrl.data.world_families import PRETRAIN_FAMILIES, VALIDATION_FAMILIES
    from inctrl.pretrain import FAMILY_OUT, leaving_out, training_batch

    assert set(FAMILY_OUT) == set(PRETRAIN_FAMILIES) - set(VALIDATION_FAMILIES)
    with pytest.raises(ValueError, match="not pretraining families.*available"):
        leaving_out(["dice"])  # a held-out family was never in pretraining
    with pytest.raises(ValueError, match="must be pretraining families"):
        PretrainConfig.v2(families=("terrazzo",))
    tokenizer = inctrl.backbone.open_clip.get_tokenizer(PretrainConfig().model_name)
    nouns = {PRETRAIN_FAMILIES[f].noun for f in VALIDATION_FAMILIES}
    wide = {**SMALL, "groups": 40}
    for recipe in (PretrainConfig, PretrainConfig.v2):
        everything = training_batch(recipe(**wide, real_fraction=0.0) if recipe is PretrainConfig.v2
                                    else recipe(**wide), 0, tokenizer, "cpu")[2]
        assert any(noun in c for c in everything for noun in nouns)  # so the check below can fail
        given = {"real_fraction": 0.0} if recipe is PretrainConfig.v2 else {}
        captions = training_batch(recipe(**wide, families=FAMILY_OUT, **given), 0, tokenizer, "cpu")[2]
        assert not any(noun in c for c in captions for noun in nouns), recipe


def test_frozen_blocks_stay_exactly_as_they_were(tmp_path):
    config = PretrainConfig(**SMALL, frozen_blocks=5)
    last = pretrain(tmp_path / "run", config, progress=False, threads=1)
    trained = torch.load(last, weights_only=True)["clip"]
    start = build_clip(config.model_name, config.seed).state_dict()
    frozen = ("visual.conv1.", "visual.ln_pre.", "visual.class_embedding", "visual.positional_embedding",
              *(f"visual.transformer.resblocks.{i}." for i in range(5)))
    for key, value in start.items():
        same = torch.equal(trained[key], value)
        if key.startswith(frozen):
            assert same, key
    assert not torch.equal(trained["visual.transformer.resblocks.5.mlp.c_fc.weight"],
                           start["visual.transformer.resblocks.5.mlp.c_fc.weight"])
    assert not torch.equal(trained["visual.proj"], start["visual.proj"])
    with pytest.raises(ValueError, match=r"frozen_blocks must be in \[0, 5\] for a tower of 6 blocks, got 6"):
        pretrain(tmp_path / "all", PretrainConfig(**SMALL, frozen_blocks=6), progress=False)
    with pytest.raises(ValueError, match="frozen_blocks must be >= 0"):
        PretrainConfig(frozen_blocks=-1)


def test_runs_made_before_the_new_fields_still_resume():
    from inctrl.pretrain import _plain

    assert "families" not in _plain(PretrainConfig()) and "frozen_blocks" not in _plain(PretrainConfig())
    assert _plain(PretrainConfig(frozen_blocks=2))["frozen_blocks"] == 2
    assert _plain(PretrainConfig(families=("screw", "gear")))["families"] == ["gear", "screw"]
