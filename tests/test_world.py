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
    REAL_HELD_OUT_FAMILIES,
    REAL_PRETRAIN_FAMILIES,
    Product,
    make_world_dataset,
    photo,
    photometric_jitter,
    world_batch,
    world_groups,
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


# ---------------------------------------------------------------- v2: groups, real photographs, jitter
def test_real_photographs_keep_protocol_hygiene():
    pretrain, held = set(REAL_PRETRAIN_FAMILIES), set(REAL_HELD_OUT_FAMILIES)
    aux = set(SYNTHETIC_CATEGORIES)
    assert not pretrain & held and not (pretrain | held) & (set(FAMILIES) | aux)
    for family in {**REAL_PRETRAIN_FAMILIES, **REAL_HELD_OUT_FAMILIES}.values():
        assert family.kind == "photo" and family.colours == ("natural",)
        assert family.noun not in aux and family.noun.replace(" ", "_") not in aux, family.name
        assert not any(t in family.noun or t in family.name for t in TARGET_WORDS), family.name
    # the sources of the auxiliary categories (skimage brick, gravel) are never pretrained on
    assert {"brick_wall", "gravel_path"} <= held
    groups = world_groups(0, 0, 30, 32, shots=1, real_fraction=1.0)
    assert {g[0].product.family for g in groups} <= pretrain
    assert not any(f.noun in p.caption for g in groups for p in g for f in REAL_HELD_OUT_FAMILIES.values())


def test_photo_of_a_photograph_is_a_seeded_jittered_crop_with_defects_inside_the_mask():
    product = Product("coffee", "natural", 3)
    a = photo(product, np.random.default_rng(1), 48, "stain")
    b = photo(product, np.random.default_rng(1), 48, "stain")
    other = photo(product, np.random.default_rng(2), 48)
    assert np.array_equal(a.image, b.image) and a.mask.any() and not other.mask.any()
    assert "natural" not in a.caption and "cup of coffee" in a.caption
    # two photos of one product are the same crop, up to the jitter: far closer than another product's
    elsewhere = photo(Product("coffee", "natural", 4), np.random.default_rng(2), 48)
    same = np.abs(a.image.astype(float) - other.image).mean()
    assert same < np.abs(a.image.astype(float) - elsewhere.image).mean()


def test_world_groups_are_in_context_groups_deterministic_in_seed_and_step():
    groups = world_groups(0, 5, 12, 32, shots=3, p_defect=0.5, real_fraction=0.5)
    assert len(groups) == 12 and all(len(g) == 4 for g in groups)
    for g in groups:
        assert len({p.product for p in g}) == 1  # one product per group
        assert all(p.defect is None and not p.mask.any() for p in g[:3])  # prompts are normal
    assert any(g[-1].defect for g in groups) and not all(g[-1].defect for g in groups)
    again = world_groups(0, 5, 12, 32, shots=3, p_defect=0.5, real_fraction=0.5)
    assert all(np.array_equal(p.image, q.image) for g, h in zip(groups, again) for p, q in zip(g, h))
    later = world_groups(0, 6, 12, 32, shots=3, p_defect=0.5, real_fraction=0.5)
    assert not np.array_equal(groups[0][0].image, later[0][0].image)
    assert {g[0].product.family for g in groups} & set(REAL_PRETRAIN_FAMILIES)
    assert {g[0].product.family for g in groups} & set(PRETRAIN_FAMILIES)


def test_photometric_jitter_changes_global_light_and_is_seeded():
    image = photo(Product("plastic", "teal", 3), np.random.default_rng(0), 64).image
    jittered = [photometric_jitter(np.random.default_rng(s), image) for s in range(20)]
    assert np.array_equal(jittered[0], photometric_jitter(np.random.default_rng(0), image))
    means = [j.mean() for j in jittered]
    assert jittered[0].dtype == np.uint8 and jittered[0].shape == image.shape
    assert np.std(means) > 0.05 * image.mean()  # brightness varies from photo to photo


def test_real_texture_dataset_is_built_from_held_out_photographs(tmp_path):
    root = make_world_dataset(tmp_path / "tex", families=["grass"], n_normal=4, n_anomalous=2, size=48,
                              show_progress=False)
    assert CanonicalDataset(root).categories == ["grass"]
