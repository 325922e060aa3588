"""Own checkpoint format and import of the official InCTRL checkpoints."""

import pickle

import pytest
import torch

import inctrl
from inctrl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from inctrl.model import InCTRL, InCTRLConfig
from inctrl.official import import_official, to_official_state_dict


@pytest.fixture(scope="module")
def trained_like():
    """A tiny model whose heads differ from a fresh one (as if trained), in eval mode."""
    model = inctrl.load("tiny", device="cpu")
    with torch.no_grad():
        g = torch.Generator().manual_seed(3)
        for p in model.trainable_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        for name, buf in model.named_buffers():
            if name.endswith("running_mean") and not name.startswith("backbone."):
                buf.uniform_(-0.2, 0.2, generator=g)
    return model


def scores(model, images):
    return model.score(images[2:], model.prompt_bank(images[:2], name="candle")).score


def official_file(model, path, nested=True, drop_logit_scale=True):
    state = to_official_state_dict(model.state_dict())
    if drop_logit_scale:
        state.pop("logit_scale")
    data = {"epoch": 9, "model_state": state, "cfg": "TRAIN:\n  ENABLE: true\n"} if nested else state
    torch.save(data, path)
    return state


def test_own_format_round_trip_is_exact_and_atomic(trained_like, images, tmp_path):
    path = save_checkpoint(trained_like, tmp_path / "ckpt" / "model.pt", meta={"epoch": 3})
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp file left
    loaded = load_checkpoint(path, device="cpu")
    assert torch.equal(scores(loaded, images), scores(trained_like, images))
    data = torch.load(path, weights_only=True)
    assert data["meta"] == {"epoch": 3} and data["backbone"] is None  # tiny backbone rebuilt from seed
    assert not loaded.training


def test_own_format_detects_a_different_backbone(trained_like, tmp_path):
    path = save_checkpoint(trained_like, tmp_path / "model.pt")
    data = torch.load(path, weights_only=True)
    data["backbone_fingerprint"] = "0" * 16
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="differs from the one this checkpoint was trained with"):
        load_checkpoint(path)


def test_checkpoint_loads_with_a_moved_local_copy_of_its_clip_weights(trained_like, images, tmp_path):
    from inctrl.backbone import WeightsUnavailableError

    first = tmp_path / "clip_a.bin"
    torch.save(trained_like.backbone.clip.state_dict(), first)
    model = inctrl.load("tiny", weights=str(first), device="cpu")
    model.load_state_dict(trained_like.state_dict())
    assert model.config.pretrained == str(first)
    path = save_checkpoint(model, tmp_path / "run.pt")
    moved = tmp_path / "elsewhere" / "clip.bin"
    moved.parent.mkdir()
    first.rename(moved)
    with pytest.raises(WeightsUnavailableError, match="not found"):
        inctrl.load(path, device="cpu")
    again = inctrl.load(path, weights=str(moved), device="cpu")
    assert again.config.pretrained == str(first)  # the provenance recorded at training
    assert torch.equal(scores(again, images), scores(trained_like, images))
    # a file with other weights is caught by the fingerprint
    other = {k: v + 0.01 if v.is_floating_point() else v
             for k, v in trained_like.backbone.clip.state_dict().items()}
    torch.save(other, tmp_path / "other.bin")
    with pytest.raises(CheckpointError, match="differs"):
        inctrl.load(path, weights=str(tmp_path / "other.bin"), device="cpu")
    # a seeded random backbone has no weights file to replace
    random_backbone = save_checkpoint(trained_like, tmp_path / "random.pt")
    with pytest.raises(CheckpointError, match="does not apply"):
        inctrl.load(random_backbone, weights=str(moved), device="cpu")


@pytest.mark.parametrize("nested", [True, False])
def test_official_import_reproduces_the_scores(trained_like, images, tmp_path, nested):
    official_file(trained_like, tmp_path / "checkpoint.pyth", nested=nested)
    imported = inctrl.load(tmp_path / "checkpoint.pyth", device="cpu")
    assert imported.config.profile == "tiny"
    assert torch.allclose(scores(imported, images), scores(trained_like, images), atol=1e-6)
    # ... and a re-save in our format embeds the CLIP weights that came with the file.
    again = load_checkpoint(save_checkpoint(imported, tmp_path / "own.pt"), device="cpu")
    assert torch.allclose(scores(again, images), scores(trained_like, images), atol=1e-6)


def test_official_key_mapping_uses_the_official_names(trained_like):
    state = to_official_state_dict(trained_like.state_dict())
    assert torch.equal(state["diff_head_ref.projection1.weight"], trained_like.image_head.projection1.weight)
    assert torch.equal(state["diff_head.bn3.running_var"], trained_like.holistic_head.bn3.running_var)
    assert torch.equal(state["adapter.fc.2.weight"], trained_like.adapter.fc[2].weight)
    assert "visual.transformer.resblocks.4.attn.in_proj_weight" in state


def test_official_import_lists_missing_unexpected_and_misshaped_keys(trained_like):
    state = to_official_state_dict(trained_like.state_dict())
    del state["diff_head.bn2.weight"]
    del state["visual.ln_post.bias"]
    state["prompt_learner.ctx"] = torch.zeros(4)
    state["adapter.fc.0.weight"] = torch.zeros(160, 512)
    with pytest.raises(CheckpointError) as error:
        import_official(state)
    message = str(error.value)
    assert "missing keys: backbone.clip.visual.ln_post.bias, holistic_head.bn2.weight" in message
    assert "unexpected keys: backbone.clip.prompt_learner.ctx" in message
    assert "adapter.fc.0.weight (160, 512) (expected (160, 640))" in message


