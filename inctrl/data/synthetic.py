"""A small synthetic industrial dataset: the offline stand-in for MVTec AD.

Six categories in the canonical layout, generated in seconds with no download:

* ``brick`` and ``gravel``: textures cut from scikit-image's bundled sample images
  (``skimage.data.brick`` / ``gravel``, which ship inside the package), tinted;
* ``wood`` (grain rings), ``grid`` (metal mesh), ``fabric`` (weave): procedural textures;
* ``pill``: a round tablet with a score line on a dark tray (an object category).

Every normal image is jittered (crop position, rotation, scale, brightness, colour), so
normal images vary the way photographs of one product do. Anomalous images carry one
defect of six kinds (see :func:`defect_kinds`) with its exact binary mask.

These defects differ in kind from ELPV's: ELPV anomalies are dark cracks and electrically
inactive (dark) regions on gray solar-cell images, whereas here most defects are colour
stains, bright scratches, displaced patches (cut-paste), noise blobs and missing parts on
coloured textures and objects; the thin cracks that exist here are on wood, brick, mesh ...
not on cells. Training on this set and testing on ELPV is therefore still a transfer to
unseen defect types, as in the paper's protocol (train on MVTec AD, test elsewhere).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from .converters._common import progress, save_mask, save_png, staged_output
from .splits import split_normals

__all__ = ["SYNTHETIC_CATEGORIES", "defect_kinds", "make_synthetic_dataset"]

#: Categories :func:`make_synthetic_dataset` can generate, in order.
SYNTHETIC_CATEGORIES = ("brick", "fabric", "grid", "gravel", "pill", "wood")

_DEFECT_KINDS = ("scratch", "crack", "stain", "cut_paste", "noise", "missing")


def defect_kinds() -> tuple[str, ...]:
    """The defect kinds of the synthetic dataset (also its ``test/<defect>`` folder names).

    * ``scratch``: a thin bright or dark curved line;
    * ``crack``: a dark jagged line with branches;
    * ``stain``: an irregular coloured blob (rust, oil, paint);
    * ``cut_paste``: a patch of the same image moved, flipped and re-lit elsewhere;
    * ``noise``: an irregular region of strong colour noise;
    * ``missing``: an irregular region where the material is gone (background shows).

    Returns:
        The six kinds, in the order above (anomalous image i gets kind ``i % 6``).
    """
    return _DEFECT_KINDS


# ------------------------------------------------------------------------ base images
# Each generator returns (image float [H, W, 3] in [0, 1], background like image,
# foreground bool [H, W]): defects of kind "missing" reveal the background, and defect
# positions are drawn inside the foreground.


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return field / (field.std() + 1e-8)


@functools.cache
def _texture_source(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)())


def _sample_texture(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A jittered gray crop of a bundled scikit-image texture, values in [0, 1]."""
    source = _texture_source(name)
    angle = rng.uniform(-10, 10)
    rotated = source.rotate(angle, resample=Image.BILINEAR)
    side = int(min(source.size) * rng.uniform(0.42, 0.55))  # leave the rotated corners out
    margin = int(min(source.size) * 0.12)
    x0 = int(rng.integers(margin, source.size[0] - margin - side))
    y0 = int(rng.integers(margin, source.size[1] - margin - side))
    crop = rotated.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.BILINEAR)
    return np.asarray(crop, dtype=np.float64) / 255.0


def _tint(gray: np.ndarray, colour, rng: np.random.Generator) -> np.ndarray:
    colour = np.asarray(colour) * rng.uniform(0.9, 1.1, size=3)
    return np.clip(gray[..., None] * colour * rng.uniform(0.85, 1.15), 0, 1)


def _dark_background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = 0.06 + 0.02 * _smooth_noise(rng, size, 6)
    return np.clip(np.repeat(base[..., None], 3, axis=2), 0, 1)


def _brick(rng, size):
    img = _tint(_sample_texture("brick", rng, size) * 1.3, (0.85, 0.5, 0.38), rng)
    return img, _dark_background(rng, size), np.ones((size, size), bool)


def _gravel(rng, size):
    img = _tint(_sample_texture("gravel", rng, size) * 1.2, (0.72, 0.7, 0.62), rng)
    return img, _dark_background(rng, size), np.ones((size, size), bool)


