"""A procedural world: images, exact defect masks and captions, drawn from a seed.

The world has 23 pretraining families (materials and objects, :mod:`.world_families`) and 14
defect kinds (:mod:`.world_defects`). A *product* is one family with fixed attributes
(colour, pattern scale, layout); a *photo* of it adds jitter (position, rotation, light).
Every image comes with its defect mask and a caption built from its family, colour, light
and defect ("a close-up photo of a silver brushed metal plate with a thin scratch."): the
mini profile's text tower learns from them (:mod:`inctrl.lit`).

Nothing is stored: :func:`photo` and :func:`world_batch` draw photos from a seed in
milliseconds per image, and :func:`make_world_dataset` writes a canonical-layout dataset (the
held-out families, the validation set, the auxiliary set) when one is needed on disk.
:func:`photometric_jitter` adds camera-like nuisance to a photo.

InCTRL's heads learn from an auxiliary set; offline it is :func:`make_world_aux`: one product
of each of :data:`AUX_FAMILIES` with clear defects (:data:`WORLD_AUX`).

Protocol hygiene: the families are disjoint from the six categories of
``inctrl.data.synthetic`` and none imitates an evaluation target; the four
:data:`HELD_OUT_FAMILIES` are used neither by the text tower nor in the auxiliary set, and both
leave out the validation families.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..prompts import NORMAL_STATES
from .converters._common import progress, save_mask, save_png, staged_output
from .splits import split_normals
from .world_defects import DEFECTS
from .world_families import (
    COLOURS,
    FAMILIES,
    HELD_OUT_FAMILIES,
    PRETRAIN_FAMILIES,
    VALIDATION_FAMILIES,
    Family,
)

__all__ = [
    "DEFECTS",
    "FAMILIES",
    "HELD_OUT_FAMILIES",
    "PRETRAIN_FAMILIES",
    "Photo",
    "Product",
    "caption",
    "family_of",
    "make_world_dataset",
    "photo",
    "photometric_jitter",
    "world_batch",
]

# Normal captions use the paper's own state words (inctrl.prompts), so captions teach the text
# tower what the prompts mean; anomalous captions use their grammatical forms ("with a flaw").
ANOMALOUS_STATES = ("damaged {}", "{} with a flaw", "{} with a defect", "{} with damage")
TEMPLATES = (
    "a photo of {}.",
    "a close-up photo of {}.",
    "a cropped photo of {}.",
    "a photo of {} for inspection.",
)


@dataclass(frozen=True)
class Product:
    """One product of a family: its colour and the seed of its fixed attributes.

    Attributes:
        family: the family name (a key of :data:`FAMILIES`).
        colour: the colour name (a key of ``COLOURS``), one of the family's colours.
        seed: the seed of the product's fixed attributes (pattern scale, layout).
    """

    family: str
    colour: str
    seed: int

    @staticmethod
    def draw(rng: np.random.Generator, families=None) -> Product:
        """A random product.

        Args:
            rng: the generator to draw from.
            families: the family names to choose from (default :data:`PRETRAIN_FAMILIES`).

        Returns:
            The Product: a uniform family, one of its colours and a fresh seed.
        """
        names = sorted(families or PRETRAIN_FAMILIES)
        family = family_of(names[int(rng.integers(len(names)))])
        return Product(family.name, str(rng.choice(family.colours)), int(rng.integers(2**31)))


@dataclass
class Photo:
    """One photo of a product.

    Attributes:
        image: [S, S, 3] uint8 RGB image.
        mask: [S, S] bool defect mask (all False for a normal photo).
        caption: the photo's caption.
        defect: the defect kind (a key of :data:`DEFECTS`), or None for a normal photo.
        product: the product photographed.
    """

    image: np.ndarray
    mask: np.ndarray
    caption: str
    defect: str | None
    product: Product


def family_of(name: str) -> Family:
    """The family called ``name`` (a key of :data:`FAMILIES`)."""
    return FAMILIES[name]


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def caption(rng: np.random.Generator, family: Family, colour: str, defect: str | None, light: float) -> str:
    """A caption for a photo: template, light, state words, colour, the family's noun, defect.

    Args:
        rng: the generator of the word choices.
        family: the photo's family.
        colour: the product's colour name.
        defect: the defect kind, or None for a normal photo.
        light: the photo's brightness factor; below 0.8 or above 1.2 the caption usually
            says "dark" or "bright".

    Returns:
        One sentence, e.g. "a close-up photo of a silver brushed metal plate with a thin scratch."
    """
    thing = f"{colour} {family.noun}"
    if defect is None:
        state = NORMAL_STATES[int(rng.integers(len(NORMAL_STATES)))].format(thing)
    else:
        phrase = DEFECTS[defect][1][int(rng.integers(len(DEFECTS[defect][1])))]
        choice = rng.random()
        if choice < 0.5:
            state = f"{thing} with {phrase}"
        elif choice < 0.75:
            state = f"damaged {thing} with {phrase}"
        else:
            state = ANOMALOUS_STATES[int(rng.integers(len(ANOMALOUS_STATES)))].format(thing)
    subject = _article(state) if not state.startswith(("a ", "an ")) else state
    if light < 0.8 and rng.random() < 0.7:
        return f"a dark photo of {subject}."
    if light > 1.2 and rng.random() < 0.7:
        return f"a bright photo of {subject}."
    return TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(subject)


def photo(
    product: Product, rng: np.random.Generator, size: int, defect: str | None = None, strength: float = 1.0
) -> Photo:
    """Draw one photo of ``product``, with a defect or none.

    The product's look comes from ``product.seed``; the jitter, the light and the defect from ``rng``.

    Args:
        product: the product to photograph.
        rng: the generator of the jitter, the light, the defect and the caption.
        size: the image side in pixels.
        defect: a kind of :data:`DEFECTS`, or None for a normal photo.
        strength: the defect's strength (0.5: faint, 1: full).

    Returns:
        The :class:`Photo`.
    """
    family = family_of(product.family)
    rgb = COLOURS[product.colour]
    scene = family.draw(np.random.default_rng(product.seed), rng, size, rgb)
    mask = np.zeros((size, size), bool)
    image = scene.image
    if defect is not None:
        image, mask = DEFECTS[defect][0](rng, scene, strength)
        if not mask.any():  # a defect that fell outside the object: draw again elsewhere
            image, mask = DEFECTS[defect][0](rng, scene, strength)
    light = float(np.exp(rng.normal(0, 0.18)))
    image = np.clip(image * light + rng.normal(0, 0.01, image.shape), 0, 1)
    return Photo(
        np.rint(image * 255).astype(np.uint8),
        mask,
        caption(rng, family, product.colour, defect, light),
        defect,
        product,
    )


def world_batch(seed: int, step: int, groups: int, size: int, p_defect: float = 0.5, families=None) -> list:
    """The pretraining batch of ``step``: pairs (normal prompt, query) of the same product.

    Deterministic in (seed, step): a resumed run sees the same batches.

    Args:
        seed: the run's seed.
        step: the step.
        groups: the number of pairs.
        size: the image side in pixels.
        p_defect: the probability that a query has a (random) defect.
        families: the family names to draw products from (default :data:`PRETRAIN_FAMILIES`).

    Returns:
        ``groups`` (prompt, query) :class:`Photo` pairs.
    """
    rng = np.random.default_rng([seed, step])
    kinds = sorted(DEFECTS)
    pairs = []
    for _ in range(groups):
        product = Product.draw(rng, families)
        prompt = photo(product, rng, size)
        defect = kinds[int(rng.integers(len(kinds)))] if rng.random() < p_defect else None
        query = photo(product, rng, size, defect, strength=float(rng.uniform(0.4, 1.0)))
        pairs.append((prompt, query))
    return pairs


def photometric_jitter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Camera-like nuisance on a whole photo: gamma, light, white balance, sometimes blur, noise.

    Strong enough that a photo's global brightness or sharpness says nothing about a defect
    (prompts and query are jittered independently); it never touches the defect mask.

    Args:
        rng: the generator of the jitter.
        image: [S, S, 3] uint8 RGB.

    Returns:
        The jittered [S, S, 3] uint8 image.
    """
    x = (image / 255.0) ** np.exp(rng.normal(0, 0.2))  # gamma
    x = x * np.exp(rng.normal(0, 0.2)) * np.exp(rng.normal(0, 0.05, 3))  # light, white balance
    if rng.random() < 0.3:  # defocus; sigma relative to the side, so 128 px and 240 px agree
        sigma = rng.uniform(0.3, 1.2) * image.shape[0] / 128
        x = ndimage.gaussian_filter(x, (sigma, sigma, 0))
    x = x + rng.normal(0, rng.uniform(0, 0.03), x.shape)
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def make_world_dataset(
    out: str | os.PathLike,
    families=None,
    n_normal: int = 40,
    n_anomalous: int = 28,
    size: int = 240,
    seed: int = 0,
    strength: float = 0.5,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Write one product per family to ``out`` in the canonical layout.

    Each category is one product (fixed colour and attributes) photographed ``n_normal``
    times without and ``n_anomalous`` times with a defect (kinds in turn, masks in
    ground_truth). Byte-identical for the same arguments.

    Args:
        out: output root (refused when non-empty unless ``overwrite``).
        families: the family names, one category each (default: :data:`HELD_OUT_FAMILIES`).
        n_normal: normal photos per category, split into train/good and test/good with the
            protocol rule.
        n_anomalous: anomalous test photos per category.
        size: the image side in pixels.
        seed: the seed of the products and photos.
        strength: the defect strength (0.5: faint).
        overwrite: replace an existing non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: an unknown family, ``n_normal < 2`` or ``n_anomalous < 1``.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    names = list(HELD_OUT_FAMILIES if families is None else families)
    unknown = sorted(set(names) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown world families {unknown}; available: {', '.join(sorted(FAMILIES))}")
    if n_normal < 2 or n_anomalous < 1:
        raise ValueError(f"need n_normal >= 2 and n_anomalous >= 1, got {n_normal}, {n_anomalous}")
    kinds = sorted(DEFECTS)
    jobs = []
    for f, name in enumerate(names):
        product_rng = np.random.default_rng([seed, f, 99])
        product = Product(
            name, str(product_rng.choice(FAMILIES[name].colours)), int(product_rng.integers(2**31))
        )
        _, test_idx = split_normals(list(range(n_normal)))
        test = set(test_idx)
        jobs += [(product, f, "test" if i in test else "train", None, i) for i in range(n_normal)]
        jobs += [(product, f, "test", kinds[i % len(kinds)], i) for i in range(n_anomalous)]
    with staged_output(out, None, overwrite) as tmp:
        for product, f, split, defect, i in progress(jobs, "world", show_progress):
            rng = np.random.default_rng([seed, f, 0 if defect is None else 1 + kinds.index(defect), i])
            shot = photo(product, rng, size, defect, strength)
            folder = "good" if defect is None else defect
            if defect is not None:
                save_mask(shot.mask, tmp / product.family / "ground_truth" / folder / f"{i:03d}_mask.png")
            save_png(shot.image, tmp / product.family / split / folder / f"{i:03d}.png", compress_level=1)
    return Path(out)


#: The families of the world-drawn auxiliary set: the pretraining families less the validation
#: ones, so that validation judges heads trained on it on products of families they never saw.
AUX_FAMILIES = tuple(sorted(set(PRETRAIN_FAMILIES) - set(VALIDATION_FAMILIES)))
#: The world-drawn auxiliary set, the arguments of :func:`make_world_dataset`: 40 normal and 20
#: clearly defective (strength 1.0, twice the evaluation sets' 0.5) photos of one product per
#: family, as many per category as the synthetic set; seed 77 (the evaluation sets use 0 and 1234).
WORLD_AUX = {"families": AUX_FAMILIES, "n_normal": 40, "n_anomalous": 20, "strength": 1.0, "seed": 77}


def make_world_aux(out: str | os.PathLike, *, overwrite: bool = False, show_progress: bool = True) -> Path:
    """Write the world-drawn auxiliary set (:data:`WORLD_AUX`) to ``out``.

    InCTRL's heads train on it offline (the paper trains them on MVTec AD): 17 categories, each
    one product of a pretraining family that in-world validation does not use, with exact masks.

    Args:
        out: output root (refused when non-empty unless ``overwrite``).
        overwrite: replace an existing non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    return make_world_dataset(out, **WORLD_AUX, overwrite=overwrite, show_progress=show_progress)
