"""One entry point for size advice from a request dict (used by the CLI and POST /api/size-advice).

Request: {measurements: {height_cm, weight_kg, chest_cm, waist_cm, hips_cm, inseam_cm, ...},
size_chart: {size: {measure_cm: v}} | product_id, category, stretch, preference, lang, chart_kind, user_id}.
- With a size chart, or a catalogue product (its chart, category and stretch): chart-based ease advice; when the
  product id is also a RentTheRunway item the learned model knows, its buyers' feedback corrects the ease.
- With only a RentTheRunway item id: the learned model scores each size the item comes in for this person.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from avatar.sizing.recommend import FitFeedback, SizeAdvice, recommend_size, validate_body
from fitmirror.errors import InputError, ModelUnavailableError, NotFoundError

TYPICAL_WINDOW = 5.0  # RTR size units around the body-predicted size that the learned model is trusted in
PREFERENCE_WEIGHT = 0.4  # how much a snug (loose) preference counts a "small" ("large") outcome as acceptable


# a body or chart value: finite and within what a tape measure or scale can show (NaN or 1e308 is an input error)
Measure = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


class SizeAdviceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measurements: dict[str, Measure] = Field(description="Body measurements in cm / kg.", max_length=16)
    size_chart: dict[str, dict[str, Measure]] | None = Field(None, max_length=32)
    product_id: str | int | None = None
    category: str | None = None
    stretch: float | None = Field(None, ge=0.0, le=1.0)
    preference: Literal["snug", "regular", "loose"] = "regular"
    lang: Literal["en", "zh"] = "en"
    chart_kind: Literal["body", "garment"] = "body"
    user_id: int | None = None


@functools.lru_cache(maxsize=2)
def _load_model(path: str):
    from avatar.sizing.model import FitModel

    return FitModel.load(path)


def get_model(model_dir: Path | str | None = None, *, required: bool = False):
    """The trained fit model, cached per path; None when absent and not required."""
    from fitmirror.config import get_settings

    d = Path(model_dir) if model_dir else get_settings().size_model_path
    try:
        return _load_model(str(d))
    except ModelUnavailableError:
        if required:
            raise
        return None


def _catalog_product(pid: str, lookup: Callable[[str], Any] | None):
    """A catalogue Product from the shop's catalogue (lookup), or from the built-in demo catalogue when there is
    none (the CLI); None if unknown. A shop's missing product is unknown, never a demo product of the same id."""
    if lookup is not None:
        try:
            return lookup(pid)
        except NotFoundError:
            return None
    from fitmirror.demo_catalog import demo_product

    try:
        return demo_product(pid)
    except NotFoundError:
        return None


def chart_from_product(product: Any) -> tuple[dict[str, dict[str, float]], str, float, str]:
    """(chart, category, stretch, chart_kind) from a fitmirror.catalog.Product (or a dict of the same shape)."""
    if isinstance(product, dict):
        from fitmirror.catalog import Product

        product = Product.model_validate(product)
    chart = {size: m.present() for size, m in product.size_chart.items()}
    return chart, product.category, float(product.stretch), product.measurement_kind


def _rtr_item_id(pid: str | int | None) -> int | None:
    if pid is None:
        return None
    try:
        return int(str(pid))
    except ValueError:
        return None


