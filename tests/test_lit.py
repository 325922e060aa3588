"""LiT: the mini text tower trained against the locked ImageNet image tower."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
import torch.nn.functional as F

import inctrl
from inctrl import lit
from inctrl.backbone import MINI_WEIGHTS_FILE, MINI_WEIGHTS_SHA256
from inctrl.data.world import AUX_FAMILIES, FAMILIES, HELD_OUT_FAMILIES
from inctrl.data.world_families import VALIDATION_FAMILIES


def test_contrastive_loss_matches_a_hand_computation():
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    text = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    scale = torch.tensor(2.0)
    # captions 0 and 2 are identical: each is the other's positive too
    loss = lit.contrastive_loss(image, text, ["a", "b", "a"], scale)
    logits = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T
    target = torch.tensor([[0.5, 0, 0.5], [0, 1, 0], [0.5, 0, 0.5]])
    by_row = -(target * logits.log_softmax(1)).sum(1).mean()
    by_col = -(target * logits.log_softmax(0)).sum(0).mean()
    assert loss.item() == pytest.approx(0.5 * (by_row + by_col).item(), abs=1e-6)
    # distinct captions give CLIP's one-hot loss
    one_hot = lit.contrastive_loss(image, text, ["a", "b", "c"], scale)
    expected = 0.5 * (F.cross_entropy(logits, torch.arange(3))
                      + F.cross_entropy(logits.T, torch.arange(3)))
    assert one_hot.item() == pytest.approx(expected.item(), abs=1e-6)


def test_the_recipe_refuses_values_that_cannot_train():
    for change, words in (({"lr": math.inf}, "lr must be finite and positive"),
                          ({"lr": -1e-3}, "lr must be finite and positive"),
                          ({"steps": 0}, "steps must be at least 1"),
                          ({"batch": 9000}, "cannot exceed photos"),
                          ({"p_defect": 1.5}, "p_defect must be in"),
                          ({"weight_decay": math.nan}, "weight_decay must be finite")):
        with pytest.raises(ValueError, match=words):
            lit.LitConfig(**change).check()
    with pytest.raises(SystemExit):
        lit.main(["--out", "x", "--threads", "0"])


def test_photos_come_from_the_auxiliary_families_only_and_are_seeded():
    config = lit.LitConfig(photos=12, size=32)
    images, captions = lit.draw_photos(config)
    again, _ = lit.draw_photos(config)
    assert len(images) == len(captions) == 12 and images[0].shape == (32, 32, 3)
    assert all((a == b).all() for a, b in zip(images, again))
    nouns = {f: FAMILIES[f].noun for f in (*VALIDATION_FAMILIES, *HELD_OUT_FAMILIES)}
    assert not any(noun in c for c in captions for noun in nouns.values())
    assert not set(AUX_FAMILIES) & (set(VALIDATION_FAMILIES) | set(HELD_OUT_FAMILIES))


def test_a_short_run_writes_its_files_and_trains_only_the_text_side(tmp_path):
    config = lit.LitConfig(photos=6, batch=4, steps=3, warmup=1, size=32)
    record = lit.train_text_tower(config, tmp_path / "run", progress=False, command="test")
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert files == {"text.pt", "log.csv", "record.json", "features.pt"}
    weights = torch.load(tmp_path / "run" / "text.pt", weights_only=True)
    assert weights and not any(k.startswith("visual.") for k in weights)
    assert {"text_projection", "logit_scale", "token_embedding.weight"} <= set(weights)
    assert all(v.dtype == torch.float16 for v in weights.values())
    assert record["text_sha256"] == hashlib.sha256((tmp_path / "run" / "text.pt").read_bytes()).hexdigest()
    assert json.loads((tmp_path / "run" / "record.json").read_text())["config"]["steps"] == 3
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 1 + 3
    # the trained text tower loads into the mini profile beside the package's ImageNet trunk
    model = inctrl.load("mini", weights=str(tmp_path / "run" / "text.pt"), device="cpu")
    shipped = inctrl.load("mini", device="cpu")
    trunk = model.backbone.clip.visual.state_dict()
    assert all(torch.equal(v, shipped.backbone.clip.visual.state_dict()[k]) for k, v in trunk.items())
    # a second run reuses the encoded photos (nothing drawn or encoded)
    again = lit.train_text_tower(config, tmp_path / "run", progress=False, command="test")
    assert again["seconds"]["draw"] == again["seconds"]["encode"] == 0.0


def test_the_shipped_text_tower_matches_its_record():
    record = lit.shipped_record()
    digest = hashlib.sha256(MINI_WEIGHTS_FILE.read_bytes()).hexdigest()
    assert record["text_sha256"] == MINI_WEIGHTS_SHA256 == digest
    assert record["families"] == list(AUX_FAMILIES) and MINI_WEIGHTS_FILE.stat().st_size < 30e6
    log = lit.shipped_log()
    assert len(log) == record["config"]["steps"] and log["loss"].iloc[-50:].mean() == pytest.approx(
        record["final_loss"])
    assert log["loss"].iloc[:50].mean() > 2 * record["final_loss"]  # it learned


def test_the_run_folder_is_never_the_working_directory_or_home(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    keep = tmp_path / "keep.txt"
    keep.write_text("the user's")
    for out in (".", "", str(tmp_path.parent)):
        with pytest.raises(SystemExit) as exit_:
            lit.main(["--out", out, "--photos", "2", "--batch", "2", "--steps", "1"])
        assert exit_.value.code == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    assert keep.read_text() == "the user's" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
