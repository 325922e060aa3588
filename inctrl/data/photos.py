"""Real photographs as extra world products: crops of the images bundled with scikit-image and
scikit-learn, with the world's defects drawn on them.

The procedural families only have the texture their few lines of NumPy can draw. Crops of real
photographs add texture that is not procedural (fur, skin, foliage, print, film grain) while
keeping everything offline: only images that ship inside the installed wheels are used
(``skimage.data`` functions that need no download, and ``sklearn.datasets.load_sample_images``).

Each photograph is a *family* (:class:`~inctrl.data.world_primitives.Family`, ``kind="photo"``);
a product of it is one crop (centre and zoom fixed by the product's seed) and a photo of the
product jitters that crop a little (shift, rotation, zoom), as a camera would. The whole crop is
foreground, so every defect kind can be drawn on it; holes and missing parts reveal a dark
plain background.

Protocol hygiene:

* :data:`REAL_PRETRAIN_FAMILIES` may be used in pretraining;
* :data:`REAL_HELD_OUT_FAMILIES` (texture-like photos: brick, grass, gravel, the moon's surface)
  never are: they make the held-out real-texture check
  (``make_world_dataset(out, families=REAL_HELD_OUT_FAMILIES)``).
  ``brick`` and ``gravel`` are also the sources of two of InCTRL's auxiliary categories
  (``inctrl.data.synthetic``), which is one more reason to keep them out of pretraining;
* ``skimage.data.cell`` is left out: its name is one the hygiene test forbids, and it is a
  micrograph close to nothing else here anyway.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from .world_primitives import Family, Scene, plain_background

#: Photo family -> (where it comes from, the name ``skimage.data`` or sklearn gives it, caption noun).
_PRETRAIN_SOURCES = {
    "astronaut": ("skimage", "astronaut", "astronaut portrait"),
    "camera": ("skimage", "camera", "black and white street photo"),
    "chelsea": ("skimage", "chelsea", "photo of a cat"),
    "coffee": ("skimage", "coffee", "cup of coffee"),
    "coins": ("skimage", "coins", "coin collection"),
    "hubble_deep_field": ("skimage", "hubble_deep_field", "deep sky image"),
    "immunohistochemistry": ("skimage", "immunohistochemistry", "stained tissue sample"),
    "page": ("skimage", "page", "printed page"),
    "text": ("skimage", "text", "painted sign"),
    "rocket": ("skimage", "rocket", "rocket launch photo"),
    "retina": ("skimage", "retina", "retina scan"),
    "clock": ("skimage", "clock", "wall clock photo"),
    "china": ("sklearn", "china.jpg", "temple photo"),
    "flower": ("sklearn", "flower.jpg", "flower photo"),
}
_HELD_OUT_SOURCES = {
    "brick_wall": ("skimage", "brick", "brick wall"),
    "grass": ("skimage", "grass", "lawn"),
    "gravel_path": ("skimage", "gravel", "gravel path"),
    "moon_surface": ("skimage", "moon", "lunar surface"),
}
NATURAL = "natural"  # the one "colour" of a photo family: its own colours, never tinted


@functools.cache
def _source(name: str) -> Image.Image:
    """The photograph of a family as an RGB PIL image (loaded once per process)."""
    origin, key, _ = {**_PRETRAIN_SOURCES, **_HELD_OUT_SOURCES}[name]
    if origin == "skimage":
        from skimage import data

        array = np.asarray(getattr(data, key)())
    else:
        from sklearn.datasets import load_sample_image

        array = np.asarray(load_sample_image(key))
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return Image.fromarray(array[..., :3].astype(np.uint8))


def crop(source: Image.Image, product, rng, size: int) -> np.ndarray:
    """One photo of a product of a photograph: a jittered square crop, float [S, S, 3] in [0, 1].

    Args:
        source: the photograph.
        product: the generator of the product: the crop's centre and zoom (a side of 25-60 % of
            the photograph's shorter side).
        rng: the generator of this photo's jitter: +-4 % shift, +-6 degrees, +-5 % zoom.
        size: the output side in pixels.

    Returns:
        The crop, resampled bilinearly to ``size`` x ``size``.
    """
    width, height = source.size
    short = min(width, height)
    side = short * product.uniform(0.25, 0.6)
    # the centre stays far enough from the border that the jittered, rotated crop fits
    reach = side * 0.75
    cx = product.uniform(reach, width - reach) if width > 2 * reach else width / 2
    cy = product.uniform(reach, height - reach) if height > 2 * reach else height / 2
    side *= np.exp(rng.uniform(-0.05, 0.05))
    cx += side * rng.uniform(-0.04, 0.04)
    cy += side * rng.uniform(-0.04, 0.04)
    angle = np.deg2rad(rng.uniform(-6, 6))
    # PIL's affine maps output pixels (x, y) to source pixels: rotate and scale about the centre
    scale = side / size
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    ox, oy = size / 2, size / 2
    coeffs = (c, -s, cx - c * ox + s * oy, s, c, cy - s * ox - c * oy)
    out = source.transform((size, size), Image.AFFINE, coeffs, resample=Image.BILINEAR)
    return np.asarray(out, dtype=np.float64) / 255.0


def _photo_family(name: str, noun: str) -> Family:
    def draw(product, rng, size, rgb):  # rgb is unused: photographs keep their own colours
        image = crop(_source(name), product, rng, size)
        return Scene(image, plain_background(rng, size, 0.05), np.ones((size, size), bool))

    return Family(name, noun, "photo", (NATURAL,), draw)


#: Photographs that may be pretrained on.
REAL_PRETRAIN_FAMILIES = {n: _photo_family(n, noun) for n, (_, _, noun) in _PRETRAIN_SOURCES.items()}
#: Texture-like photographs never pretrained on: the held-out real-texture check.
REAL_HELD_OUT_FAMILIES = {n: _photo_family(n, noun) for n, (_, _, noun) in _HELD_OUT_SOURCES.items()}
REAL_FAMILIES = {**REAL_PRETRAIN_FAMILIES, **REAL_HELD_OUT_FAMILIES}
