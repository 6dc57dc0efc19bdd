"""Size recommendation: chart-based ease per body region, corrected by learned fit feedback.

(a) For each size of the chart, the garment measurement minus the body measurement (ease) per region is
compared with the ease the shopper wants (garment design ease + snug/regular/loose shift); fabric stretch
lets a region be tighter before it counts as too tight. (b) When other buyers' feedback says the item runs
small or large (the learned model's per-item statistics), the effective ease is shifted by up to about one
size step. The result says which size, how sure, and why, in English or Chinese.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from avatar.sizing.charts import FULL_LEG, design_ease, loose_matters, primary_regions, profile_for
from fitmirror.errors import ImplausibleMeasurementError, InputError

Preference = Literal["snug", "regular", "loose"]
PREFERENCES: tuple[str, ...] = ("snug", "regular", "loose")
LANGS: tuple[str, ...] = ("en", "zh")
REGIONS: tuple[str, ...] = ("chest_cm", "waist_cm", "hips_cm", "inseam_cm")
GIRTHS: tuple[str, ...] = ("chest_cm", "waist_cm", "hips_cm")
PREF_SHIFT_CM: dict[str, float] = {"snug": -3.0, "regular": 0.0, "loose": 5.0}
TOL_TIGHT_CM = 4.0  # how far under the wanted ease a region may be and still fit
TOL_LOOSE_CM = 5.0  # ... and how far over
STRETCH_GIVE = 0.08  # stretch 1.0 (very elastic knit) lets a girth be 8 % of the body tighter
CONFIDENCE_SCALE = 0.6  # penalty -> log-odds; calibrated so a neighbouring size keeps some mass
TIGHT_WEIGHT = 1.5  # too tight is worse than too loose (you cannot wear it)
RUNS_CM_PER_UNIT = 20.0  # ease shift per unit of (p_small - p_large) net feedback
MAX_FEEDBACK_SHIFT_CM = 6.0  # about one size step
FEEDBACK_PRIOR_N = 20.0  # shrink feedback from few buyers
GLOBAL_NET = 0.134 - 0.128  # RTR: share small minus share large over all rentals
PLAUSIBLE_CM: dict[str, tuple[float, float]] = {  # ANSUR II extremes, widened
    "height_cm": (120.0, 230.0),
    "weight_kg": (30.0, 250.0),
    "chest_cm": (60.0, 180.0),
    "waist_cm": (45.0, 180.0),
    "hips_cm": (60.0, 190.0),
    "inseam_cm": (50.0, 110.0),
}
REGION_NAMES = {
    "en": {"chest_cm": "chest", "waist_cm": "waist", "hips_cm": "hips", "inseam_cm": "inseam"},
    "zh": {"chest_cm": "胸围", "waist_cm": "腰围", "hips_cm": "臀围", "inseam_cm": "内长"},
}
CATEGORY_ZH = {"dress": "连衣裙", "tshirt": "T恤", "trousers": "裤子", "gown": "礼服", "top": "上衣"}


@dataclass
class FitFeedback:
    """What other buyers (and this shopper's history) say, e.g. from `FitModel.item_feedback`."""

    p_small: float  # share of buyers who found the item too small
    p_large: float  # ... too large
    n: int  # how many reviews that is based on
    user_usual_size: str | None = None  # this shopper's usual size on this chart, if known

    def runs(self) -> float:
        """Shrunk net 'runs small' score: > 0 runs small, < 0 runs large."""
        net = (self.p_small - self.p_large) - GLOBAL_NET
        return net * self.n / (self.n + FEEDBACK_PRIOR_N)


@dataclass
class RegionEase:
    region: str  # e.g. "chest_cm"
    body_cm: float
    garment_cm: float
    ease_cm: float  # garment minus body, after the feedback shift
    wanted_cm: float  # design ease + preference
    verdict: str  # "ok", "tight" or "loose"


@dataclass
class SizeOption:
    size: str
    probability: float
    fits: bool
    regions: list[RegionEase]


@dataclass
class SizeAdvice:
    size: str
    confidence: float
    regions: list[RegionEase]
    reason: str
    alternatives: list[SizeOption]
    chart_size: str  # what the chart alone would pick
    feedback_shift_cm: float = 0.0
    lang: str = "en"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ease_cm(self) -> dict[str, float]:
        return {r.region: round(r.ease_cm, 1) for r in self.regions}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ease_cm"] = self.ease_cm
        d["confidence"] = round(self.confidence, 3)
        for o in d["alternatives"]:
            o["probability"] = round(o["probability"], 3)
        return d


def validate_body(body: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in body.items():
        if v is None:
            continue
        if k not in PLAUSIBLE_CM:
            continue  # other measurements (shoulder, arm) are allowed and ignored here
        try:
            x = float(v)
        except (TypeError, ValueError) as e:
            raise InputError(f"measurement {k} must be a number, got {v!r}") from e
        lo, hi = PLAUSIBLE_CM[k]
        if not (lo <= x <= hi) or math.isnan(x):
            raise ImplausibleMeasurementError(f"{k}={x:g} is outside the plausible range {lo:g}..{hi:g}")
        out[k] = x
    return out


def validate_chart(chart: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    if not isinstance(chart, dict) or not chart:
        raise InputError("size chart must be a non-empty object {size: {measure_cm: value}}")
    out: dict[str, dict[str, float]] = {}
    for size, meas in chart.items():
        if not isinstance(meas, dict):
            raise InputError(f"size chart entry {size!r} must be an object of measurements in cm")
        m = {}
        for k, v in meas.items():
            if k in REGIONS:
                try:
                    m[k] = float(v)
                except (TypeError, ValueError) as e:
                    raise InputError(f"size chart {size}.{k} must be a number, got {v!r}") from e
        if not m:
            raise InputError(f"size chart entry {size!r} has none of {', '.join(REGIONS)}")
        out[str(size)] = m
    return out


def _softmax(xs: list[float]) -> list[float]:
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    s = sum(e)
    return [v / s for v in e]


def _evaluate_size(
    body: dict[str, float],
    meas: dict[str, float],
    category: str,
    preference: str,
    stretch: float,
    chart_kind: str,
    shift_cm: float,
) -> tuple[float, bool, list[RegionEase]]:
    design = design_ease(category)
    primary = primary_regions(category)
    penalty, fits, regions = 0.0, True, []
    loose_ok = set(REGIONS) - set(loose_matters(category)) - {"inseam_cm"}
    for region in REGIONS:
        if region not in meas or region not in body:
            continue
        if region == "inseam_cm" and category.strip().lower() not in FULL_LEG:
            continue  # shorts and skirts: their inseam is not meant to reach the ankle
        b = body[region]
        garment = meas[region] + (design.get(region, 0.0) if chart_kind == "body" else 0.0)
        girth = region in GIRTHS
        ease = garment - b + (shift_cm if girth else 0.0)
        wanted = design.get(region, 0.0) + (PREF_SHIFT_CM[preference] if girth else 0.0)
        give = STRETCH_GIVE * stretch * b if girth else 0.0  # a stretchy fabric can be worn tighter
        d = ease - wanted
        lo, hi = -(TOL_TIGHT_CM + give), TOL_LOOSE_CM if girth else 3.0
        w = 1.0 if region in primary else 0.3
        if d < 0:
            penalty += w * TIGHT_WEIGHT * (d / (TOL_TIGHT_CM + give)) ** 2
        elif region not in loose_ok:
            penalty += w * (d / TOL_LOOSE_CM) ** 2
        verdict = "tight" if d < lo else "loose" if d > hi and region not in loose_ok else "ok"
        if region in primary and verdict != "ok":
            fits = False
        regions.append(RegionEase(region, b, garment, ease, wanted, verdict))
    return penalty, fits, regions


def recommend_size(
    body: dict[str, float],
    chart: dict[str, dict[str, float]],
    category: str = "dress",
    stretch: float = 0.0,
    preference: str = "regular",
    lang: str = "en",
    item_feedback: FitFeedback | None = None,
    chart_kind: Literal["body", "garment"] = "body",
) -> SizeAdvice:
    """Pick a size from `chart` for `body` (cm/kg). `stretch`: 0 rigid woven .. 1 very elastic knit (catalogue
    scale). `chart_kind="body"` charts get the category's design ease added to become garment measurements."""
    if preference not in PREFERENCES:
        raise InputError(f"preference must be one of {', '.join(PREFERENCES)}, got {preference!r}")
    if lang not in LANGS:
        raise InputError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    if chart_kind not in ("body", "garment"):
        raise InputError(f"chart_kind must be body or garment, got {chart_kind!r}")
    try:
        stretch = float(stretch)
    except (TypeError, ValueError) as e:
        raise InputError(f"stretch must be a number between 0 and 1, got {stretch!r}") from e
    if not 0.0 <= stretch <= 1.0:
        raise InputError(f"stretch must be between 0 (rigid) and 1 (very elastic), got {stretch:g}")
    body = validate_body(body)
    chart = validate_chart(chart)
    profile = profile_for(category)
    shared = {r for m in chart.values() for r in m} & set(body)
    if not shared:
        need = ", ".join(primary_regions(category))
        raise InputError(
            f"no body measurement matches the size chart; a {category} needs {need}",
            hint="give chest_cm / waist_cm / hips_cm (tape measure or the avatar's estimate)",
        )

    def pick(shift: float) -> tuple[list[SizeOption], int]:
        opts, scores = [], []
        for size, meas in chart.items():
            pen, fits, regions = _evaluate_size(body, meas, category, preference, stretch, chart_kind, shift)
            if item_feedback and item_feedback.user_usual_size == size:
                pen -= 0.3  # the shopper's own history is a mild tie-breaker
            opts.append(SizeOption(size, 0.0, fits, regions))
            scores.append(-CONFIDENCE_SCALE * pen)
        for o, p in zip(opts, _softmax(scores), strict=True):
            o.probability = p
        best = max(range(len(opts)), key=lambda i: opts[i].probability)
        return opts, best

    base_opts, base_best = pick(0.0)
    shift = 0.0
    if item_feedback is not None and item_feedback.n > 0:
        shift = -max(-MAX_FEEDBACK_SHIFT_CM, min(MAX_FEEDBACK_SHIFT_CM, RUNS_CM_PER_UNIT * item_feedback.runs()))
    opts, best = pick(shift) if shift else (base_opts, base_best)
    chosen = opts[best]
    reason = _reason(lang, category, profile, base_opts[base_best], chosen, item_feedback, shift, preference, stretch)
    return SizeAdvice(
        size=chosen.size,
        confidence=chosen.probability,
        regions=chosen.regions,
        reason=reason,
        alternatives=sorted(opts, key=lambda o: -o.probability),
        chart_size=base_opts[base_best].size,
        feedback_shift_cm=round(shift, 1),
        lang=lang,
    )


def _region_phrase(lang: str, r: RegionEase, stretch: float) -> str:
    name = REGION_NAMES[lang][r.region]
    e = round(r.ease_cm)
    if r.region == "inseam_cm":
        if lang == "zh":
            return f"{name}{'长' if e > 0 else '短'}{abs(e)}厘米" if e else f"{name}正好"
        return f"{name} {abs(e)} cm {'long' if e > 0 else 'short'}" if e else f"{name} just right"
    if lang == "zh":
        if e < 0:
            return f"{name}紧{-e}厘米" + ("（面料有弹性）" if stretch > 0 and r.verdict == "ok" else "")
        return f"{name}宽松{e}厘米" if r.verdict == "loose" else f"{name}有{e}厘米余量"
    if e < 0:
        return f"{name} {-e} cm tight" + (" (the stretch fabric gives)" if stretch > 0 and r.verdict == "ok" else "")
    verb = "fit" if r.region == "hips_cm" else "fits"
    return f"{name} {e} cm loose" if r.verdict == "loose" else f"{name} {verb} with {e} cm ease"


def _reason(
    lang: str,
    category: str,
    profile: str,
    base: SizeOption,
    chosen: SizeOption,
    fb: FitFeedback | None,
    shift: float,
    preference: str,
    stretch: float,
) -> str:
    # describe the chart pick's regions as they are (without the feedback shift)
    parts = [_region_phrase(lang, r, stretch) for r in base.regions]
    cat_zh = CATEGORY_ZH.get(category.lower(), CATEGORY_ZH.get(profile, "这件"))
    runs = fb.runs() if fb else 0.0
    if lang == "zh":
        text = f"{base.size}：" + "，".join(parts)
        if fb and abs(shift) >= 1.0:
            text += f"，其他买家反馈这款{cat_zh}偏{'小' if runs > 0 else '大'}"
            if chosen.size != base.size:
                text += f"，所以选{chosen.size}更稳妥"
            else:
                text += f"，{chosen.size}仍然合适"
        elif fb and fb.n >= 5:
            text += "，其他买家反馈尺码标准"
        if not chosen.fits:
            text += "（没有完全合身的尺码，这是最接近的）"
        return text + "。"
    text = f"{base.size}: " + ", ".join(parts)
    cat = category.lower()
    if fb and abs(shift) >= 1.0:
        text += f", this {cat} runs {'small' if runs > 0 else 'large'} according to other buyers"
        if chosen.size != base.size:
            text += f", so {chosen.size} is safer"
        else:
            text += f", {chosen.size} still works"
    elif fb and fb.n >= 5:
        text += ", and other buyers say it fits true to size"
    if preference != "regular":
        text += f" (for a {preference} fit)"
    if not chosen.fits:
        text += "; no size fits everywhere, this is the closest"
    return text + "."
