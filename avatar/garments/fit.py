"""Fit map: per-region ease (garment measure minus body measure), per-vertex tight/good/loose colours and a
compact summary ("M: chest 4 cm ease, waist tight by 1 cm") in English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitmirror.catalog import LEGGED, Product

from .build import REGIONS, CutGarment

TIGHT_RGB = np.array([0.85, 0.12, 0.10], np.float32)
GOOD_RGB = np.array([0.15, 0.70, 0.25], np.float32)
LOOSE_RGB = np.array([0.15, 0.35, 0.90], np.float32)

REGION_ZH = {"chest": "胸围", "waist": "腰围", "hips": "臀围", "thigh": "大腿", "sleeves": "袖长", "length": "长度"}
STATUS_ZH = {"tight": "偏紧", "good": "合适", "loose": "偏松", "short": "偏短", "long": "偏长"}


def good_range_cm(product: Product, region: str) -> tuple[float, float]:
    """The ease (cm) that reads as a good fit for this product and region; stretch fabric may be smaller."""
    cat, st = product.category, product.stretch
    is_top = cat not in ("skirt", *LEGGED)
    if region == "chest":
        return 2.0 - 12.0 * st, {"coat": 38.0, "jacket": 28.0, "sweater": 28.0}.get(cat, 24.0)
    if region == "waist":
        return (0.0 - 12.0 * st, 40.0) if is_top else (-1.0 - 8.0 * st, 7.0)
    if region == "hips":
        if is_top and cat not in ("dress", "coat"):
            return -2.0 - 10.0 * st, 40.0
        return 0.0 - 10.0 * st, 50.0 if cat in ("skirt", "dress", "coat") else 16.0
    if region == "thigh":
        return 0.0 - 10.0 * st, 18.0
    if region == "sleeves":
        return -4.0, 5.0
    if region == "length":
        return (-4.0, 4.0) if cat in ("trousers", "jeans") else (-12.0, 22.0)
    return -1e9, 1e9


@dataclass
class RegionFit:
    region: str
    ease_cm: float
    status: str  # tight | good | loose (length/sleeves: short | good | long)


@dataclass
class FitSummary:
    product_id: str
    size: str
    regions: list[RegionFit] = field(default_factory=list)

    @property
    def overall(self) -> str:
        st = {r.status for r in self.regions}
        return "tight" if "tight" in st else "loose" if "loose" in st else "good"

    def ease(self, region: str) -> float | None:
        for r in self.regions:
            if r.region == region:
                return r.ease_cm
        return None

    def text(self, lang: str = "en") -> str:
        parts = []
        for r in self.regions:
            e = round(r.ease_cm)
            if lang == "zh":
                name = REGION_ZH[r.region]
                if r.region in ("length", "sleeves"):
                    parts.append(f"{name}{STATUS_ZH[r.status]}" + (f"({e:+d}厘米)" if r.status != "good" else ""))
                elif r.status == "tight" and e < 0:
                    parts.append(f"{name}紧{-e}厘米")
                elif r.status == "good":
                    parts.append(f"{name}余量{e}厘米")
                else:
                    parts.append(f"{name}{STATUS_ZH[r.status]}(余量{e}厘米)")
            else:
                if r.region in ("length", "sleeves"):
                    parts.append(f"{r.region} {r.status}" + (f" ({e:+d} cm)" if r.status != "good" else ""))
                elif r.status == "tight" and e < 0:
                    parts.append(f"{r.region} tight by {-e} cm")
                elif r.status == "good":
                    parts.append(f"{r.region} {e} cm ease")
                else:
                    parts.append(f"{r.region} {r.status} ({e} cm ease)")
        sep = "，" if lang == "zh" else ", "
        head = f"{self.size}码：" if lang == "zh" else f"{self.size}: "
        return head + sep.join(parts)

    def to_dict(self) -> dict:
        return {
            "product_id": self.product_id,
            "size": self.size,
            "overall": self.overall,
            "regions": [r.__dict__ for r in self.regions],
            "text": {"en": self.text("en"), "zh": self.text("zh")},
        }


def summarise(g: CutGarment) -> FitSummary:
    out = FitSummary(g.product.id, g.size)
    for region in REGIONS:
        if region not in g.ease_cm:
            continue
        e = g.ease_cm[region]
        lo, hi = good_range_cm(g.product, region)
        if region in ("length", "sleeves"):
            status = "short" if e < lo else "long" if e > hi else "good"
        else:
            status = "tight" if e < lo else "loose" if e > hi else "good"
        out.regions.append(RegionFit(region, round(float(e), 1), status))
    return out


def ease_colors(ease_cm: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Red below `lo` (fully red 4 cm under), green inside [lo, hi], blue above `hi` (fully blue 8 cm over)."""
    t_tight = np.clip((lo - ease_cm) / 4.0, 0, 1)[:, None]
    t_loose = np.clip((ease_cm - hi) / 8.0, 0, 1)[:, None]
    c = GOOD_RGB * (1 - t_tight) + TIGHT_RGB * t_tight
    return (c * (1 - t_loose) + LOOSE_RGB * t_loose).astype(np.float32)


def vertex_fit_colors(g: CutGarment, vertex_ease_cm: np.ndarray) -> np.ndarray:
    lo = np.empty(len(vertex_ease_cm), np.float32)
    hi = np.empty(len(vertex_ease_cm), np.float32)
    for i, region in enumerate(REGIONS):
        m = g.region == i
        r = "hips" if region == "length" else region
        lo[m], hi[m] = good_range_cm(g.product, r)
    return ease_colors(vertex_ease_cm, lo, hi)
