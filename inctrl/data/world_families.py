"""The families of the procedural world: materials and objects drawn from a few primitives.

Every family draws a *scene* at any size: the image (float [S, S, 3] in [0, 1]), the
background behind it (what a hole or a missing part reveals) and the foreground mask (where
defects may go). A scene is a function of two generators: ``product`` fixes what one product
looks like (its colour, pattern scale, layout), ``rng`` the jitter of one photograph of it
(position, rotation, lighting). Lengths are fractions of the image side, so the same product
drawn at 128 px and at 240 px is the same scene at two resolutions.

Every family function has the same signature, ``draw(product, rng, size, rgb) -> Scene``:
``product`` and ``rng`` are the two ``numpy.random.Generator`` s above, ``size`` is the
image side S in pixels and ``rgb`` the product's colour, floats in [0, 1]. The registries
below (:data:`PRETRAIN_FAMILIES`, :data:`HELD_OUT_FAMILIES`) give each its caption noun and
colours.

None of these families is one of the six auxiliary categories (``inctrl.data.synthetic``) or
imitates an evaluation target; :data:`HELD_OUT_FAMILIES` are kept out of pretraining.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from .world_primitives import (  # noqa: F401  (COLOURS, Scene and Family are re-exported)
    BRIGHT,
    COLOURS,
    EARTH,
    METALS,
    Family,
    Scene,
    cells,
    disc,
    fractal,
    grid,
    lit,
    material,
    object_scene,
    plain_background,
    polygon_mask,
    pose,
    regular_polygon,
    rotate,
    smooth,
    tint,
)


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
def screw(product, rng, size, rgb):
    c, a = pose(rng, size)
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
    alpha = np.maximum(polygon_mask(size, rotate(shaft, c, a)), polygon_mask(size, rotate(head, c, a)))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (xx - c[0]) * np.cos(a) + (yy - c[1]) * np.sin(a)
    thread = 0.85 + 0.15 * np.sin(2 * np.pi * along / (size * product.uniform(0.025, 0.035)))
    body = tint(thread * lit(alpha, rng) * 0.85, rgb)
    return object_scene(alpha, body, rng, size, light_bg=product.random() < 0.5)



def hex_nut(product, rng, size, rgb):
    c, a = pose(rng, size)
    r = size * product.uniform(0.28, 0.34)
    alpha = polygon_mask(size, rotate(regular_polygon(6, r), c, a)) * (1 - disc(size, c, r * 0.45))
    body = tint((0.8 + 0.05 * smooth(rng, size, 1)) * lit(alpha, rng), rgb)
    return object_scene(alpha, body, rng, size, light_bg=True)


def capsule(product, rng, size, rgb):
    c, a = pose(rng, size)
    length, radius = size * product.uniform(0.28, 0.34), size * product.uniform(0.1, 0.13)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (xx - c[0]) * np.cos(a) + (yy - c[1]) * np.sin(a)
    across = -(xx - c[0]) * np.sin(a) + (yy - c[1]) * np.cos(a)
    dist = np.hypot(np.clip(np.abs(along) - length / 2, 0, None), across)
    alpha = np.clip(radius - dist + 0.5, 0, 1)
    second = np.asarray(COLOURS[str(product.choice(list(BRIGHT)))])
    colour = np.where((along > 0)[..., None], rgb, second)
    body = colour * (0.75 + 0.35 * np.cos(np.clip(across / radius, -1, 1) * 1.3))[..., None]
    return object_scene(alpha, np.clip(body, 0, 1), rng, size, light_bg=False)


def bottle_top(product, rng, size, rgb):
    c, _ = pose(rng, size)
    r = size * product.uniform(0.3, 0.38)
    rings = [(1.0, 0.65), (0.62, 0.85), (0.45, 0.35), (0.38, 0.1)]
    body = np.zeros((size, size, 3))
    alpha = disc(size, c, r)
    for frac, level in rings:
        d = disc(size, c, r * frac)[..., None]
        body = body * (1 - d) + d * np.asarray(rgb) * level * 1.2
    return object_scene(alpha, np.clip(body, 0, 1), rng, size, light_bg=False)


def washer(product, rng, size, rgb):
    c, _ = pose(rng, size)
    r = size * product.uniform(0.28, 0.36)
    alpha = disc(size, c, r) * (1 - disc(size, c, r * product.uniform(0.4, 0.55)))
    body = tint((0.85 + 0.05 * smooth(rng, size, (0.5, 4))) * lit(alpha, rng), rgb)
    return object_scene(alpha, body, rng, size, light_bg=product.random() < 0.5)


def button(product, rng, size, rgb):
    c, a = pose(rng, size)
    r = size * product.uniform(0.25, 0.33)
    holes = sum(disc(size, h, r * 0.12) for h in rotate(regular_polygon(4, r * 0.3, np.pi / 4), c, a))
    alpha = disc(size, c, r) * (1 - np.clip(holes, 0, 1))
    rim = 1 - 0.25 * (disc(size, c, r) - disc(size, c, r * 0.8))
    body = tint(0.9 * rim * lit(alpha, rng), rgb)
    return object_scene(alpha, body, rng, size, light_bg=True)


def gear(product, rng, size, rgb):
    c, a = pose(rng, size)
    r, teeth = size * product.uniform(0.3, 0.36), int(product.integers(10, 18))
    t = np.linspace(0, 2 * np.pi, teeth * 8, endpoint=False)
    radius = r * (0.85 + 0.15 * (np.cos(teeth * t) > 0))
    outline = np.stack([radius * np.cos(t + a), radius * np.sin(t + a)], 1) + c
    alpha = polygon_mask(size, outline) * (1 - disc(size, c, r * 0.25))
    body = tint(0.8 * lit(alpha, rng) + 0.03 * smooth(rng, size, 1), rgb)
    return object_scene(alpha, body, rng, size, light_bg=product.random() < 0.5)




# ------------------------------------------------------------------ held out of pretraining
def terrazzo(product, rng, size, rgb):
    base = 0.78 + 0.03 * smooth(rng, size, 1)
    img = tint(base, rgb * 0.2 + 0.8)
    chips = [np.asarray(COLOURS[c]) for c in product.choice(list(COLOURS), 3)]
    for _ in range(int(size * size / 900)):
        ctr, r = rng.uniform(0, size, 2), size * rng.uniform(0.01, 0.03)
        shape = regular_polygon(int(rng.integers(4, 7)), r, rng.uniform(0, 6))
        pts = shape * rng.uniform(0.6, 1.2, (1, 2)) + ctr
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
    c, a = pose(rng, size)
    half = size * product.uniform(0.25, 0.3)
    square = polygon_mask(size, rotate([(-half, -half), (half, -half), (half, half), (-half, half)], c, a))
    n = int(product.integers(1, 7))
    spots = {
        1: [(0, 0)],
        2: [(-1, -1), (1, 1)],
        3: [(-1, -1), (0, 0), (1, 1)],
        4: [(-1, -1), (1, 1), (-1, 1), (1, -1)],
        5: [(-1, -1), (1, 1), (-1, 1), (1, -1), (0, 0)],
        6: [(-1, -1), (-1, 0), (-1, 1), (1, -1), (1, 0), (1, 1)],
    }[n]
    pips = sum(disc(size, p, half * 0.16) for p in rotate(np.asarray(spots) * half * 0.5, c, a))
    body = tint((1 - 0.8 * np.clip(pips, 0, 1)) * 0.92 * lit(square, rng), rgb * 0.3 + 0.7)
    return object_scene(square, body, rng, size, light_bg=False)


def _family(name, noun, kind, colours, draw):
    def wrapped(product, rng, size, rgb):
        return draw(product, rng, size, np.asarray(rgb, dtype=np.float64))

    return Family(name, noun, kind, tuple(colours), wrapped)


#: The pretraining families (23).
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

#: Pretraining families that in-world validation photographs again (a fresh seed, faint
#: defects). A run that leaves them out (``PretrainConfig.families``) is validated on families
#: its own steps never drew.
VALIDATION_FAMILIES = ("knitted_fabric", "brushed_metal", "marble", "carpet", "screw", "capsule")
