"""The families of the procedural world: materials and objects drawn from a few primitives.

Every family draws a *scene* at any size: the image (float [S, S, 3] in [0, 1]), the
background behind it (what a hole or a missing part reveals) and the foreground mask (where
defects may go). A scene is a function of two generators: ``product`` fixes what one product
looks like (its colour, pattern scale, layout), ``rng`` the jitter of one photograph of it
(position, rotation, lighting). Lengths are fractions of the image side, so the same product
drawn at 128 px and at 240 px is the same scene at two resolutions.

None of these families is one of the six auxiliary categories (``inctrl.data.synthetic``) or
imitates an evaluation target; :data:`HELD_OUT_FAMILIES` are kept out of pretraining.
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
    image: np.ndarray  # [S, S, 3] float in [0, 1]
    background: np.ndarray  # [S, S, 3]: what a hole or a missing part reveals
    foreground: np.ndarray  # [S, S] bool: where a defect may be placed


@dataclass(frozen=True)
class Family:
    """One family of the world: ``noun`` is how captions name it ("knitted fabric")."""

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
    return np.clip(gray[..., None] * rgb, 0, 1)


def plain_background(rng, size: int, level: float) -> np.ndarray:
    base = level + 0.03 * smooth(rng, size, size / 20)
    return np.clip(np.repeat(base[..., None], 3, axis=2), 0, 1)


def material(image: np.ndarray, rng, size: int) -> Scene:
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


# ------------------------------------------------------------------ materials
def knitted_fabric(product, rng, size, rgb):
    period = product.uniform(0.045, 0.07)
    u, v = grid(rng, size, product.uniform(-10, 10), 3)
    loop = np.abs(np.mod(u / period, 1) - 0.5)
    wave = np.cos(2 * np.pi * (v / (period * 0.8) + 0.9 * loop))
    gray = 0.65 + 0.25 * wave + 0.06 * smooth(rng, size, 0.7)
    return material(tint(gray, rgb), rng, size)


def brushed_metal(product, rng, size, rgb):
    sigma = (0.4, size * 0.06) if product.random() < 0.5 else (size * 0.12, 0.4)
    gray = 0.72 + 0.07 * smooth(rng, size, sigma) + 0.08 * smooth(rng, size, size / 6)
    return material(tint(gray, rgb), rng, size)


def cast_metal(product, rng, size, rgb):
    gray = 0.6 + 0.09 * fractal(rng, size, 0.08)
    pits = smooth(rng, size, 0.8) > 2.6
    gray[ndimage.binary_dilation(pits)] *= 0.6
    return material(tint(gray, rgb), rng, size)


def marble(product, rng, size, rgb):
    u, v = grid(rng, size, product.uniform(0, 180), 15)
    veins = np.abs(np.sin(product.uniform(6, 12) * u + 2.2 * fractal(rng, size, 0.2)))
    gray = 0.82 - 0.35 * (1 - veins) ** 6 + 0.03 * smooth(rng, size, 2)
    return material(tint(gray, rgb * 0.3 + 0.7), rng, size)


def granite(product, rng, size, rgb):
    _, _, cell = cells(rng, size, int(size * size / 50))
    tones = np.array([0.25, 0.6, 0.95])[rng.integers(0, 3, cell.max() + 1)]
    gray = tones[cell] * 0.8 + 0.05 * smooth(rng, size, 0.7)
    return material(tint(gray, rgb * 0.5 + 0.5), rng, size)


def concrete(product, rng, size, rgb):
    gray = 0.62 + 0.08 * fractal(rng, size, 0.3) + 0.05 * smooth(rng, size, 0.6)
    pores = smooth(rng, size, size * 0.01) > 2.3
    gray[pores] *= 0.55
    return material(tint(gray, rgb * 0.4 + 0.6), rng, size)


def leather(product, rng, size, rgb):
    d1, d2, _ = cells(rng, size, int(product.uniform(150, 260)))
    crease = np.exp(-(((d2 - d1) * size / 1.2) ** 2))
    gray = 0.75 - 0.25 * crease + 0.05 * smooth(rng, size, 1.0)
    return material(tint(gray, rgb), rng, size)


def paper(product, rng, size, rgb):
    fibres = smooth(rng, size, (0.5, size * 0.03)) * 0.5 + smooth(rng, size, (size * 0.03, 0.5)) * 0.5
    gray = 0.9 + 0.025 * fibres + 0.02 * smooth(rng, size, size / 4)
    return material(tint(gray, rgb * 0.15 + 0.85), rng, size)


def plastic(product, rng, size, rgb):
    u, v = grid(rng, size, rng.uniform(0, 360))
    gray = 0.8 + 0.12 * (u - u.mean()) + 0.02 * smooth(rng, size, 0.8)
    if product.random() < 0.5:  # a stippled finish
        gray += 0.05 * (smooth(rng, size, size * 0.008) > 1.0)
    return material(tint(gray, rgb), rng, size)


def ceramic_tiles(product, rng, size, rgb):
    period = product.uniform(0.22, 0.4)
    u, v = grid(rng, size, product.choice([0.0, 45.0]), 2)
    fu, fv = np.mod(u / period, 1), np.mod(v / period, 1)
    grout = (np.minimum(fu, 1 - fu) < 0.03) | (np.minimum(fv, 1 - fv) < 0.03)
    tile_id = (np.floor(u / period) * 7 + np.floor(v / period)).astype(int)
    shade = 0.85 + 0.05 * np.sin(tile_id * 12.9898)
    gray = np.where(grout, 0.45, shade + 0.015 * smooth(rng, size, 1))
    return material(tint(gray, rgb), rng, size)


def perforated_metal(product, rng, size, rgb):
    period = product.uniform(0.07, 0.11)
    u, v = grid(rng, size, product.uniform(0, 60), 2)
    fu, fv = np.mod(u / period, 1) - 0.5, np.mod(v / (period * 0.866), 1) - 0.5
    row = np.floor(v / (period * 0.866)).astype(int) % 2
    fu = np.mod(fu + 0.5 * row + 0.5, 1) - 0.5
    hole = np.hypot(fu, fv) < 0.3
    plate = tint(0.7 + 0.05 * smooth(rng, size, size / 5), rgb)
    back = plain_background(rng, size, 0.08)
    return Scene(np.where(hole[..., None], back, plate), back, ~ndimage.binary_dilation(hole))


def circuit_board(product, rng, size, rgb):
    img = (
        np.zeros((size, size, 3)) + np.array([0.1, 0.38, 0.18]) * (1 + 0.05 * smooth(rng, size, 2))[..., None]
    )
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    shift = rng.uniform(-0.03, 0.03, 2)
    for _ in range(int(product.integers(8, 14))):  # the layout belongs to the product
        x, y = product.uniform(0.05, 0.95, 2)
        pts = [(x, y)]
        for _ in range(3):
            x, y = (
                (x, float(product.uniform(0.05, 0.95)))
                if len(pts) % 2
                else (float(product.uniform(0.05, 0.95)), y)
            )
            pts.append((x, y))
        draw.line(
            [((px + shift[0]) * size, (py + shift[1]) * size) for px, py in pts],
            fill=255,
            width=max(1, int(size * 0.012)),
        )
        for px, py in (pts[0], pts[-1]):
            r = size * 0.022
            cx, cy = (px + shift[0]) * size, (py + shift[1]) * size
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    copper = np.asarray(canvas)[..., None] / 255.0
    metal = np.asarray(COLOURS["gold"]) if rgb.mean() > 0.5 else np.asarray(COLOURS["copper"])
    return material(img * (1 - copper) + metal * copper, rng, size)


def sand(product, rng, size, rgb):
    d1, _, cell = cells(rng, size, int(size * size / 14))
    shade = 0.7 + 0.2 * np.sin(cell * 78.233) - 2.0 * d1 * size / size
    return material(tint(shade + 0.04 * smooth(rng, size, 0.5), rgb * 0.5 + 0.5), rng, size)


def cork(product, rng, size, rgb):
    _, _, cell = cells(rng, size, int(size * size / 40))
    gray = 0.6 + 0.18 * np.sin(cell * 43.758) + 0.08 * smooth(rng, size, 0.6)
    gray[smooth(rng, size, 1.0) > 2.0] *= 0.5
    return material(tint(gray, np.asarray(COLOURS["brown"]) * 0.6 + rgb * 0.4 + 0.2), rng, size)


def carpet(product, rng, size, rgb):
    tuft = smooth(rng, size, size * 0.01)
    gray = 0.6 + 0.12 * tuft + 0.1 * smooth(rng, size, 0.5)
    return material(tint(gray, rgb), rng, size)


def rubber_mat(product, rng, size, rgb):
    period = product.uniform(0.08, 0.14)
    u, v = grid(rng, size, 0, 4)
    bump = np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period)
    gray = 0.35 + 0.15 * bump + 0.03 * smooth(rng, size, 0.8)
    return material(tint(gray, rgb * 0.5 + 0.2), rng, size)


# ------------------------------------------------------------------ objects on a plain background
def _object_scene(alpha, body, rng, size, light_bg: bool) -> Scene:
    back = plain_background(rng, size, 0.82 if light_bg else 0.1)
    img = back * (1 - alpha[..., None]) + body * alpha[..., None]
    return Scene(np.clip(img, 0, 1), back, alpha > 0.5)


def _pose(rng, size):
    """Centre (pixels) and rotation (radians) of one photograph of an object."""
    c = size * (0.5 + rng.uniform(-0.05, 0.05, 2))
    return c, rng.uniform(0, 2 * np.pi)


def _rot(points, centre, angle):
    p = np.asarray(points, dtype=np.float64)
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return p @ r.T + centre


def screw(product, rng, size, rgb):
    c, a = _pose(rng, size)
    length, width = size * product.uniform(0.55, 0.7), size * product.uniform(0.08, 0.11)
    shaft = [
        (-length / 2, -width / 2),
        (length / 2, -width / 2),
        (length / 2 + width, 0),
        (length / 2, width / 2),
        (-length / 2, width / 2),
    ]
    head = [
        (-length / 2 - width * 0.8, -width * 1.1),
        (-length / 2, -width * 1.1),
        (-length / 2, width * 1.1),
        (-length / 2 - width * 0.8, width * 1.1),
    ]
    alpha = np.maximum(polygon_mask(size, _rot(shaft, c, a)), polygon_mask(size, _rot(head, c, a)))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (xx - c[0]) * np.cos(a) + (yy - c[1]) * np.sin(a)
    thread = 0.85 + 0.15 * np.sin(2 * np.pi * along / (size * product.uniform(0.025, 0.035)))
    body = tint(thread * lit(alpha, rng) * 0.85, rgb)
    return _object_scene(alpha, body, rng, size, light_bg=product.random() < 0.5)


def _polygon(n, radius, phase=0.0):
    t = np.arange(n) * 2 * np.pi / n + phase
    return np.stack([radius * np.cos(t), radius * np.sin(t)], 1)


def _disc(size, centre, radius):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return np.clip(radius - np.hypot(xx - centre[0], yy - centre[1]) + 0.5, 0, 1)


def hex_nut(product, rng, size, rgb):
    c, a = _pose(rng, size)
    r = size * product.uniform(0.28, 0.34)
    alpha = polygon_mask(size, _rot(_polygon(6, r), c, a)) * (1 - _disc(size, c, r * 0.45))
    body = tint((0.8 + 0.05 * smooth(rng, size, 1)) * lit(alpha, rng), rgb)
    return _object_scene(alpha, body, rng, size, light_bg=True)


def capsule(product, rng, size, rgb):
    c, a = _pose(rng, size)
    length, radius = size * product.uniform(0.28, 0.34), size * product.uniform(0.1, 0.13)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (xx - c[0]) * np.cos(a) + (yy - c[1]) * np.sin(a)
    across = -(xx - c[0]) * np.sin(a) + (yy - c[1]) * np.cos(a)
    dist = np.hypot(np.clip(np.abs(along) - length / 2, 0, None), across)
    alpha = np.clip(radius - dist + 0.5, 0, 1)
    second = np.asarray(COLOURS[str(product.choice(list(BRIGHT)))])
    colour = np.where((along > 0)[..., None], rgb, second)
    body = colour * (0.75 + 0.35 * np.cos(np.clip(across / radius, -1, 1) * 1.3))[..., None]
    return _object_scene(alpha, np.clip(body, 0, 1), rng, size, light_bg=False)


def bottle_top(product, rng, size, rgb):
    c, _ = _pose(rng, size)
    r = size * product.uniform(0.3, 0.38)
    rings = [(1.0, 0.65), (0.62, 0.85), (0.45, 0.35), (0.38, 0.1)]
    body = np.zeros((size, size, 3))
    alpha = _disc(size, c, r)
    for frac, level in rings:
        d = _disc(size, c, r * frac)[..., None]
        body = body * (1 - d) + d * np.asarray(rgb) * level * 1.2
    return _object_scene(alpha, np.clip(body, 0, 1), rng, size, light_bg=False)


def washer(product, rng, size, rgb):
    c, _ = _pose(rng, size)
    r = size * product.uniform(0.28, 0.36)
    alpha = _disc(size, c, r) * (1 - _disc(size, c, r * product.uniform(0.4, 0.55)))
    body = tint((0.85 + 0.05 * smooth(rng, size, (0.5, 4))) * lit(alpha, rng), rgb)
    return _object_scene(alpha, body, rng, size, light_bg=product.random() < 0.5)


def button(product, rng, size, rgb):
    c, a = _pose(rng, size)
    r = size * product.uniform(0.25, 0.33)
    holes = sum(_disc(size, h, r * 0.12) for h in _rot(_polygon(4, r * 0.3, np.pi / 4), c, a))
    alpha = _disc(size, c, r) * (1 - np.clip(holes, 0, 1))
    rim = 1 - 0.25 * (_disc(size, c, r) - _disc(size, c, r * 0.8))
    body = tint(0.9 * rim * lit(alpha, rng), rgb)
    return _object_scene(alpha, body, rng, size, light_bg=True)


def gear(product, rng, size, rgb):
    c, a = _pose(rng, size)
    r, teeth = size * product.uniform(0.3, 0.36), int(product.integers(10, 18))
    t = np.linspace(0, 2 * np.pi, teeth * 8, endpoint=False)
    radius = r * (0.85 + 0.15 * (np.cos(teeth * t) > 0))
    outline = np.stack([radius * np.cos(t + a), radius * np.sin(t + a)], 1) + c
    alpha = polygon_mask(size, outline) * (1 - _disc(size, c, r * 0.25))
    body = tint(0.8 * lit(alpha, rng) + 0.03 * smooth(rng, size, 1), rgb)
    return _object_scene(alpha, body, rng, size, light_bg=product.random() < 0.5)


# ------------------------------------------------------------------ held out of pretraining
def terrazzo(product, rng, size, rgb):
    base = 0.78 + 0.03 * smooth(rng, size, 1)
    img = tint(base, rgb * 0.2 + 0.8)
    chips = [np.asarray(COLOURS[c]) for c in product.choice(list(COLOURS), 3)]
    for _ in range(int(size * size / 900)):
        ctr, r = rng.uniform(0, size, 2), size * rng.uniform(0.01, 0.03)
        pts = _polygon(int(rng.integers(4, 7)), r, rng.uniform(0, 6)) * rng.uniform(0.6, 1.2, (1, 2)) + ctr
        m = polygon_mask(size, pts, 1)[..., None]
        img = img * (1 - m) + chips[int(rng.integers(3))] * m
    return material(img, rng, size)


def knurled_metal(product, rng, size, rgb):
    period = product.uniform(0.04, 0.06)
    u, v = grid(rng, size, 45, 3)
    diamond = np.abs(np.mod((u + v) / period, 1) - 0.5) + np.abs(np.mod((u - v) / period, 1) - 0.5)
    gray = 0.55 + 0.3 * (diamond - 0.5) + 0.04 * smooth(rng, size, 1)
    return material(tint(gray, rgb), rng, size)


def corrugated_cardboard(product, rng, size, rgb):
    period = product.uniform(0.05, 0.08)
    u, _ = grid(rng, size, product.choice([0.0, 90.0]), 2)
    gray = 0.7 + 0.12 * np.sin(2 * np.pi * u / period) + 0.03 * smooth(rng, size, (0.6, 3))
    return material(tint(gray, np.asarray(COLOURS["beige"]) * 0.7 + rgb * 0.3), rng, size)


def dice(product, rng, size, rgb):
    c, a = _pose(rng, size)
    half = size * product.uniform(0.25, 0.3)
    square = polygon_mask(size, _rot([(-half, -half), (half, -half), (half, half), (-half, half)], c, a))
    n = int(product.integers(1, 7))
    spots = {
        1: [(0, 0)],
        2: [(-1, -1), (1, 1)],
        3: [(-1, -1), (0, 0), (1, 1)],
        4: [(-1, -1), (1, 1), (-1, 1), (1, -1)],
        5: [(-1, -1), (1, 1), (-1, 1), (1, -1), (0, 0)],
        6: [(-1, -1), (-1, 0), (-1, 1), (1, -1), (1, 0), (1, 1)],
    }[n]
    pips = sum(_disc(size, p, half * 0.16) for p in _rot(np.asarray(spots) * half * 0.5, c, a))
    body = tint((1 - 0.8 * np.clip(pips, 0, 1)) * 0.92 * lit(square, rng), rgb * 0.3 + 0.7)
    return _object_scene(square, body, rng, size, light_bg=False)


def _family(name, noun, kind, colours, draw):
    def wrapped(product, rng, size, rgb):
        return draw(product, rng, size, np.asarray(rgb, dtype=np.float64))

    return Family(name, noun, kind, tuple(colours), wrapped)


#: The pretraining families (22).
PRETRAIN_FAMILIES = {
    f.name: f
    for f in (
        _family("knitted_fabric", "knitted fabric", "material", BRIGHT, knitted_fabric),
        _family("brushed_metal", "brushed metal plate", "material", METALS, brushed_metal),
        _family("cast_metal", "cast metal part", "material", METALS, cast_metal),
        _family("marble", "marble slab", "material", EARTH, marble),
        _family("granite", "granite slab", "material", EARTH, granite),
        _family("concrete", "concrete wall", "material", EARTH, concrete),
        _family("leather", "leather", "material", ("brown", "black", "beige", "red"), leather),
        _family("paper", "sheet of paper", "material", ("white", "beige", "yellow", "pink"), paper),
        _family("plastic", "plastic surface", "material", BRIGHT, plastic),
        _family("ceramic_tiles", "tiled surface", "material", BRIGHT + EARTH, ceramic_tiles),
        _family("perforated_metal", "perforated metal sheet", "material", METALS, perforated_metal),
        _family("circuit_board", "printed circuit board", "material", ("green",), circuit_board),
        _family("sand", "sand", "material", EARTH + ("yellow",), sand),
        _family("cork", "cork board", "material", ("brown", "beige"), cork),
        _family("carpet", "carpet", "material", BRIGHT + EARTH, carpet),
        _family("rubber_mat", "rubber mat", "material", ("black", "grey", "blue", "green"), rubber_mat),
        _family("screw", "screw", "object", METALS, screw),
        _family("hex_nut", "hex nut", "object", METALS, hex_nut),
        _family("capsule", "capsule", "object", BRIGHT, capsule),
        _family(
            "bottle_top", "bottle seen from above", "object", ("green", "brown", "blue", "white"), bottle_top
        ),
        _family("washer", "washer", "object", METALS, washer),
        _family("button", "button", "object", BRIGHT, button),
        _family("gear", "gear", "object", METALS, gear),
    )
}

#: Families kept out of pretraining *and* out of the auxiliary set: the in-world held-out targets.
HELD_OUT_FAMILIES = {
    f.name: f
    for f in (
        _family("terrazzo", "terrazzo floor", "material", EARTH, terrazzo),
        _family("knurled_metal", "knurled metal", "material", METALS, knurled_metal),
        _family(
            "corrugated_cardboard",
            "corrugated cardboard",
            "material",
            ("brown", "beige"),
            corrugated_cardboard,
        ),
        _family("dice", "dice", "object", ("white", "red", "black"), dice),
    )
}

FAMILIES = {**PRETRAIN_FAMILIES, **HELD_OUT_FAMILIES}