def test_wrong_files_are_refused_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    # Arbitrary pickled objects are never unpickled.
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"x": Exception("boom")}, f)
    with pytest.raises(CheckpointError, match="pickled Python objects, refused unread") as error:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only=True" in str(error.value) and "False" not in str(error.value)  # not torch's advice
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="neither an inctrl checkpoint nor an official"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save({"model_state": {"visual.conv1.weight": torch.zeros(5, 3, 7, 7)}}, tmp_path / "odd.pyth")
    with pytest.raises(CheckpointError, match="of an open_clip ViT: it has no 'visual.positional_embedding'"):
        load_checkpoint(tmp_path / "odd.pyth")


def test_non_finite_weights_are_refused_at_load(trained_like, tmp_path):
    path = save_checkpoint(trained_like, tmp_path / "model.pt")
    data = torch.load(path, weights_only=True)
    data["trainable"]["image_head.bn2.running_var"][5] = float("inf")
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=r"model\.pt: its trainable weights hold NaN or infinite "
                                              r"values in image_head\.bn2\.running_var"):
        load_checkpoint(path)
    state = to_official_state_dict(trained_like.state_dict())
    state["visual.proj"][0, 0] = float("nan")  # a CLIP weight of an official file
    with pytest.raises(CheckpointError, match=r"NaN or infinite values in visual\.proj"):
        import_official(state)


def _official_table():
    """The key table of the released official checkpoints, transcribed: name -> shape."""
    table = {"adapter.fc.0.weight": (160, 640), "adapter.fc.2.weight": (640, 160)}
    for head, dim in (("diff_head", 225), ("diff_head_ref", 640)):
        table.update({f"{head}.projection1.weight": (128, dim), f"{head}.projection1.bias": (128,),
                      f"{head}.projection2.weight": (64, 128), f"{head}.projection2.bias": (64,),
                      f"{head}.projection3.weight": (1, 64), f"{head}.projection3.bias": (1,)})
        for bn, width in (("bn1", dim), ("bn2", 128), ("bn3", 64)):
            for stat in ("weight", "bias", "running_mean", "running_var"):
                table[f"{head}.{bn}.{stat}"] = (width,)
            table[f"{head}.{bn}.num_batches_tracked"] = ()
    table.update({"visual.class_embedding": (896,), "visual.positional_embedding": (226, 896),
                  "visual.conv1.weight": (896, 3, 16, 16), "visual.ln_pre.weight": (896,),
                  "visual.ln_pre.bias": (896,), "visual.ln_post.weight": (896,),
                  "visual.ln_post.bias": (896,), "visual.proj": (896, 640),
                  "token_embedding.weight": (49408, 640), "positional_embedding": (77, 640),
                  "ln_final.weight": (640,), "ln_final.bias": (640,), "text_projection": (640, 640)})
    for tower, w in (("visual.transformer", 896), ("transformer", 640)):
        for i in range(12):
            p = f"{tower}.resblocks.{i}"
            for ln in ("ln_1", "ln_2"):
                table[f"{p}.{ln}.weight"] = table[f"{p}.{ln}.bias"] = (w,)
            table.update({f"{p}.attn.in_proj_weight": (3 * w, w), f"{p}.attn.in_proj_bias": (3 * w,),
                          f"{p}.attn.out_proj.weight": (w, w), f"{p}.attn.out_proj.bias": (w,),
                          f"{p}.mlp.c_fc.weight": (4 * w, w), f"{p}.mlp.c_fc.bias": (4 * w,),
                          f"{p}.mlp.c_proj.weight": (w, 4 * w), f"{p}.mlp.c_proj.bias": (w,)})
    return table


def test_paper_profile_expects_exactly_the_official_key_table():
    import open_clip

    from inctrl.backbone import Backbone

    config = InCTRLConfig.from_profile("paper", pretrained=False)
    with torch.device("meta"):  # shapes only: nothing is allocated, nothing downloaded
        clip = open_clip.create_model(config.model_name, device="meta")
    model = InCTRL(config, backbone=Backbone(config.backbone_spec, clip=clip))
    ours = {k: tuple(v.shape) for k, v in to_official_state_dict(model.state_dict()).items()}
    ours.pop("logit_scale")  # the one CLIP key the official files do not have
    table = _official_table()
    assert sorted(set(ours) ^ set(table)) == []
    assert {k: v for k, v in ours.items() if table[k] != v} == {}
    trainable = [k for k in table if k.startswith(("adapter", "diff_head"))]
    n_trainable = sum(torch.Size(table[k]).numel() for k in trainable if "running" not in k
                      and "num_batches" not in k)
    assert n_trainable == 334_916
    assert model.backbone.taps == (7, 9, 11) and model.backbone.grid == (15, 15)


def test_a_chapters_model_label_names_the_k_its_heads_were_trained_with(tmp_path):
    from inctrl.book.runs import trained_or_fresh

    model = inctrl.load("tiny", device="cpu")  # not the shared fixture, which a test above alters
    save_checkpoint(model, tmp_path / "run" / "train_k4" / "last.pt")
    _, path, label = trained_or_fresh(None, tmp_path / "run", 8, profile="tiny", device="cpu")
    assert path.parent.name == "train_k4" and label.endswith(", heads trained with K = 4")
    other = save_checkpoint(model, tmp_path / "mine.pt")
    assert trained_or_fresh(other, None, 4, profile="tiny", device="cpu")[2].endswith(", heads of mine.pt")
    fresh = trained_or_fresh(None, None, 4, profile="tiny", device="cpu")
    assert fresh[1] is None and fresh[2].endswith("untrained heads")
