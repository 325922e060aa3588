"""The defects of the procedural world, from obvious to subtle, each with its exact mask.

A defect takes a :class:`~inctrl.data.world_families.Scene` and a ``strength`` in (0, 1]
(1: clearly visible; small values: faint, for the held-out evaluation) and returns the
damaged image and the boolean mask of the pixels it changed. Sizes are fractions of the
image side, as in the families.

Every defect function has the same signature, ``defect(rng, scene, strength)``:

Args:
    rng: the ``numpy.random.Generator`` of the defect's place, size and look.
    scene: the undamaged scene; the defect is placed on its foreground.
    strength: in (0, 1].

Returns:
    ``(image, mask)``: the damaged image, float [S, S, 3] in [0, 1], and the [S, S] bool
    mask of the defect (a new image; ``scene`` is not changed).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from .world_primitives import COLOURS, Scene, smooth


def _centre(rng, foreground: np.ndarray, margin: float) -> np.ndarray:
    """A random (x, y) inside ``foreground``, at least ``margin`` (fraction of side) from the border."""
    size = foreground.shape[0]
    m = max(1, int(size * margin))
    inner = np.zeros_like(foreground)
    inner[m : size - m, m : size - m] = True
    ys, xs = np.nonzero(foreground & inner)
    if len(ys) == 0:
        ys, xs = np.nonzero(foreground)
    i = int(rng.integers(len(ys)))
    return np.array([xs[i], ys[i]], dtype=np.float64)


def _blob(rng, size: int, centre, radius: float) -> np.ndarray:
    """An irregular blob: a disk (radius in pixels) with a noisy edge."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dist = np.hypot(xx - centre[0], yy - centre[1]) / max(radius, 1.0)
    return dist < 0.85 * (1 + 0.3 * smooth(rng, size, max(1.0, radius / 2.5)))


def _region(rng, scene: Scene, low: float, high: float) -> np.ndarray:
    """A blob on the foreground, its radius a random fraction (``low``..``high``) of the side."""
    size = scene.image.shape[0]
    centre = _centre(rng, scene.foreground, 0.12)
    return _blob(rng, size, centre, size * rng.uniform(low, high)) & scene.foreground


def _curve(rng, size: int, centre, length: float, bend: float, n: int = 40) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    t = np.linspace(-0.5, 0.5, n)
    off = bend * length * (1 - 4 * t**2)
    xs = centre[0] + t * length * np.cos(angle) - off * np.sin(angle)
    ys = centre[1] + t * length * np.sin(angle) + off * np.cos(angle)
    return np.stack([xs, ys], 1)


def _line_mask(size: int, points, width: float) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).line(
        [tuple(map(float, p)) for p in points], fill=255, width=max(1, int(round(width)))
    )
    return np.asarray(canvas) > 0


def _blend(img, mask, value, alpha):
    out = img.copy()
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(value)
    return out


def scratch(rng, scene: Scene, strength: float):
    """A thin curved line, bright (60 %) or dark."""
    size = scene.image.shape[0]
    pts = _curve(
        rng, size, _centre(rng, scene.foreground, 0.2), size * rng.uniform(0.2, 0.45), rng.uniform(-0.2, 0.2)
    )
    mask = _line_mask(size, pts, size * rng.uniform(0.006, 0.012)) & scene.foreground
    value = 0.95 if rng.random() < 0.6 else 0.05
    return _blend(scene.image, mask, value, 0.3 + 0.5 * strength), mask


def crack(rng, scene: Scene, strength: float):
    """A dark jagged line with short side branches."""
    size = scene.image.shape[0]
    p = _centre(rng, scene.foreground, 0.2)
    angle, pts, mask = rng.uniform(0, 2 * np.pi), [p.copy()], np.zeros((size, size), bool)
    for _ in range(int(rng.integers(8, 15))):
        angle += rng.uniform(-0.7, 0.7)
        p = p + size * rng.uniform(0.02, 0.04) * np.array([np.cos(angle), np.sin(angle)])
        pts.append(p.copy())
        if rng.random() < 0.25:
            b = angle + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
            mask |= _line_mask(
                size, [p, p + size * rng.uniform(0.03, 0.08) * np.array([np.cos(b), np.sin(b)])], 1
            )
    mask = (mask | _line_mask(size, pts, size * rng.uniform(0.006, 0.012))) & scene.foreground
    return _blend(scene.image, mask, (0.03, 0.03, 0.03), 0.4 + 0.5 * strength), mask


