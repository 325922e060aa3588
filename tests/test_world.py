"""The procedural world: families, defects, captions, protocol hygiene, determinism."""

import numpy as np
import pytest

from inctrl.data import SYNTHETIC_CATEGORIES, CanonicalDataset
from inctrl.data.world import (
    ANOMALOUS_STATES,
    DEFECTS,
    FAMILIES,
    HELD_OUT_FAMILIES,
    PRETRAIN_FAMILIES,
    Product,
    make_world_dataset,
    photo,
    photometric_jitter,
    world_batch,
)
from inctrl.data.world_families import COLOURS

# Words naming the offline evaluation target (ELPV) or things that imitate it.
TARGET_WORDS = ("solar", "cell", "elpv", "photovoltaic", "wafer")


def test_the_world_is_large_enough():
    assert len(PRETRAIN_FAMILIES) >= 20
    assert len(HELD_OUT_FAMILIES) >= 3
    assert len(DEFECTS) >= 12
    assert {f.kind for f in PRETRAIN_FAMILIES.values()} == {"material", "object"}


def test_protocol_hygiene_families_are_disjoint():
    pretrain, held_out, aux = set(PRETRAIN_FAMILIES), set(HELD_OUT_FAMILIES), set(SYNTHETIC_CATEGORIES)
    assert not pretrain & held_out
    assert not pretrain & aux and not held_out & aux
    # nouns too: no family is an auxiliary category under another name (a knitted fabric is
    # a different material from the auxiliary woven "fabric"), none names a target
    for family in FAMILIES.values():
        assert family.noun not in aux and family.noun.replace(" ", "_") not in aux, family.name
        assert not any(t in family.noun or t in family.name for t in TARGET_WORDS), family.name
    # the held-out families' nouns never appear in pretraining captions
    held_nouns = {f.noun for f in HELD_OUT_FAMILIES.values()}
    captions = [p.caption for pair in world_batch(0, 0, 40, 48) for p in pair]
    assert not any(noun in c for noun in held_nouns for c in captions)


def test_pretraining_batches_only_draw_pretraining_families():
    pairs = world_batch(3, 7, 60, 48)
    assert {q.product.family for _, q in pairs} <= set(PRETRAIN_FAMILIES)


@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_every_defect_changes_pixels_only_inside_its_mask(kind):
    family = FAMILIES["plastic"]
    rng = np.random.default_rng(1)
    scene = family.draw(np.random.default_rng(0), np.random.default_rng(0), 96, np.asarray(COLOURS["blue"]))
    damaged, mask = DEFECTS[kind][0](rng, scene, 1.0)
    assert mask.dtype == bool and mask.shape == (96, 96) and mask.any()
    changed = np.abs(damaged - scene.image).max(axis=-1) > 1e-9
    assert changed.any(), f"{kind} changed nothing"
    assert not (changed & ~mask).any(), f"{kind} changed pixels outside its mask"


def test_photos_are_seeded_and_products_fix_the_look():
    product = Product("knitted_fabric", "red", 42)
    a = photo(product, np.random.default_rng(5), 64, "stain")
    b = photo(product, np.random.default_rng(5), 64, "stain")
    c = photo(product, np.random.default_rng(6), 64, "stain")
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.caption == b.caption
    assert not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.uint8 and a.image.shape == (64, 64, 3)
    assert world_batch(0, 1, 2, 48)[0][0].caption == world_batch(0, 1, 2, 48)[0][0].caption


def test_captions_name_colour_family_and_state():
    pairs = world_batch(0, 0, 50, 48)
    phrases = {p for _, ps in DEFECTS.values() for p in ps}
    anomalous_words = [s.replace("{}", "").strip() for s in ANOMALOUS_STATES]
    for prompt, query in pairs:
        for shot in (prompt, query):
            family = FAMILIES[shot.product.family]
            assert family.noun in shot.caption and shot.product.colour in shot.caption
        assert prompt.defect is None and not prompt.mask.any()
        assert not any(p in prompt.caption for p in phrases)
        if query.defect is not None:
            assert any(p in query.caption for p in phrases) or any(
                w in query.caption for w in anomalous_words
            )


def test_world_dataset_layout(tmp_path):
    root = make_world_dataset(
        tmp_path / "world",
        families=["dice", "terrazzo"],
        n_normal=4,
        n_anomalous=3,
        size=64,
        show_progress=False,
    )
    ds = CanonicalDataset(root)
    assert ds.categories == ["dice", "terrazzo"]
    counts = ds.counts()
    assert counts["dice"] == {"train_good": 3, "test_good": 1, "test_anomalous": 3}
    assert all(s.mask is not None for s in ds.test_samples("dice") if s.label == 1)
    with pytest.raises(ValueError, match="unknown world families"):
        make_world_dataset(tmp_path / "x", families=["solar_cell"], show_progress=False)


# ---------------------------------------------------------------- jitter
def test_photometric_jitter_changes_global_light_and_is_seeded():
    image = photo(Product("plastic", "teal", 3), np.random.default_rng(0), 64).image
    jittered = [photometric_jitter(np.random.default_rng(s), image) for s in range(20)]
    assert np.array_equal(jittered[0], photometric_jitter(np.random.default_rng(0), image))
    means = [j.mean() for j in jittered]
    assert jittered[0].dtype == np.uint8 and jittered[0].shape == image.shape
    assert np.std(means) > 0.05 * image.mean()  # brightness varies from photo to photo
