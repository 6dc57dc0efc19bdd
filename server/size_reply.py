"""Grounded answers to `size_advice` and `compare_sizes`: nlu only says "let me check"; the numbers come from
the size module (avatar.sizing: the shopper's measurements against the product's chart), the garment stage's
fit of the cut size on the avatar (state.fit), and the catalogue's size chart. Blocking: run off the loop."""

from __future__ import annotations

import logging
from typing import Any

from fitmirror.catalog import CatalogIndex

log = logging.getLogger("fitmirror.server.size_reply")

GIRTHS = ("chest_cm", "waist_cm", "hips_cm", "inseam_cm", "length_cm")
ZH_REGION = {"chest": "胸围", "waist": "腰围", "hips": "臀围", "inseam": "内长", "length": "衣长"}


def size_reply(actions: list[dict[str, Any]], outfit: list[dict[str, Any]], size: str | None,
               measurements: dict[str, float], fit: dict[str, Any], lang: str,
               catalog: CatalogIndex) -> str | None:  # fmt: skip
    """One reply for the size questions among `actions`, or None when there are none."""
    kinds = [a for a in actions if a.get("type") in ("size_advice", "compare_sizes")]
    if not kinds:
        return None
    zh = lang == "zh"
    product = catalog.product_for(outfit[-1]) if outfit else None  # the item the shopper is talking about
    if product is None:
        return "先选一件衣服，我再告诉你尺码。" if zh else "Pick a garment first, then I can tell you the size."
    from avatar.sizing.service import chart_from_product

    chart = chart_from_product(product)[0]
    name = product.name
    parts: list[str] = []
    for a in kinds:
        if a["type"] == "size_advice":
            parts.append(_advice(product, chart, measurements, fit, size, lang))
        else:
            parts.append(_compare(name, chart, [str(s).upper() for s in a.get("sizes", [])], fit, lang))
    return " ".join(p for p in parts if p)


def _advice(product: Any, chart: dict, measurements: dict[str, float], fit: dict[str, Any], size: str | None,
            lang: str) -> str:  # fmt: skip
    zh = lang == "zh"
    body = {k: v for k, v in measurements.items() if k in ("height_cm", "weight_kg", *GIRTHS)}
    if any(k in body for k in ("chest_cm", "waist_cm", "hips_cm")):
        from avatar.sizing.service import advise

        try:
            adv = advise({"measurements": body, "product_id": product.id, "lang": lang},
                         product_lookup=lambda pid: product if pid == product.id else None)  # fmt: skip
            return (f"{product.name}：建议 {adv['size']} 码。{adv['reason']}" if zh
                    else f"{product.name}: size {adv['size']} fits you best. {adv['reason']}")  # fmt: skip
        except Exception as e:  # implausible measurements: say so
            msg = getattr(e, "message", str(e))
            return f"无法计算尺码：{msg}" if zh else f"I could not work out a size: {msg}"
    if fit.get("status") == "ok" and fit.get("size"):
        overall = str(fit.get("overall") or "").removeprefix(f"{fit['size']}: ")
        tight = [r for r, s in (fit.get("details") or {}).items() if s == "tight"]
        loose = [r for r, s in (fit.get("details") or {}).items() if s == "loose"]
        if zh:
            return (f"{product.name} {fit['size']} 码在你的身形上：{overall}。"
                    "告诉我你的身高和胸围，我能给出更准确的尺码。")  # fmt: skip
        extra = ""
        if tight:
            extra = f" Tight at the {', '.join(tight)}: try a size up."
        elif loose:
            extra = f" Loose at the {', '.join(loose)}: try a size down."
        return (f"Size {fit['size']} of the {product.name} on your body: {overall}.{extra} "
                "Tell me your height and chest for a personal size.")  # fmt: skip
    sizes = ", ".join(chart)
    return (f"{product.name} 有 {sizes} 码。告诉我你的身高和胸围，我来推荐尺码。" if zh
            else f"The {product.name} comes in {sizes}. Tell me your height and chest and I will pick one.")  # fmt: skip


def _compare(name: str, chart: dict, sizes: list[str], fit: dict[str, Any], lang: str) -> str:
    zh = lang == "zh"
    known = [s for s in sizes if s in chart]
    missing = [s for s in sizes if s not in chart]
    if len(known) < 2:
        have = ", ".join(chart)
        return (f"{name} 没有 {'/'.join(missing) or '这些'} 码（有 {have}）。" if zh
                else f"The {name} has no size {'/'.join(missing) or 'to compare'} (it comes in {have}).")  # fmt: skip
    a, b = known[0], known[1]
    diffs = []
    for k in GIRTHS:
        if k in chart[a] and k in chart[b]:
            region = k.removesuffix("_cm")
            d = chart[b][k] - chart[a][k]
            label = ZH_REGION.get(region, region) if zh else region
            diffs.append(f"{label} {chart[a][k]:g}→{chart[b][k]:g} cm ({d:+g})")
    now = ""
    if fit.get("status") == "ok" and fit.get("size") in (a, b):
        overall = str(fit.get("overall") or "").removeprefix(f"{fit['size']}: ")
        now = (f" 现在穿的是 {fit['size']}：{overall}。" if zh
               else f" You have {fit['size']} on now: {overall}.")  # fmt: skip
    return (f"{name} {a} 对比 {b}：" + "，".join(diffs) + "。" + now if zh
            else f"{name}, {a} vs {b}: " + ", ".join(diffs) + "." + now)  # fmt: skip