def hole(rng, scene: Scene, strength: float):
    """A small round hole showing the darkened background, with a darkened rim."""
    size = scene.image.shape[0]
    c = _centre(rng, scene.foreground, 0.15)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r = size * rng.uniform(0.015, 0.045) * (0.6 + 0.4 * strength)
    mask = (np.hypot(xx - c[0], yy - c[1]) < r) & scene.foreground
    out = scene.image.copy()
    out[mask] = scene.background[mask] * 0.5
    rim = ndimage.binary_dilation(mask, iterations=max(1, size // 120)) & ~mask & scene.foreground
    out[rim] *= 0.7
    return out, mask | rim


def stain(rng, scene: Scene, strength: float):
    """An irregular blob blended towards rust, oil, red, yellow or blue."""
    mask = _region(rng, scene, 0.04, 0.1)
    colour = [(0.55, 0.25, 0.05), (0.1, 0.1, 0.05), (0.8, 0.1, 0.1), (0.9, 0.8, 0.1), (0.2, 0.3, 0.8)]
    return _blend(scene.image, mask, colour[int(rng.integers(len(colour)))], 0.2 + 0.5 * strength), mask


def contamination(rng, scene: Scene, strength: float):
    """A cluster of small dark (60 %) or pale specks."""
    size = scene.image.shape[0]
    c = _centre(rng, scene.foreground, 0.12)
    mask = np.zeros((size, size), bool)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    for _ in range(int(rng.integers(4, 12))):
        p = c + rng.normal(0, size * 0.03, 2)
        mask |= np.hypot(xx - p[0], yy - p[1]) < size * rng.uniform(0.004, 0.012)
    mask &= scene.foreground
    value = (0.05, 0.05, 0.04) if rng.random() < 0.6 else (0.95, 0.93, 0.85)
    return _blend(scene.image, mask, value, 0.4 + 0.5 * strength), mask


def colour_shift(rng, scene: Scene, strength: float):
    """An irregular region whose colour channels are scaled unevenly."""
    mask = _region(rng, scene, 0.06, 0.12)
    out = scene.image.copy()
    gain = 1 + (0.15 + 0.35 * strength) * rng.choice([-1, 1]) * rng.dirichlet([1, 1, 1]) * 3
    out[mask] = np.clip(out[mask] * gain, 0, 1)
    return out, mask


def missing(rng, scene: Scene, strength: float):
    """A piece torn out of a material, or a bite out of an object's edge."""
    size = scene.image.shape[0]
    fg = scene.foreground
    if fg.mean() > 0.9:  # a material: a piece torn out of it
        centre = _centre(rng, fg, 0.12)
    else:  # an object: a bite out of its edge
        edge = fg & ~ndimage.binary_erosion(fg, iterations=2)
        ey, ex = np.nonzero(edge)
        i = int(rng.integers(len(ey)))
        centre = np.array([ex[i], ey[i]], dtype=np.float64)
    mask = _blob(rng, size, centre, size * rng.uniform(0.04, 0.09) * (0.6 + 0.4 * strength)) & fg
    out = scene.image.copy()
    out[mask] = scene.background[mask]
    return out, mask


def extra(rng, scene: Scene, strength: float):
    """A foreign blob of a random colour on top of the scene."""
    size = scene.image.shape[0]
    mask = _blob(
        rng,
        size,
        _centre(rng, scene.foreground, 0.12),
        size * rng.uniform(0.025, 0.06) * (0.6 + 0.4 * strength),
    )
    colour = np.asarray(COLOURS[str(rng.choice(list(COLOURS)))])
    piece = colour * (0.8 + 0.2 * smooth(rng, size, 1.5))[..., None]
    out = scene.image.copy()
    out[mask] = np.clip(piece[mask], 0, 1)
    return out, mask


def misalignment(rng, scene: Scene, strength: float):
    """A rectangle whose content is shifted by a few pixels."""
    size = scene.image.shape[0]
    w, h = (int(size * rng.uniform(0.1, 0.2)) for _ in range(2))
    x0, y0 = (int(v) for v in _centre(rng, scene.foreground, 0.15) - [w // 2, h // 2])
    x0, y0 = int(np.clip(x0, 0, size - w)), int(np.clip(y0, 0, size - h))
    shift = int(max(2, size * (0.015 + 0.03 * strength))) * rng.choice([-1, 1], 2)
    src = np.roll(scene.image, tuple(shift), axis=(0, 1))
    out = scene.image.copy()
    out[y0 : y0 + h, x0 : x0 + w] = src[y0 : y0 + h, x0 : x0 + w]
    mask = np.zeros((size, size), bool)
    mask[y0 : y0 + h, x0 : x0 + w] = True
    changed = np.abs(out - scene.image).max(-1) > 0.02
    return out, mask & (ndimage.binary_dilation(changed, iterations=2) | mask)


def warp(rng, scene: Scene, strength: float):
    """A local smooth displacement of the pixels (a bent region)."""
    size = scene.image.shape[0]
    c = _centre(rng, scene.foreground, 0.15)
    r = size * rng.uniform(0.06, 0.12)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    bump = np.exp(-(((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * (r / 2) ** 2)))
    amp = r * (0.2 + 0.4 * strength)
    angle = rng.uniform(0, 2 * np.pi)
    coords = [yy - amp * bump * np.sin(angle), xx - amp * bump * np.cos(angle)]
    out = np.stack(
        [ndimage.map_coordinates(scene.image[..., i], coords, order=1, mode="reflect") for i in range(3)], -1
    )
    mask = (bump > 0.15) & scene.foreground
    out = np.where(mask[..., None], out, scene.image)
    return out, mask


def fibre(rng, scene: Scene, strength: float):
    """A thin wavy line, dark (70 %) or white: a loose fibre or a hair."""
    size = scene.image.shape[0]
    pts = _curve(
        rng, size, _centre(rng, scene.foreground, 0.2), size * rng.uniform(0.2, 0.4), rng.uniform(-0.5, 0.5)
    )
    pts = pts + rng.normal(0, size * 0.003, pts.shape)
    mask = _line_mask(size, pts, max(1, size * 0.004)) & scene.foreground
    value = (0.1, 0.08, 0.06) if rng.random() < 0.7 else (0.9, 0.9, 0.9)
    return _blend(scene.image, mask, value, 0.3 + 0.4 * strength), mask


def blur(rng, scene: Scene, strength: float):
    """An irregular region blurred with a Gaussian."""
    size = scene.image.shape[0]
    mask = _region(rng, scene, 0.06, 0.12)
    sigma = size * (0.004 + 0.01 * strength)
    soft = np.stack([ndimage.gaussian_filter(scene.image[..., i], sigma) for i in range(3)], -1)
    return np.where(mask[..., None], soft, scene.image), mask


def print_error(rng, scene: Scene, strength: float):
    """A dark or blue ink streak, a rotated bar of varying opacity."""
    size = scene.image.shape[0]
    c = _centre(rng, scene.foreground, 0.15)
    length, width = size * rng.uniform(0.12, 0.3), size * rng.uniform(0.015, 0.035)
    a = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (xx - c[0]) * np.cos(a) + (yy - c[1]) * np.sin(a)
    across = -(xx - c[0]) * np.sin(a) + (yy - c[1]) * np.cos(a)
    mask = (np.abs(along) < length / 2) & (np.abs(across) < width / 2) & scene.foreground
    ink = (0.05, 0.05, 0.1) if rng.random() < 0.5 else (0.1, 0.2, 0.7)
    streak = 0.3 + 0.4 * strength * (0.7 + 0.3 * np.cos(along / max(width, 1)))
    out = scene.image.copy()
    out[mask] = (1 - streak[mask, None]) * out[mask] + streak[mask, None] * np.asarray(ink)
    return out, mask


def dent(rng, scene: Scene, strength: float):
    """A round dent: shading that brightens one side and darkens the other."""
    size = scene.image.shape[0]
    c = _centre(rng, scene.foreground, 0.15)
    r = size * rng.uniform(0.04, 0.09)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    a = rng.uniform(0, 2 * np.pi)
    d = ((xx - c[0]) * np.cos(a) + (yy - c[1]) * np.sin(a)) / r
    bump = np.exp(-(((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / r**2))
    shade = 1 + (0.3 + 0.5 * strength) * d * bump
    mask = (bump > 0.2) & scene.foreground
    out = np.where(mask[..., None], np.clip(scene.image * shade[..., None], 0, 1), scene.image)
    return out, mask


#: Defect kind -> (function, caption phrases).
DEFECTS = {
    "scratch": (scratch, ("a scratch", "a thin scratch", "a long scratch")),
    "crack": (crack, ("a crack", "a fine crack")),
    "hole": (hole, ("a hole", "a small hole")),
    "stain": (stain, ("a stain", "an oil stain", "a rust stain")),
    "contamination": (contamination, ("contamination", "dust particles", "specks of dirt")),
    "colour_shift": (colour_shift, ("a discoloured patch", "a colour shift")),
    "missing": (missing, ("a missing part", "a missing piece")),
    "extra": (extra, ("a foreign object", "an extra part")),
    "misalignment": (misalignment, ("a misaligned section", "a shifted section")),
    "warp": (warp, ("a bent region", "a warped area")),
    "fibre": (fibre, ("a loose fibre", "a hair")),
    "blur": (blur, ("a faint irregularity", "a smeared patch")),
    "print_error": (print_error, ("a print error", "an ink smear")),
    "dent": (dent, ("a dent", "a small dent")),
}

#: The kinds that change much of a photo: the ones the paper's reading gives to the image
#: residual (the rest are local, for the patch residual).
GLOBAL_KINDS = ("colour_shift", "missing", "misalignment", "warp")
