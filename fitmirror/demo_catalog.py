"""Built-in demo catalogue: 26 products over every category, several colours each, graded size charts
(XS..XXL garment measurements) and procedurally generated, tileable fabric textures (numpy only).

Grading follows common EU/US ready-to-wear practice: girths step 4 cm per size up to M and 5-6 cm above it,
lengths about 1.5-2 cm per size, sleeves 1 cm, inseams stay fixed (regular leg). Charts list garment measurements
(full circumference), i.e. body size plus the style's ease.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from fitmirror.catalog import ColorVariant, Product, SizeMeasurements
from fitmirror.vocab import DEMO_SIZES

SIZES = DEMO_SIZES  # XS..XXL, a slice of the vocabulary's sizes
GIRTH_STEP_CM = {"XS": -8.0, "S": -4.0, "M": 0.0, "L": 5.0, "XL": 11.0, "XXL": 17.0}  # offset from M
LENGTH_STEP = {s: i - SIZES.index("M") for i, s in enumerate(SIZES)}  # size index offset from M

PALETTE = {
    "black": "#1c1c1e",
    "white": "#f2f2ee",
    "grey": "#8a8d91",
    "red": "#b3202a",
    "orange": "#e0782a",
    "yellow": "#e8c33a",
    "green": "#3d7a45",
    "blue": "#2f6fb5",
    "navy": "#1f2a44",
    "purple": "#6b3f8f",
    "pink": "#e58fb0",
    "brown": "#6e4b32",
    "beige": "#d8c3a0",
}

# (id, name, zh, category, gender, pattern, stretch, occasions, price, colours, M measurements, length/size)
_SPECS: list[tuple] = [
    ("tee-classic", "Classic crew-neck T-shirt", "经典圆领T恤", "tshirt", "unisex", "solid", 0.3,
     ["casual", "sport", "travel"], 14.99, ["white", "black", "grey", "navy", "red"],
     {"chest_cm": 104, "waist_cm": 102, "hips_cm": 102, "length_cm": 70, "sleeve_length_cm": 20}, 2.0),
    ("tee-stripe", "Breton striped T-shirt", "布列塔尼条纹T恤", "tshirt", "women", "striped", 0.35,
     ["casual", "beach", "travel"], 24.99, ["navy", "red", "black"],
     {"chest_cm": 94, "waist_cm": 90, "hips_cm": 96, "length_cm": 62, "sleeve_length_cm": 18}, 1.5),
    ("tee-sport", "Training T-shirt", "运动训练T恤", "tshirt", "men", "solid", 0.5,
     ["sport", "casual"], 19.99, ["black", "blue", "green", "orange"],
     {"chest_cm": 102, "waist_cm": 98, "hips_cm": 98, "length_cm": 72, "sleeve_length_cm": 21}, 2.0),
    ("shirt-oxford", "Oxford shirt", "牛津纺衬衫", "shirt", "men", "solid", 0.05,
     ["work", "casual", "formal"], 39.99, ["white", "blue", "pink"],
     {"chest_cm": 108, "waist_cm": 102, "hips_cm": 104, "length_cm": 78, "sleeve_length_cm": 64}, 2.0),
    ("shirt-check", "Flannel check shirt", "法兰绒格子衬衫", "shirt", "unisex", "checked", 0.05,
     ["casual", "outdoor"], 34.99, ["red", "green", "navy"],
     {"chest_cm": 110, "waist_cm": 106, "hips_cm": 106, "length_cm": 76, "sleeve_length_cm": 63}, 2.0),
    ("blouse-silk", "Silk blouse", "真丝衬衫", "blouse", "women", "solid", 0.05,
     ["work", "party", "evening"], 69.0, ["white", "beige", "black", "pink"],
     {"chest_cm": 96, "waist_cm": 88, "hips_cm": 96, "length_cm": 64, "sleeve_length_cm": 58}, 1.5),
    ("blouse-floral", "Floral print blouse", "印花衬衫", "blouse", "women", "floral", 0.1,
     ["casual", "party", "wedding"], 44.0, ["pink", "blue", "yellow"],
     {"chest_cm": 98, "waist_cm": 92, "hips_cm": 98, "length_cm": 62, "sleeve_length_cm": 30}, 1.5),
    ("sweater-merino", "Merino crew sweater", "美利奴羊毛圆领毛衣", "sweater", "unisex", "knit", 0.45,
     ["work", "casual", "travel"], 59.0, ["grey", "navy", "beige", "green"],
     {"chest_cm": 106, "waist_cm": 100, "hips_cm": 100, "length_cm": 68, "sleeve_length_cm": 62}, 2.0),
    ("sweater-stripe", "Striped cotton sweater", "条纹棉质毛衣", "sweater", "women", "striped", 0.4,
     ["casual", "home"], 49.0, ["white", "navy", "red"],
     {"chest_cm": 100, "waist_cm": 96, "hips_cm": 98, "length_cm": 62, "sleeve_length_cm": 58}, 1.5),
    ("jacket-blazer", "Tailored blazer", "修身西装外套", "jacket", "women", "solid", 0.1,
     ["work", "formal", "wedding"], 119.0, ["black", "navy", "beige"],
     {"chest_cm": 98, "waist_cm": 86, "hips_cm": 100, "length_cm": 68, "sleeve_length_cm": 60}, 1.5),
    ("jacket-denim", "Denim jacket", "牛仔夹克", "jacket", "unisex", "denim", 0.05,
     ["casual", "travel"], 79.0, ["blue", "black"],
     {"chest_cm": 112, "waist_cm": 108, "hips_cm": 108, "length_cm": 64, "sleeve_length_cm": 63}, 2.0),
    ("jacket-suit", "Wool suit jacket", "羊毛西服上衣", "jacket", "men", "checked", 0.05,
     ["work", "formal", "wedding"], 189.0, ["grey", "navy", "brown"],
     {"chest_cm": 108, "waist_cm": 98, "hips_cm": 106, "length_cm": 74, "sleeve_length_cm": 64}, 2.0),
    ("coat-trench", "Trench coat", "风衣", "coat", "women", "solid", 0.05,
     ["work", "travel", "outdoor"], 159.0, ["beige", "black", "navy"],
     {"chest_cm": 108, "waist_cm": 100, "hips_cm": 114, "length_cm": 100, "sleeve_length_cm": 61}, 2.0),
    ("coat-wool", "Wool overcoat", "羊毛大衣", "coat", "men", "solid", 0.05,
     ["work", "formal", "outdoor"], 229.0, ["grey", "navy", "brown", "black"],
     {"chest_cm": 116, "waist_cm": 110, "hips_cm": 118, "length_cm": 98, "sleeve_length_cm": 65}, 2.0),
    ("dress-wrap", "Wrap midi dress", "裹身中长连衣裙", "dress", "women", "floral", 0.15,
     ["wedding", "party", "casual"], 89.0, ["red", "blue", "green", "pink"],
     {"chest_cm": 94, "waist_cm": 78, "hips_cm": 104, "length_cm": 110, "sleeve_length_cm": 30}, 2.0),
    ("dress-shift", "Shift dress", "直筒连衣裙", "dress", "women", "solid", 0.1,
     ["work", "party"], 69.0, ["black", "navy", "red"],
     {"chest_cm": 94, "waist_cm": 84, "hips_cm": 100, "length_cm": 92, "sleeve_length_cm": 0}, 1.5),
    ("dress-polka", "Polka-dot summer dress", "波点夏日连衣裙", "dress", "women", "dotted", 0.1,
     ["beach", "casual", "party"], 59.0, ["navy", "red", "yellow"],
     {"chest_cm": 92, "waist_cm": 80, "hips_cm": 110, "length_cm": 100, "sleeve_length_cm": 15}, 2.0),
    ("skirt-pencil", "Pencil skirt", "铅笔裙", "skirt", "women", "solid", 0.2,
     ["work", "formal"], 49.0, ["black", "grey", "navy"],
     {"waist_cm": 72, "hips_cm": 98, "length_cm": 60}, 1.0),
    ("skirt-pleated", "Pleated midi skirt", "百褶中长裙", "skirt", "women", "solid", 0.05,
     ["party", "wedding", "casual"], 55.0, ["beige", "green", "pink", "black"],
     {"waist_cm": 72, "hips_cm": 120, "length_cm": 75}, 1.0),
    ("skirt-check", "Checked A-line skirt", "格纹A字裙", "skirt", "women", "checked", 0.05,
     ["casual", "work"], 45.0, ["red", "grey", "brown"],
     {"waist_cm": 74, "hips_cm": 108, "length_cm": 50}, 1.0),
    ("trousers-chino", "Slim chinos", "修身卡其裤", "trousers", "men", "solid", 0.1,
     ["work", "casual"], 49.0, ["beige", "navy", "green", "black"],
     {"waist_cm": 84, "hips_cm": 102, "inseam_cm": 81, "thigh_cm": 60}, 0.0),
    ("trousers-wide", "Wide-leg trousers", "阔腿裤", "trousers", "women", "solid", 0.05,
     ["work", "party", "evening"], 59.0, ["black", "white", "beige"],
     {"waist_cm": 72, "hips_cm": 104, "inseam_cm": 78, "thigh_cm": 66}, 0.0),
    ("jeans-straight", "Straight-leg jeans", "直筒牛仔裤", "jeans", "men", "denim", 0.1,
     ["casual", "travel"], 59.0, ["blue", "black", "grey"],
     {"waist_cm": 86, "hips_cm": 102, "inseam_cm": 81, "thigh_cm": 60}, 0.0),
    ("jeans-skinny", "Skinny stretch jeans", "弹力紧身牛仔裤", "jeans", "women", "denim", 0.5,
     ["casual", "party"], 54.0, ["blue", "black", "white"],
     {"waist_cm": 72, "hips_cm": 94, "inseam_cm": 78, "thigh_cm": 52}, 0.0),
    ("shorts-chino", "Chino shorts", "卡其短裤", "shorts", "men", "solid", 0.05,
     ["casual", "beach", "travel"], 34.0, ["beige", "navy", "green", "white"],
     {"waist_cm": 86, "hips_cm": 104, "inseam_cm": 20, "thigh_cm": 62}, 0.0),
    ("shorts-run", "Running shorts", "跑步短裤", "shorts", "unisex", "solid", 0.6,
     ["sport", "beach"], 24.0, ["black", "blue", "red", "purple"],
     {"waist_cm": 78, "hips_cm": 104, "inseam_cm": 12, "thigh_cm": 64}, 0.0),
]  # fmt: skip


def _grade(base: dict[str, float], size: str, length_step: float) -> SizeMeasurements:
    g, k = GIRTH_STEP_CM[size], LENGTH_STEP[size]
    m = {}
    for f, v in base.items():
        if f in ("chest_cm", "waist_cm", "hips_cm"):
            m[f] = v + g
        elif f == "thigh_cm":
            m[f] = v + g * 0.6
        elif f == "length_cm":
            m[f] = v + k * length_step
        elif f == "sleeve_length_cm":
            m[f] = v + (k if v > 0 else 0)
        else:  # inseam: regular leg length for every size
            m[f] = v
    return SizeMeasurements(**{f: round(v, 1) for f, v in m.items()})


@functools.cache
def demo_products() -> tuple[Product, ...]:
    out = []
    for pid, name, zh, cat, gender, pattern, stretch, occ, price, colors, base, lstep in _SPECS:
        out.append(
            Product(
                id=pid,
                name=name,
                name_i18n={"zh": zh},
                category=cat,
                gender=gender,
                brand="fitmirror demo",
                colors=[ColorVariant(name=c, rgb=PALETTE[c]) for c in colors],
                pattern=pattern,
                stretch=stretch,
                occasions=occ,
                price=price,
                currency="EUR",
                photos=[f"demo://{pid}/{c}.png" for c in colors],
                measurement_kind="garment",
                size_chart={s: _grade(base, s, lstep) for s in SIZES},
            )
        )
    return tuple(out)


def demo_product(pid: str) -> Product:
    for p in demo_products():
        if p.id == pid:
            return p
    from fitmirror.errors import NotFoundError

    raise NotFoundError(f"no demo product {pid!r}")


def _hex_rgb(h: str) -> np.ndarray:
    return np.array([int(h[i : i + 2], 16) for i in (1, 3, 5)], np.float32)


def _contrast(rgb: np.ndarray) -> np.ndarray:
    lum = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.full(3, 245.0 if lum < 140 else 35.0, np.float32)


def fabric_texture(pattern: str, rgb_hex: str, size_px: int = 256, seed: int | str = 0) -> np.ndarray:
    """A tileable HxWx3 uint8 fabric texture for a pattern in a base colour (one repeat = the whole tile).

    Deterministic per (pattern, colour, seed): the same product always looks the same. Cached, so the array is
    read-only and shared: a garment shown again (a pre-draped product, a colour change) skips the 4-6 ms of making
    it on the frame it appears, and the renderer and the render process see the tile they already hold."""
    return _fabric_texture_cached(pattern, rgb_hex, size_px, seed)


@functools.lru_cache(maxsize=128)  # 128 tiles of 256 px: 25 MB (the demo catalogue has ~90 colour variants)
def _fabric_texture_cached(pattern: str, rgb_hex: str, size_px: int, seed: int | str) -> np.ndarray:
    img = _make_fabric_texture(pattern, rgb_hex, size_px, seed)
    img.flags.writeable = False
    return img


def _make_fabric_texture(pattern: str, rgb_hex: str, size_px: int, seed: int | str) -> np.ndarray:
    n = size_px
    h = int(hashlib.sha1(f"{pattern}{rgb_hex}{seed}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(h)
    base = _hex_rgb(rgb_hex)
    acc = _contrast(base)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n  # [0,1) so periodic functions of 2*pi*k*x tile
    img = np.broadcast_to(base, (n, n, 3)).copy()
    if pattern == "striped":
        period = 8
        m = (np.sin(2 * np.pi * period * y) > 0.3).astype(np.float32)[..., None]
        img = img * (1 - m) + acc * m
    elif pattern == "checked":
        k = 6
        a = (np.sin(2 * np.pi * k * x) > 0.2).astype(np.float32)
        b = (np.sin(2 * np.pi * k * y) > 0.2).astype(np.float32)
        dark = base * 0.45
        light = np.clip(base * 0.5 + acc * 0.5, 0, 255)
        img = base * (1 - a[..., None]) * (1 - b[..., None])
        img = img + light * (a * (1 - b))[..., None] + light * ((1 - a) * b)[..., None] + dark * (a * b)[..., None]
        thin = (np.abs(np.sin(2 * np.pi * k * 2 * x)) < 0.06) | (np.abs(np.sin(2 * np.pi * k * 2 * y)) < 0.06)
        img[thin] = acc * 0.7 + base * 0.3
    elif pattern == "dotted":
        k = 8
        gx, gy = (x * k) % 1.0 - 0.5, (y * k) % 1.0 - 0.5
        m = ((gx**2 + gy**2) < 0.18**2).astype(np.float32)[..., None]
        img = img * (1 - m) + acc * m
    elif pattern == "floral":
        # Five-petal flowers on a periodic grid with jittered phases; petals from a polar rose r = cos(5θ/2).
        k = 4
        cells = rng.uniform(-0.15, 0.15, (k, k, 2))
        flower = np.zeros((n, n), np.float32)
        centre = np.zeros((n, n), np.float32)
        ci, cj = (y * k).astype(int) % k, (x * k).astype(int) % k
        fx = (x * k) % 1.0 - 0.5 - cells[ci, cj, 0]
        fy = (y * k) % 1.0 - 0.5 - cells[ci, cj, 1]
        r, th = np.hypot(fx, fy), np.arctan2(fy, fx)
        flower = (r < 0.32 * np.abs(np.cos(2.5 * th))).astype(np.float32)
        centre = (r < 0.07).astype(np.float32)
        petal = np.clip(acc * 0.6 + np.array([230, 120, 150], np.float32) * 0.4, 0, 255)
        leaf_x, leaf_y = fx - 0.3, fy + 0.3
        leaf = ((leaf_x / 0.12) ** 2 + (leaf_y / 0.05) ** 2 < 1).astype(np.float32)
        img = img * (1 - flower[..., None]) + petal * flower[..., None]
        img = img * (1 - leaf[..., None]) + np.array([70, 120, 60], np.float32) * leaf[..., None]
        img = img * (1 - centre[..., None]) + np.array([240, 200, 60], np.float32) * centre[..., None]
    elif pattern == "denim":
        # 3/1 twill: diagonal ribs plus periodic noise; white weft shows through.
        rib = 0.5 + 0.5 * np.sin(2 * np.pi * 48 * (x + y))
        noise = sum(
            rng.uniform(0.02, 0.05)
            * np.sin(2 * np.pi * (rng.integers(1, 40) * x + rng.integers(1, 40) * y + rng.random()))
            for _ in range(12)
        )
        f = (0.82 + 0.14 * rib + noise)[..., None]
        img = np.clip(base * f + 255 * 0.08 * (1 - rib[..., None]), 0, 255)
    elif pattern == "knit":
        # Stockinette: rows of V stitches.
        k = 24
        v = np.abs(((x * k) % 1.0) - 0.5) * 2
        row = (y * k * 1.5) % 1.0
        m = np.cos(np.pi * (row - v * 0.5)) ** 2
        img = base * (0.78 + 0.22 * m[..., None])
    elif pattern == "print":
        k = 3
        m = (np.sin(2 * np.pi * k * x) * np.sin(2 * np.pi * k * y) > 0.5).astype(np.float32)[..., None]
        img = img * (1 - m) + acc * m
    # Subtle periodic weave for every fabric so flat colours read as cloth.
    weave = 1.0 + 0.035 * np.sin(2 * np.pi * 128 * x) * np.sin(2 * np.pi * 128 * y)
    return np.clip(img * weave[..., None], 0, 255).astype(np.uint8)


def product_texture(product: Product, color: str | None = None, size_px: int = 256) -> np.ndarray:
    c = product.color(color)
    return fabric_texture(product.pattern, c.rgb, size_px, seed=product.id)