def advise(
    request: dict[str, Any], model_dir: Path | str | None = None, product_lookup: Callable | None = None
) -> dict[str, Any]:
    """Validate a request dict and return the advice as JSON-ready dict (raises InputError/NotFoundError)."""
    try:
        req = SizeAdviceRequest.model_validate(request)
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in e.errors())
        raise InputError(f"bad size-advice request: {msgs}") from e
    body = validate_body(req.measurements)
    if not body:
        raise InputError("measurements are empty", hint="give e.g. chest_cm, waist_cm, hips_cm, height_cm, weight_kg")
    chart, category, stretch, kind = req.size_chart, req.category, req.stretch, req.chart_kind
    item_id = _rtr_item_id(req.product_id)
    if chart is None:
        if req.product_id is None:
            raise InputError("give either size_chart or product_id")
        product = _catalog_product(str(req.product_id), product_lookup)
        if product is not None:
            chart, p_cat, p_stretch, kind = chart_from_product(product)
            category = category or p_cat
            stretch = p_stretch if stretch is None else stretch
        elif item_id is None:
            raise NotFoundError(f"no product {req.product_id!r} in the catalogue")
    model = get_model(model_dir, required=chart is None)
    feedback = None
    if model is not None and item_id is not None:
        from avatar.sizing.model import item_feedback_stats

        st = item_feedback_stats(model, item_id)
        if st is not None:
            feedback = FitFeedback(p_small=st[0], p_large=st[1], n=st[2])
            category = category or model.meta.get("item_category", {}).get(str(item_id))
    if chart is None:
        if feedback is None:
            raise NotFoundError(f"no product {req.product_id!r} in the catalogue or the fit model's items")
        return model_advice(model, body, item_id, req.preference, req.lang, req.user_id, category or "dress")
    advice = recommend_size(
        body, chart, category or "dress", stretch or 0.0, req.preference, req.lang, feedback, chart_kind=kind
    )
    out = advice.to_dict()
    out["source"] = "chart+feedback" if feedback else "chart"
    return out


def model_advice(
    model, body: dict[str, float], item_id: int, preference: str, lang: str, user_id: int | None, category: str
) -> dict[str, Any]:
    """Learned-model advice for a RentTheRunway item: the size with the best fit probability for this person."""
    from avatar.sizing.model import score_item_sizes

    if not ({"height_cm", "weight_kg"} & set(body)):
        raise InputError("the learned model needs at least height_cm or weight_kg")
    p = score_item_sizes(model, body, item_id, user_id)
    w = PREFERENCE_WEIGHT
    util = p["fit"] + (w * p["small"] if preference == "snug" else 0) + (w * p["large"] if preference == "loose" else 0)
    util = util + 0.02 * (p["n_rentals"] >= 3)  # prefer sizes this item is actually rented in
    # The fit probabilities are learned from people who rented near their own size, so they are only trusted
    # near the size bodies like this one usually rent here (about one RTR size step, 4 units, either side).
    typical = float(p["typical_size"].iloc[0])
    near = (p.index.to_series() - typical).abs()
    cand = near[near <= TYPICAL_WINDOW].index
    if len(cand) == 0:
        cand = near.nsmallest(1).index
    best = int(util.loc[cand].idxmax())
    row = p.loc[best]
    sizes = list(p.index)
    i = sizes.index(best)
    smaller, larger = (sizes[i - 1] if i > 0 else None), (sizes[i + 1] if i + 1 < len(sizes) else None)
    pct = round(100 * row["fit"])
    if lang == "zh":
        reason = f"{best}码：与您身材相近的顾客中约{pct}%觉得合身"
        if smaller is not None:
            reason += f"，{smaller}码可能偏紧（{round(100 * p.loc[smaller, 'small'])}%）"
        if larger is not None:
            reason += f"，{larger}码可能偏松（{round(100 * p.loc[larger, 'large'])}%）"
        reason += "。"
    else:
        reason = f"{best}: about {pct}% of shoppers like you find it fits"
        if smaller is not None:
            reason += f"; {smaller} is likely small ({round(100 * p.loc[smaller, 'small'])}%)"
        if larger is not None:
            reason += f"; {larger} is likely large ({round(100 * p.loc[larger, 'large'])}%)"
        reason += "."
    alts = [
        {
            "size": str(s),
            "probability": round(float(p.loc[s, "fit"]), 3),
            "p_small": round(float(p.loc[s, "small"]), 3),
            "p_large": round(float(p.loc[s, "large"]), 3),
        }
        for s in sizes
    ]
    advice = SizeAdvice(
        size=str(best),
        confidence=float(row["fit"]),
        regions=[],
        reason=reason,
        alternatives=[],
        chart_size="",
        lang=lang,
    )
    out = advice.to_dict()
    out["alternatives"] = sorted(alts, key=lambda a: -a["probability"])
    out["source"] = "model"
    out["category"] = category
    return out
