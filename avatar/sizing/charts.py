"""Demo size charts (our own, generated for the demo; XS..XXL) and the ease each garment is designed with.

A chart is a plain dict {size label: {measure_cm: value}} so it works before and without the catalogue.
`kind="body"` charts (the usual retail kind) give the body measurement a size is made for; `kind="garment"`
charts give the finished garment's measurement. Measures: chest_cm, waist_cm, hips_cm, inseam_cm.
"""

from __future__ import annotations

from fitmirror.vocab import DEMO_SIZES

SIZES = DEMO_SIZES  # XS..XXL, a slice of the vocabulary's sizes (fitmirror/vocab.py)

# Body charts (cm). Values are typical of EU/US high-street charts; authored for this project.
DEMO_CHARTS: dict[str, dict[str, dict[str, float]]] = {
    "tshirt": {  # straight cut: the garment's waist is as wide as its chest
        "XS": {"chest_cm": 84, "waist_cm": 86},
        "S": {"chest_cm": 91, "waist_cm": 93},
        "M": {"chest_cm": 98, "waist_cm": 100},
        "L": {"chest_cm": 106, "waist_cm": 108},
        "XL": {"chest_cm": 114, "waist_cm": 116},
        "XXL": {"chest_cm": 123, "waist_cm": 125},
    },
    "dress": {  # waist graded to measured proportions (ANSUR II women: waist about chest - 10 cm)
        "XS": {"chest_cm": 81, "waist_cm": 68, "hips_cm": 90},
        "S": {"chest_cm": 86, "waist_cm": 73, "hips_cm": 95},
        "M": {"chest_cm": 92, "waist_cm": 79, "hips_cm": 101},
        "L": {"chest_cm": 99, "waist_cm": 86, "hips_cm": 107},
        "XL": {"chest_cm": 106, "waist_cm": 94, "hips_cm": 114},
        "XXL": {"chest_cm": 114, "waist_cm": 103, "hips_cm": 122},
    },
    "trousers": {
        "XS": {"waist_cm": 68, "hips_cm": 88, "inseam_cm": 78},
        "S": {"waist_cm": 75, "hips_cm": 94, "inseam_cm": 79},
        "M": {"waist_cm": 82, "hips_cm": 100, "inseam_cm": 80},
        "L": {"waist_cm": 90, "hips_cm": 106, "inseam_cm": 81},
        "XL": {"waist_cm": 99, "hips_cm": 113, "inseam_cm": 82},
        "XXL": {"waist_cm": 108, "hips_cm": 120, "inseam_cm": 83},
    },
}

# Design ease (garment minus body, cm) at the chart's body measurement, regular fit.
DESIGN_EASE_CM: dict[str, dict[str, float]] = {
    "tshirt": {"chest_cm": 10.0, "waist_cm": 12.0, "hips_cm": 10.0, "inseam_cm": 0.0},
    "dress": {"chest_cm": 5.0, "waist_cm": 4.0, "hips_cm": 6.0, "inseam_cm": 0.0},
    "trousers": {"chest_cm": 0.0, "waist_cm": 2.0, "hips_cm": 6.0, "inseam_cm": 0.0},
}
# Categories the learned data uses, mapped onto the three ease profiles above.
CATEGORY_PROFILE: dict[str, str] = {
    "tshirt": "tshirt",
    "t-shirt": "tshirt",
    "top": "tshirt",
    "shirt": "tshirt",
    "blouse": "tshirt",
    "sweater": "tshirt",
    "jacket": "tshirt",
    "coat": "tshirt",
    "dress": "dress",
    "gown": "dress",
    "sheath": "dress",
    "shift": "dress",
    "maxi": "dress",
    "mini": "dress",
    "jumpsuit": "dress",
    "romper": "dress",
    "trousers": "trousers",
    "pants": "trousers",
    "jeans": "trousers",
    "skirt": "trousers",
    "shorts": "trousers",
    "leggings": "trousers",
}
# Which regions decide whether a size fits (others are reported, e.g. inseam can be hemmed).
PRIMARY_REGIONS: dict[str, tuple[str, ...]] = {
    "tshirt": ("chest_cm", "waist_cm", "hips_cm"),
    "dress": ("chest_cm", "waist_cm", "hips_cm"),
    "trousers": ("waist_cm", "hips_cm"),
}
# Regions where too much ease is a misfit; elsewhere extra width is the cut (a straight tee's waist, a flared
# skirt's hips, wide-leg trousers' hips) and only tightness counts.
LOOSE_MATTERS: dict[str, tuple[str, ...]] = {
    "tshirt": ("chest_cm",),
    "dress": ("chest_cm", "waist_cm"),
    "trousers": ("waist_cm",),
}
# Categories whose inseam is a full leg length worth comparing with the body's.
FULL_LEG = ("trousers", "jeans", "pants", "leggings")


def design_ease(category: str) -> dict[str, float]:
    """Regular-fit ease per region: the catalogue's standard ease for its categories, else our profile's."""
    from fitmirror.catalog import STANDARD_EASE_CM

    base = dict(DESIGN_EASE_CM[profile_for(category)])
    base.update({k: float(v) for k, v in STANDARD_EASE_CM.get(category.strip().lower(), {}).items()})
    return base


def primary_regions(category: str) -> tuple[str, ...]:
    return PRIMARY_REGIONS[profile_for(category)]


def loose_matters(category: str) -> tuple[str, ...]:
    return LOOSE_MATTERS[profile_for(category)]


def profile_for(category: str) -> str:
    """The ease profile for a category name; unknown categories use the dress profile (closest-fitting)."""
    return CATEGORY_PROFILE.get(category.strip().lower(), "dress")


def demo_chart(category: str) -> dict[str, dict[str, float]]:
    return {k: dict(v) for k, v in DEMO_CHARTS[profile_for(category)].items()}