def _grid_coords(rng, size, max_angle):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
    u = xx * np.cos(angle) + yy * np.sin(angle) + rng.uniform(0, 100)
    v = -xx * np.sin(angle) + yy * np.cos(angle) + rng.uniform(0, 100)
    return u, v


def _wood(rng, size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cx, cy = rng.uniform(-2, 3) * size, rng.uniform(-2, 3) * size  # ring centre off image
    warp = 6.0 * _smooth_noise(rng, size, 18)
    dist = np.hypot(xx - cx, yy - cy) + warp
    period = rng.uniform(9, 14)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * dist / period)
    grain = 0.08 * _smooth_noise(rng, size, 1.2)
    t = np.clip(0.55 * rings + 0.45 + grain, 0, 1)[..., None]
    light, dark = np.array([0.86, 0.66, 0.42]), np.array([0.55, 0.34, 0.17])
    img = (dark + (light - dark) * t) * rng.uniform(0.88, 1.12)
    return np.clip(img, 0, 1), _dark_background(rng, size), np.ones((size, size), bool)


def _grid(rng, size):
    u, v = _grid_coords(rng, size, 6)
    period = rng.uniform(20, 26)
    width = period * 0.28
    du = np.abs((u % period) - period / 2)
    dv = np.abs((v % period) - period / 2)
    wire = np.clip((np.minimum(du, dv) - (period / 2 - width)) / 2 + 0.5, 0, 1)
    shade = 0.55 + 0.35 * wire + 0.04 * _smooth_noise(rng, size, 2)
    hole = 0.12 + 0.03 * _smooth_noise(rng, size, 8)
    gray = np.where(wire > 0.5, shade, hole * (1 - wire) + shade * wire)
    img = _tint(np.clip(gray, 0, 1), (0.8, 0.84, 0.9), rng)
    return img, _dark_background(rng, size), np.ones((size, size), bool)


def _fabric(rng, size):
    u, v = _grid_coords(rng, size, 4)
    thread = rng.uniform(5.5, 7.0)
    over = ((np.floor(u / thread) + np.floor(v / thread)) % 2).astype(bool)
    warp_t = 0.5 + 0.5 * np.sin(np.pi * (v % thread) / thread)  # rounded threads
    weft_t = 0.5 + 0.5 * np.sin(np.pi * (u % thread) / thread)
    gray = np.where(over, warp_t, weft_t) * 0.7 + 0.3
    gray = gray + 0.05 * _smooth_noise(rng, size, 0.8)
    colour = (0.3, 0.42, 0.72) if rng.random() < 0.5 else (0.28, 0.4, 0.68)
    img = _tint(np.clip(gray, 0, 1), colour, rng)
    return img, _dark_background(rng, size), np.ones((size, size), bool)


