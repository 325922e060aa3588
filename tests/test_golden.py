"""Golden scores: the numbers themselves, pinned, so that a change to them fails loudly.

Every other test checks relations (an equation against a hand computation, batched against
one at a time, a checkpoint against the model that wrote it); a torch, open_clip, PIL or
torchvision upgrade that changes the forward pass would pass them all. These tests pin the
scores of a few seeded images through a profile, along both paths that produce scores:

* scoring: ``model(queries, bank)`` (= ``model.score``), from PIL images through the
  preprocessing, the backbone, Eq. 1-8;
* training: the per-episode forward of a training step (``forward_episodes`` in train mode,
  from cached features, Eq. 1 from the tokens and from the pair table) and its loss
  (``inctrl_loss``).

Each profile in ``PROFILES`` is tested against its table in ``GOLDEN``; adding a profile is
adding its table (``python tests/test_golden.py PROFILE`` prints it). A profile whose weights
are unavailable here (``WeightsUnavailableError``) is skipped; one that loads but has no
table yet fails, with the table to add in the message.
"""

from __future__ import annotations

import copy
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import inctrl
from inctrl.train import PairTable

TOLERANCE = 1e-5
PROFILES = ("tiny", "mini")
SCORES = ("score", "patch_score", "image_score", "text_score", "holistic_score")
CATEGORY = "metal_nut"
N_PROMPTS, N_NORMAL_QUERIES, N_ANOMALOUS_QUERIES = 3, 2, 2
# Training episodes: (query, its K = 2 prompts) as indices into the golden images.
EPISODES = ((3, (0, 1)), (4, (1, 2)), (5, (0, 2)), (6, (2, 1)))
# The first golden image, so that a change of the inputs (numpy's generator) shows as such.
GOLDEN_PIXEL_SUM = 27698924
GOLDEN_PIXEL = [102, 87, 80]

# Pinned values, one table per profile (``python tests/test_golden.py PROFILE``).
GOLDEN: dict[str, dict[str, dict[str, list[float]]]] = {
    "tiny": {
        "scoring": {
            "score": [0.3305846, 0.3926391, 0.383493, 0.3601899],
            "patch_score": [0.1827127, 0.3071197, 0.2903516, 0.2420684],
            "image_score": [0.4643748, 0.4597205, 0.4633478, 0.4612394],
            "text_score": [0.8109047, 0.708046, 0.8196384, 0.7633057],
            "holistic_score": [0.4784565, 0.4781585, 0.4766344, 0.4783114],
            "patch_map_mean": [0.1079623, 0.1824994, 0.0738127, 0.1047807],
        },
        "training": {
            "score": [0.355408, 0.3796724, 0.3890015, 0.3935804],
            "patch_score": [0.1974954, 0.3071197, 0.3030758, 0.2420684],
            "image_score": [0.6949773, 0.3528348, 0.628669, 0.2485981],
            "text_score": [0.8109047, 0.708046, 0.8196384, 0.7633057],
            "holistic_score": [0.5133205, 0.4522251, 0.4749273, 0.5450925],
            "loss": [0.4373245, 0.1980526, 0.2392719],
        },
    },
    "mini": {  # v3, the shipped text tower (inctrl/weights/inctrl-mini-v3-text.pt)
        "scoring": {
            "score": [0.3016785, 0.3136278, 0.4232612, 0.4196211],
            "patch_score": [0.0928172, 0.1169538, 0.3353842, 0.3296524],
            "image_score": [0.5067877, 0.507169, 0.5065854, 0.5077444],
            "text_score": [4.32e-05, 3.71e-05, 0.0832517, 0.0123297],
            "holistic_score": [0.5105399, 0.5103019, 0.5111382, 0.5095898],
            "patch_map_mean": [0.0471781, 0.0681919, 0.0892627, 0.0913637],
        },
        "training": {
            "score": [0.3879991, 0.4159987, 0.3304464, 0.3286037],
            "patch_score": [0.0974426, 0.1506193, 0.3353842, 0.3298357],
            "image_score": [0.5496684, 0.5376399, 0.3955857, 0.5211815],
            "text_score": [4.32e-05, 3.71e-05, 0.0832517, 0.0123297],
            "holistic_score": [0.6785557, 0.6813782, 0.3255086, 0.3273717],
            "loss": [0.4489907, 0.2115478, 0.2374429],
        },
    },
}


