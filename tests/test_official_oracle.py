"""The authors' own scores, reproduced through the public API.

``tests/data/oracle/official_small.pyth`` is an official-format InCTRL checkpoint written by
the authors' code: the paper's geometry and head shapes (240 px, 16 px patches, a 15 x 15
grid, a 640-d embedding, taps 7/9/11 of a 12-block ViT) with narrow towers (a 32-wide ViT
with one head, an 8-wide one-block text tower), seeded random weights and non-trivial
BatchNorm statistics. ``official_small_scores.json`` holds that architecture, the class name,
the ELPV cells used as queries and prompts, and the authors' ``final`` and ``image_score``
for every query at K = 2, 4 and 8 (batch size 1, CPU, fp32; prompts are the first K files).
"""

import json
import shutil
from pathlib import Path

import pytest
import torch

import inctrl
from inctrl.checkpoint import CheckpointError, save_checkpoint
from inctrl.official import architecture_from_shapes, official_architecture, official_state_dict

ORACLE = Path(__file__).parent / "data" / "oracle"
CHECKPOINT = ORACLE / "official_small.pyth"
SCORES = ORACLE / "official_small_scores.json"
TOLERANCE = 1e-5

pytest.importorskip("elpv_dataset", reason="the oracle's queries are ELPV cells (pip install elpv-dataset)")


@pytest.fixture(scope="module")
def reference():
    return json.loads(SCORES.read_text())


@pytest.fixture(scope="module")
def cells():
    from inctrl.data.converters.elpv import elpv_package_dir

    return elpv_package_dir() / "images"


@pytest.fixture(scope="module")
def model():
    return inctrl.load(CHECKPOINT, model_config=SCORES, device="cpu")


def _worst(out, rows, index=None):
    picks = range(len(rows)) if index is None else [index]
    return max(max(abs(out.score[j].item() - rows[i]["final"]),
                   abs(out.image_score[j].item() - rows[i]["image_score"])) for j, i in enumerate(picks))


@pytest.mark.parametrize("k", [2, 4, 8])
def test_scores_equal_the_authors_one_query_at_a_time_and_in_one_batch(model, reference, cells, k):
    rows = reference["scores"][str(k)]
    bank = model.prompt_bank([cells / f for f in reference["prompts"][:k]], name=reference["class_name"])
    queries = [cells / f for f in reference["queries"]]
    batched = model.score(queries, bank, batch_size=len(queries))
    assert _worst(batched, rows) < TOLERANCE
    for i, query in enumerate(queries):
        assert _worst(model.score([query], bank), rows, index=i) < TOLERANCE


def test_the_text_prior_reads_the_name_as_given(model, reference, cells):
    """A readable name is the caller's choice: it moves the scores, so the core never picks one."""
    prompts = [cells / f for f in reference["prompts"][:2]]
    queries = [cells / f for f in reference["queries"]]
    as_given = model.prompt_bank(prompts, name="elpv")
    readable = model.prompt_bank(prompts, name="solar cell")
    assert as_given.name == "elpv" and readable.name == "solar cell"
    moved = (model.score(queries, as_given).score - model.score(queries, readable).score).abs().max()
    assert moved > 10 * TOLERANCE  # the oracle test above would catch a renamed class


def test_the_architecture_comes_from_the_shapes_and_the_config(reference):
    state = official_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    shapes = architecture_from_shapes(state)
    vision, text = shapes["vision_cfg"], shapes["text_cfg"]
    assert shapes["embed_dim"] == reference["embed_dim"] == 640
    assert (vision["width"], vision["layers"]) == (32, 12)
    assert (vision["patch_size"], vision["image_size"]) == (16, 240)
    assert (text["width"], text["layers"], text["context_length"], text["vocab_size"]) == (8, 1, 77, 49408)
    name, config = official_architecture(state, SCORES)
    assert config["vision_cfg"]["head_width"] == 32 and config["text_cfg"]["heads"] == 1
    assert name == "vit-32x12-p16-240px"


def test_a_config_that_does_not_fit_the_weights_is_refused_in_one_line(reference):
    state = official_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    wrong = {**reference, "vision_cfg": {**reference["vision_cfg"], "width": 64, "head_width": 64}}
    with pytest.raises(CheckpointError, match="vision width 64 in the config, 32 in the weights") as info:
        official_architecture(state, wrong)
    assert "\n" not in str(info.value)
    bad_heads = {**reference, "text_cfg": {**reference["text_cfg"], "heads": 3}}
    with pytest.raises(CheckpointError, match="text heads do not divide its width 8"):
        official_architecture(state, bad_heads)
    with pytest.raises(CheckpointError, match="must hold 'vision_cfg' and 'text_cfg'"):
        official_architecture(state, {"embed_dim": 640})


def test_without_a_config_the_error_says_how_to_give_one(tmp_path):
    lone = tmp_path / "checkpoint.pyth"
    shutil.copy(CHECKPOINT, lone)
    with pytest.raises(CheckpointError, match="model_config=") as info:
        inctrl.load(lone, device="cpu")
    assert "ViT width 32, 12 blocks, patch 16, 240 px" in str(info.value) and "\n" not in str(info.value)


def test_a_config_beside_the_checkpoint_is_read(tmp_path, model, reference, cells):
    folder = tmp_path / "8"
    folder.mkdir()
    shutil.copy(CHECKPOINT, folder / "checkpoint.pyth")
    shutil.copy(SCORES, folder / "open_clip_config.json")
    beside = inctrl.load(folder / "checkpoint.pyth", device="cpu")
    bank = beside.prompt_bank([cells / f for f in reference["prompts"][:2]], name="elpv")
    out = beside.score([cells / f for f in reference["queries"]], bank)
    assert _worst(out, reference["scores"]["2"]) < TOLERANCE


def test_an_imported_custom_geometry_survives_our_own_checkpoint_format(tmp_path, model, reference, cells):
    again = inctrl.load(save_checkpoint(model, tmp_path / "own.pt"), device="cpu")
    assert again.config.model_cfg == model.config.model_cfg and again.config.profile == "custom"
    bank = again.prompt_bank([cells / f for f in reference["prompts"][:4]], name="elpv")
    out = again.score([cells / f for f in reference["queries"]], bank)
    assert _worst(out, reference["scores"]["4"]) < TOLERANCE


def test_a_profile_takes_no_model_config():
    with pytest.raises(ValueError, match="model_config applies to an official checkpoint file"):
        inctrl.load("tiny", model_config=SCORES)