def _pill(rng, size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    background = np.clip(
        np.asarray([0.16, 0.2, 0.17]) * (1 + 0.15 * _smooth_noise(rng, size, 3))[..., None], 0, 1
    )
    cx = size / 2 + rng.uniform(-0.05, 0.05) * size
    cy = size / 2 + rng.uniform(-0.05, 0.05) * size
    rx = size * rng.uniform(0.3, 0.33)
    ry = rx * rng.uniform(0.92, 1.0)
    theta = rng.uniform(0, np.pi)
    dx, dy = xx - cx, yy - cy
    a = (dx * np.cos(theta) + dy * np.sin(theta)) / rx
    b = (-dx * np.sin(theta) + dy * np.cos(theta)) / ry
    r2 = a**2 + b**2
    inside = r2 <= 1.0
    shade = 0.78 + 0.2 * np.sqrt(np.clip(1 - r2, 0, 1)) - 0.08 * (a + b) / 2
    score_line = np.abs(b) < 0.035
    shade = np.where(score_line, shade * 0.72, shade)
    colour = np.array([0.97, 0.95, 0.9]) * rng.uniform(0.92, 1.05)
    body = np.clip(shade[..., None] * colour, 0, 1)
    img = np.where(inside[..., None], body, background)
    return img, background, inside


_GENERATORS = {
    "brick": _brick,
    "fabric": _fabric,
    "grid": _grid,
    "gravel": _gravel,
    "pill": _pill,
    "wood": _wood,
}


# ------------------------------------------------------------------------ defects


def _centre(rng, foreground: np.ndarray, margin: int) -> tuple[int, int]:
    """A random (x, y) inside ``foreground``, at least ``margin`` from the border."""
    size = foreground.shape[0]
    inner = np.zeros_like(foreground)
    inner[margin : size - margin, margin : size - margin] = True
    ys, xs = np.nonzero(foreground & inner)
    i = int(rng.integers(len(ys)))
    return int(xs[i]), int(ys[i])


def _blob(rng, size, centre, radius) -> np.ndarray:
    """An irregular blob: a disk whose edge is warped by smooth noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dist = np.hypot(xx - centre[0], yy - centre[1]) / radius
    edge = 1 + 0.35 * _smooth_noise(rng, size, radius / 2.5)
    return dist < edge * 0.85


def _draw(size, points, width) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).line([tuple(map(float, p)) for p in points], fill=255, width=width)
    return np.asarray(canvas) > 0


def _scratch(rng, img, background, foreground):
    size = img.shape[0]
    x0, y0 = _centre(rng, foreground, size // 5)
    angle = rng.uniform(0, np.pi)
    length = size * rng.uniform(0.25, 0.45)
    bend = rng.uniform(-0.2, 0.2) * length
    t = np.linspace(-0.5, 0.5, 40)
    xs = x0 + t * length * np.cos(angle) - bend * (1 - 4 * t**2) * np.sin(angle)
    ys = y0 + t * length * np.sin(angle) + bend * (1 - 4 * t**2) * np.cos(angle)
    mask = _draw(size, np.stack([xs, ys], 1), int(rng.integers(2, 4))) & foreground
    value = 0.95 if rng.random() < 0.6 else 0.08
    out = img.copy()
    out[mask] = 0.25 * out[mask] + 0.75 * value
    return out, mask


def _crack(rng, img, background, foreground):
    size = img.shape[0]
    x, y = _centre(rng, foreground, size // 5)
    angle = rng.uniform(0, 2 * np.pi)
    points, mask = [(x, y)], np.zeros((size, size), bool)
    for _ in range(int(rng.integers(10, 16))):
        angle += rng.uniform(-0.7, 0.7)
        step = rng.uniform(5, 10)
        x, y = x + step * np.cos(angle), y + step * np.sin(angle)
        points.append((x, y))
        if rng.random() < 0.2:  # a short branch
            ba = angle + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
            bl = rng.uniform(8, 20)
            mask |= _draw(size, [(x, y), (x + bl * np.cos(ba), y + bl * np.sin(ba))], 1)
    mask |= _draw(size, points, int(rng.integers(2, 4)))
    mask &= foreground  # a crack stays in the material
    out = img.copy()
    out[mask] = out[mask] * 0.15
    return out, mask


def _stain(rng, img, background, foreground):
    size = img.shape[0]
    centre = _centre(rng, foreground, size // 8)
    mask = _blob(rng, size, centre, size * rng.uniform(0.06, 0.12))
    colours = ([0.55, 0.25, 0.05], [0.1, 0.1, 0.05], [0.8, 0.1, 0.1], [0.9, 0.8, 0.1])
    colour = np.asarray(colours[int(rng.integers(len(colours)))])
    alpha = rng.uniform(0.55, 0.8)
    out = img.copy()
    out[mask] = (1 - alpha) * out[mask] + alpha * colour
    return out, mask


def _cut_paste(rng, img, background, foreground):
    size = img.shape[0]
    w, h = (int(size * rng.uniform(0.12, 0.22)) for _ in range(2))
    sx, sy = (int(rng.integers(0, size - s)) for s in (w, h))
    patch = img[sy : sy + h, sx : sx + w].copy()
    patch = np.rot90(patch, k=int(rng.integers(1, 4))) if w == h else patch[::-1, ::-1]
    patch = np.clip(patch * rng.choice([0.6, 1.45]), 0, 1)
    ph, pw = patch.shape[:2]
    cx, cy = _centre(rng, foreground, max(pw, ph) // 2 + 1)
    x0, y0 = cx - pw // 2, cy - ph // 2
    out = img.copy()
    out[y0 : y0 + ph, x0 : x0 + pw] = patch
    mask = np.zeros((size, size), bool)
    mask[y0 : y0 + ph, x0 : x0 + pw] = True
    return out, mask


def _noise(rng, img, background, foreground):
    size = img.shape[0]
    centre = _centre(rng, foreground, size // 8)
    mask = _blob(rng, size, centre, size * rng.uniform(0.05, 0.1))
    out = img.copy()
    out[mask] = rng.uniform(0, 1, size=(int(mask.sum()), 3))
    return out, mask


def _missing(rng, img, background, foreground):
    size = img.shape[0]
    if foreground.all():  # texture: a hole through the material
        centre = _centre(rng, foreground, size // 8)
        mask = _blob(rng, size, centre, size * rng.uniform(0.07, 0.12))
    else:  # object: a bite out of its edge
        edge = foreground & ~ndimage.binary_erosion(foreground, iterations=2)
        ey, ex = np.nonzero(edge)
        i = int(rng.integers(len(ey)))
        mask = _blob(rng, size, (ex[i], ey[i]), size * rng.uniform(0.08, 0.12)) & foreground
    out = img.copy()
    out[mask] = background[mask]
    return out, mask


_DEFECTS = {
    "scratch": _scratch,
    "crack": _crack,
    "stain": _stain,
    "cut_paste": _cut_paste,
    "noise": _noise,
    "missing": _missing,
}


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _normal(category: str, rng, size: int):
    return _GENERATORS[category](rng, size)


def make_synthetic_dataset(
    out: str | os.PathLike,
    categories: list[str] | tuple[str, ...] | None = None,
    n_normal: int = 80,
    n_anomalous: int = 40,
    size: int = 240,
    seed: int = 0,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Write the synthetic dataset to ``out`` in the canonical layout.

    Each image has its own generator ``default_rng([seed, category, kind, index])``, so
    changing one count does not change the other images.

    Args:
        out: output root (refused when non-empty unless ``overwrite``).
        categories: subset of :data:`SYNTHETIC_CATEGORIES` (default: all six).
        n_normal: normal images per category, split 75/25 into train/good and test/good
            with the protocol rule (80 -> 60 train + 20 test).
        n_anomalous: anomalous test images per category; defect kinds are assigned in turn
            (``defect_kinds()[i % 6]``), each with its mask in ground_truth.
        size: image side in pixels (240 = the paper backbone's input size).
        seed: everything is a function of the seed: two calls write identical bytes.
        overwrite: replace an existing non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: an unknown category, ``n_normal < 2``, ``n_anomalous < 1`` or
            ``size < 64``.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
        NotADirectoryError: ``out`` is a file.
    """
    cats = list(SYNTHETIC_CATEGORIES if categories is None else categories)
    unknown = sorted(set(cats) - set(SYNTHETIC_CATEGORIES))
    if unknown:
        raise ValueError(
            f"unknown synthetic categories {unknown}; available: {', '.join(SYNTHETIC_CATEGORIES)}"
        )
    if n_normal < 2 or n_anomalous < 1:
        raise ValueError(f"need n_normal >= 2 and n_anomalous >= 1, got {n_normal}, {n_anomalous}")
    if size < 64:
        raise ValueError(f"size must be at least 64 pixels, got {size}")
    jobs = []
    for cat in cats:
        c = SYNTHETIC_CATEGORIES.index(cat)
        _, test_idx = split_normals(list(range(n_normal)))
        test_set = set(test_idx)
        for i in range(n_normal):
            split = "test" if i in test_set else "train"
            jobs.append((cat, c, split, "good", i))
        for i in range(n_anomalous):
            jobs.append((cat, c, "test", _DEFECT_KINDS[i % len(_DEFECT_KINDS)], i))
    with staged_output(out, None, overwrite) as tmp:
        for cat, c, split, defect, i in progress(jobs, "synthetic", show_progress):
            kind = 0 if defect == "good" else 1 + _DEFECT_KINDS.index(defect)
            rng = np.random.default_rng([seed, c, kind, i])
            img, background, foreground = _normal(cat, rng, size)
            name = f"{i:03d}"
            if defect != "good":
                img, mask = _DEFECTS[defect](rng, img, background, foreground)
                save_mask(mask, tmp / cat / "ground_truth" / defect / f"{name}_mask.png")
            save_png(_to_uint8(img), tmp / cat / split / defect / f"{name}.png", compress_level=1)
    return Path(out)