# ---------------------------------------------------------------------------- inputs
def golden_images() -> tuple[list[Image.Image], list[int]]:
    """Seeded 300x260 RGB images (preprocessing resizes and crops them): 3 normal prompts,
    then 2 normal and 2 anomalous queries. Returns the images and the labels (0 normal)."""
    rng = np.random.default_rng(20240617)
    y, x = np.mgrid[0:260, 0:300].astype(np.float64)
    images, labels = [], []
    n_normal = N_PROMPTS + N_NORMAL_QUERIES
    for i in range(n_normal + N_ANOMALOUS_QUERIES):
        phase = rng.uniform(0, 2 * np.pi)
        texture = 128 + 50 * np.sin(x / 9 + phase) * np.cos(y / 13 - phase)
        pixels = texture[..., None] + rng.normal(0, 10, (260, 300, 3)) + rng.uniform(-15, 15, 3)
        if i >= n_normal:  # a defect: a bright square and a dark scratch
            top, left = rng.integers(40, 180, 2)
            pixels[top:top + 40, left:left + 40] = 250
            pixels[top + 50:top + 54, 30:270] = 10
        images.append(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB"))
        labels.append(int(i >= n_normal))
    return images, labels


def _rounded(values: torch.Tensor) -> list[float]:
    return [round(float(v), 7) for v in values.detach().flatten()]


# ---------------------------------------------------------------------------- the two paths
def scoring_values(model: inctrl.InCTRL) -> dict[str, list[float]]:
    """The scoring path, ``model(queries, bank)``: every score of the 4 queries, and the
    mean of each patch map."""
    images, _ = golden_images()
    bank = model.prompt_bank(images[:N_PROMPTS], name=CATEGORY)
    out = model(images[N_PROMPTS:], bank)
    values = {name: _rounded(getattr(out, name)) for name in SCORES}
    values["patch_map_mean"] = _rounded(out.patch_map.flatten(1).mean(dim=1))
    return values


def training_values(model: inctrl.InCTRL) -> dict[str, list[float]]:
    """The training path: one step's forward over ``EPISODES`` in train mode (batch
    statistics in the BatchNorm layers), Eq. 1 from the tokens, and its loss. Also returns
    the same forward with M^l from the pair table (``table_*``)."""
    model = copy.deepcopy(model)  # train mode updates BatchNorm statistics: not on the original
    images, labels = golden_images()
    feats = model.encode(images)
    text = model.text_features(CATEGORY)
    queries = torch.tensor([q for q, _ in EPISODES])
    prompts = torch.tensor([p for _, p in EPISODES])                        # [B, K]
    tokens = feats.tokens
    n_layers, b, k = tokens.shape[0], *prompts.shape
    prompt_tokens = tokens[:, prompts.reshape(-1)].reshape(n_layers, b, k, *tokens.shape[2:])
    y = torch.tensor([float(labels[q]) for q in queries])
    samples = [SimpleNamespace(category=CATEGORY, label=label) for label in labels]
    table = PairTable.build(samples, torch.arange(len(samples)), tokens)
    values = {}
    model.train()
    for prefix, source in (("", {"query_tokens": tokens[:, queries], "prompt_tokens": prompt_tokens}),
                           ("table_", {"layer_maps": table.layer_maps(queries, prompts)})):
        out = model.forward_episodes(feats.embedding[queries], feats.embedding[prompts],
                                     text.expand(b, -1, -1), **source)
        loss, loss_final, loss_image = inctrl.inctrl_loss(out, y, terms=True)
        values.update({prefix + name: _rounded(getattr(out, name)) for name in SCORES})
        values[prefix + "loss"] = _rounded(torch.stack([loss, loss_final, loss_image]))
    return values


# ---------------------------------------------------------------------------- tests
@pytest.fixture(scope="module", params=PROFILES)
def profile(request):
    name = request.param
    if name not in inctrl.PROFILES:
        pytest.skip(f"profile {name!r} does not exist in this version")
    try:
        model = inctrl.load(name, device="cpu")
    except inctrl.WeightsUnavailableError as error:
        pytest.skip(f"profile {name!r}: weights unavailable here ({error})")
    if name not in GOLDEN:
        pytest.fail(f"profile {name!r} loads but has no golden table: pin it by adding to GOLDEN\n"
                    f"{table_source(name, model)}")
    return name, model


def _assert_pinned(got: dict[str, list[float]], pinned: dict[str, list[float]], profile: str) -> None:
    for key, expected in pinned.items():
        assert key in got, key
        diff = max(abs(a - b) for a, b in zip(got[key], expected))
        assert len(got[key]) == len(expected) and diff <= TOLERANCE, (
            f"{profile} {key}: {got[key]} != pinned {expected} (max diff {diff:.2e}); if a dependency "
            "upgrade changed the numbers on purpose, re-pin with python tests/test_golden.py")


def test_scoring_path_matches_the_pinned_scores(profile):
    name, model = profile
    _assert_pinned(scoring_values(model), GOLDEN[name]["scoring"], name)


def test_training_path_matches_the_pinned_scores(profile):
    name, model = profile
    got = training_values(model)
    _assert_pinned(got, GOLDEN[name]["training"], name)
    # the pair table gives the training step the same numbers as the tokens
    _assert_pinned({k.removeprefix("table_"): v for k, v in got.items() if k.startswith("table_")},
                   GOLDEN[name]["training"], name)


def test_golden_inputs_are_what_was_pinned():
    images, labels = golden_images()
    assert labels == [0] * (N_PROMPTS + N_NORMAL_QUERIES) + [1] * N_ANOMALOUS_QUERIES
    assert [im.size for im in images] == [(300, 260)] * len(images)
    first = np.asarray(images[0], dtype=np.int64)
    assert first.sum() == GOLDEN_PIXEL_SUM and first[100, 100].tolist() == GOLDEN_PIXEL



# ---------------------------------------------------------------------------- pinning
def table_source(name: str, model: inctrl.InCTRL | None = None) -> str:
    """The ``GOLDEN`` entry of a profile, as Python source to paste."""
    model = model or inctrl.load(name, device="cpu")
    lines = [f'    "{name}": {{']
    for section, values in (("scoring", scoring_values(model)),
                            ("training", {k: v for k, v in training_values(model).items()
                                          if not k.startswith("table_")})):
        lines.append(f'        "{section}": {{')
        lines += [f'            "{k}": {v},' for k, v in values.items()]
        lines.append("        },")
    lines.append("    },")
    return "\n".join(lines)


if __name__ == "__main__":
    for profile_name in sys.argv[1:] or ["tiny"]:
        print(table_source(profile_name))
    image = np.asarray(golden_images()[0][0], dtype=np.int64)
    print(f"GOLDEN_PIXEL_SUM = {image.sum()}\nGOLDEN_PIXEL = {image[100, 100].tolist()}")
