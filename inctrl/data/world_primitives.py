"""The primitives the world's families are drawn with: colours, scenes, noise, cells, shapes.

A *scene* is what a family draws: the image (float [S, S, 3] in [0, 1]), the background behind
it (what a hole or a missing part reveals) and the foreground mask (where defects may go).
Lengths are fractions of the image side, so one product drawn at 128 px and at 240 px is the
same scene at two resolutions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import cKDTree

COLOURS = {
    "red": (0.75, 0.15, 0.12),
    "green": (0.2, 0.55, 0.25),
    "blue": (0.18, 0.3, 0.7),
    "yellow": (0.9, 0.8, 0.2),
    "orange": (0.92, 0.5, 0.12),
    "grey": (0.55, 0.55, 0.55),
    "black": (0.16, 0.16, 0.17),
    "white": (0.92, 0.92, 0.9),
    "brown": (0.5, 0.32, 0.18),
    "beige": (0.85, 0.76, 0.6),
    "silver": (0.75, 0.77, 0.8),
    "gold": (0.85, 0.68, 0.3),
    "copper": (0.78, 0.45, 0.28),
    "purple": (0.5, 0.25, 0.6),
    "pink": (0.92, 0.55, 0.65),
    "teal": (0.15, 0.55, 0.55),
}
METALS = ("silver", "grey", "gold", "copper")
BRIGHT = ("red", "green", "blue", "yellow", "orange", "purple", "pink", "teal", "white", "black")
EARTH = ("grey", "beige", "brown", "white", "black")


@dataclass
class Scene:
    """What a family draws: one photograph of a product, before any defect.

    Attributes:
        image: [S, S, 3] float in [0, 1].
        background: [S, S, 3] float in [0, 1]: what a hole or a missing part reveals.
        foreground: [S, S] bool: where a defect may be placed.
    """

    image: np.ndarray  # [S, S, 3] float in [0, 1]
    background: np.ndarray  # [S, S, 3]: what a hole or a missing part reveals
    foreground: np.ndarray  # [S, S] bool: where a defect may be placed


@dataclass(frozen=True)
class Family:
    """One family of the world.

    Attributes:
        name: the family's name (its category name in a world dataset).
        noun: how captions name it ("knitted fabric").
        kind: ``"material"`` or ``"object"``.
        colours: the colour names (keys of :data:`COLOURS`) its products are drawn in.
        draw: ``draw(product, rng, size, rgb) -> Scene`` (see :mod:`.world_families`).
    """

    name: str
    noun: str
    kind: str  # "material" or "object"
    colours: tuple[str, ...]
    draw: Callable[[np.random.Generator, np.random.Generator, int, np.ndarray], Scene]


# ------------------------------------------------------------------ primitives
def smooth(rng, size: int, sigma, *, wrap: bool = True) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation ([S, S])."""
    field = ndimage.gaussian_filter(
        rng.standard_normal((size, size)), sigma, mode="wrap" if wrap else "reflect"
    )
    field -= field.mean()  # a very wide filter leaves mostly the mean: remove it before scaling
    return field / (field.std() + 1e-8)


def fractal(rng, size: int, scale: float = 0.25, octaves: int = 4) -> np.ndarray:
    """Sum of smooth noises at halving scales (``scale`` is a fraction of the side)."""
    out = sum(0.55**o * smooth(rng, size, max(0.5, scale * size / 2**o)) for o in range(octaves))
    return out / (out.std() + 1e-8)


def grid(rng, size: int, angle_deg: float = 0.0, jitter: float = 0.0):
    """Pixel coordinates in units of the side, rotated by ``angle_deg`` (+- ``jitter``) and shifted."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    a = np.deg2rad(angle_deg + rng.uniform(-jitter, jitter))
    du, dv = rng.uniform(0, 1, 2)
    return xx * np.cos(a) + yy * np.sin(a) + du, -xx * np.sin(a) + yy * np.cos(a) + dv


def cells(rng, size: int, n: int):
    """Voronoi cells of ``n`` random seeds: (distance to nearest, to second nearest, cell id)."""
    seeds = rng.uniform(0, 1, (n, 2))
    tiled = np.concatenate([seeds + [dx, dy] for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    dist, idx = cKDTree(tiled).query(np.stack([xx.ravel(), yy.ravel()], 1), k=2)
    shape = (size, size)
    return dist[:, 0].reshape(shape), dist[:, 1].reshape(shape), (idx[:, 0] % n).reshape(shape)


def tint(gray: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """A gray [S, S] image coloured by ``rgb``: [S, S, 3] in [0, 1]."""
    return np.clip(gray[..., None] * rgb, 0, 1)


def plain_background(rng, size: int, level: float) -> np.ndarray:
    """A nearly uniform gray [S, S, 3] background around ``level``, with faint smooth noise."""
    base = level + 0.03 * smooth(rng, size, size / 20)
    return np.clip(np.repeat(base[..., None], 3, axis=2), 0, 1)


def material(image: np.ndarray, rng, size: int) -> Scene:
    """The scene of a material: ``image`` everywhere (all foreground) over a dark background."""
    return Scene(np.clip(image, 0, 1), plain_background(rng, size, 0.05), np.ones((size, size), bool))


def polygon_mask(size: int, points, scale: int = 2) -> np.ndarray:
    """A filled polygon (points in pixels), antialiased by drawing at ``scale`` x."""
    canvas = Image.new("L", (size * scale, size * scale), 0)
    ImageDraw.Draw(canvas).polygon([(x * scale, y * scale) for x, y in points], fill=255)
    return np.asarray(canvas.resize((size, size), Image.BILINEAR)) / 255.0


def lit(alpha: np.ndarray, rng) -> np.ndarray:
    """Soft top-left lighting of a shape: 1 in the middle, brighter/darker at its edges."""
    gy, gx = np.gradient(ndimage.gaussian_filter(alpha, 1.5))
    a = rng.uniform(0, 2 * np.pi)
    return 1 + 4.0 * (gx * np.cos(a) + gy * np.sin(a))



# ------------------------------------------------------------------ objects on a plain background
def object_scene(alpha, body, rng, size, light_bg: bool) -> Scene:
    """The scene of an object: ``body`` [S, S, 3] where ``alpha`` [S, S] covers a plain background.

    The foreground is ``alpha > 0.5``; the background is light (``light_bg``) or dark.
    """
    back = plain_background(rng, size, 0.82 if light_bg else 0.1)
    img = back * (1 - alpha[..., None]) + body * alpha[..., None]
    return Scene(np.clip(img, 0, 1), back, alpha > 0.5)


def pose(rng, size):
    """Centre (pixels) and rotation (radians) of one photograph of an object."""
    c = size * (0.5 + rng.uniform(-0.05, 0.05, 2))
    return c, rng.uniform(0, 2 * np.pi)


def rotate(points, centre, angle):
    """``points`` [P, 2] rotated by ``angle`` (radians) about the origin, then moved to ``centre``."""
    p = np.asarray(points, dtype=np.float64)
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return p @ r.T + centre



def regular_polygon(n, radius, phase=0.0):
    """The [n, 2] corners of a regular polygon of ``radius`` about the origin."""
    t = np.arange(n) * 2 * np.pi / n + phase
    return np.stack([radius * np.cos(t), radius * np.sin(t)], 1)


def disc(size, centre, radius):
    """An antialiased filled disc: [S, S] coverage in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return np.clip(radius - np.hypot(xx - centre[0], yy - centre[1]) + 0.5, 0, 1)

