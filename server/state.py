"""The per-session fitting-room state (outfit, size, view, fit map, measurements) and how actions change it.

Actions follow nlu's command schema ({"type": "select" | "set_size" | ...}); this module only records what the
shopper asked for. Garment, catalogue and fit logic live in their own stages and read this state per frame.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from fitmirror.catalog import MAX_OUTFIT_ITEMS, SIZE_ORDER, SLOT, SLOT_CONFLICTS, CatalogIndex, Product, size_range
from fitmirror.frame import RenderState
from server.protocol import FitSummary, StateMsg

MAX_HISTORY = 32
MAX_ACTIONS = 8  # per command or actions message, after exact duplicates are dropped ("红" x 500 is one action)


class ActionRefused(ValueError):
    """An action the catalogue or the rules cannot honour; `text(lang)` is the reply for the shopper (the
    exception's own message is the English one)."""

    def __init__(self, en: str, zh: str | None = None) -> None:
        super().__init__(en)
        self.zh = zh or en

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else str(self)


def _zh_color(c: str | None) -> str:
    from nlu.replies import ZH_COLOR

    return ZH_COLOR.get(c or "", c or "")


def _zh_colors(cs: list[str]) -> str:
    return "、".join(_zh_color(c) for c in cs)


def _zh_cat(c: str | None) -> str:
    from nlu.replies import ZH_CATEGORY

    return ZH_CATEGORY.get(c or "", c or "衣服")


def _zh_name(p: Product) -> str:
    return p.name_i18n.get("zh", p.name)


def _clean_actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in actions:
        if a not in out:
            out.append(a)
    if len(out) > MAX_ACTIONS:
        raise ActionRefused(
            f"that is {len(out)} things at once; ask for at most {MAX_ACTIONS} at a time",
            f"一次说了{len(out)}件事；一次最多说{MAX_ACTIONS}件。",
        )
    return out


@dataclass
class SessionState:
    """What the shopper asked for. With a `catalog`, every garment is resolved to a catalogue product when it is
    chosen (so sizes, colours and products that do not exist are refused at once) and takes one slot (top, bottom,
    dress, outer): the outfit never holds more than MAX_OUTFIT_ITEMS garments."""

    views: tuple[str, ...]
    layout: str
    view_size: tuple[int, int]
    stamp: bool = False
    view: str = "front"
    outfit: list[dict[str, Any]] = field(default_factory=list)
    size: str | None = None
    fit_map: bool = False
    measurements: dict[str, float] = field(default_factory=dict)
    fit: FitSummary = field(default_factory=FitSummary)
    catalog: CatalogIndex | None = None
    _history: list[tuple[list[dict[str, Any]], str | None, bool]] = field(default_factory=list)

    def render_state(self) -> RenderState:
        return RenderState(
            views=self.views,
            layout=self.layout,
            view_size=self.view_size,
            view=self.view,
            outfit=tuple(dict(i) for i in self.outfit),
            size=self.size,
            fit_map=self.fit_map,
            stamp=self.stamp,
            measurements=tuple(sorted(self.measurements.items())),
            catalog=self.catalog,
        )

    def to_msg(self) -> StateMsg:
        return StateMsg(
            outfit=copy.deepcopy(self.outfit),
            size=self.size,
            view=self.view,  # type: ignore[arg-type]
            views=list(self.views),  # type: ignore[arg-type]
            layout=self.layout,  # type: ignore[arg-type]
            fit_map=self.fit_map,
            fit=self.fit,
            measurements=dict(self.measurements),
        )

    def _snapshot(self) -> None:
        self._history.append((copy.deepcopy(self.outfit), self.size, self.fit_map))
        del self._history[:-MAX_HISTORY]

    def apply_all(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply a batch all or nothing: on the first refused action the state is left exactly as it was and the
        error (ActionRefused / ValueError, its message for the shopper) propagates. Returns what was applied."""
        actions = _clean_actions(actions)
        saved = (copy.deepcopy(self.outfit), self.size, self.fit_map, self.view, dict(self.measurements),
                 list(self._history))  # fmt: skip
        try:
            for a in actions:
                self.apply(a)
        except (ValueError, TypeError):
            self.outfit, self.size, self.fit_map, self.view, self.measurements, self._history = saved
            raise
        return actions

    def apply(self, action: dict[str, Any]) -> bool:
        """Apply one action; returns True when the visible state changed."""
        kind = action["type"]
        if kind in ("size_advice", "compare_sizes", "recommend"):
            return False  # answered by the sizing/catalogue stages, no state change here
        if kind == "undo":
            if not self._history:
                return False
            self.outfit, self.size, self.fit_map = self._history.pop()
            return True
        if kind == "view":
            view = action.get("view")
            if view not in ("front", "back", "left", "right", "three_quarter"):
                raise ValueError(f"view must be front, back, left, right or three_quarter, not {view!r}")
            self.view = view
            return True
        if kind == "set_measurement":
            name, value = action.get("name"), action.get("value")
            if not isinstance(name, str) or not isinstance(value, int | float):
                raise ValueError("set_measurement needs a name and a numeric value")
            unit = "kg" if name == "weight" else "cm"
            self.measurements[f"{name}_{unit}"] = float(value)
            return True
        self._snapshot()
        if kind == "select":
            self._select(action)
        elif kind == "set_size":
            self.size = self._next_size(str(action.get("size", "")))
        elif kind == "set_color":
            if not self.outfit:
                raise ActionRefused(
                    "nothing is selected to recolour; pick a garment first", "还没有选衣服，先选一件再换颜色。"
                )
            self._recolor(self.outfit[-1], action.get("color"))
        elif kind == "adjust":
            if not self.outfit:
                raise ActionRefused(
                    "nothing is selected to adjust; pick a garment first", "还没有选衣服，先选一件再调整。"
                )
            adj = self.outfit[-1].setdefault("adjust", {})
            attr = str(action.get("attribute"))
            adj[attr] = max(-3, min(3, int(adj.get(attr, 0)) + int(action.get("direction", 0))))
        elif kind == "fit_map":
            self.fit_map = bool(action.get("on", True))
        elif kind == "remove":
            cat = action.get("category")
            self.outfit = [i for i in self.outfit if cat is not None and i.get("category") != cat]
        elif kind == "reset":
            self.outfit, self.size, self.fit_map = [], None, False
        return True

    # -- garments ----------------------------------------------------------------------------------------

    def _select(self, action: dict[str, Any]) -> None:
        item = {
            k: action[k] for k in ("category", "color", "pattern", "occasion", "text", "product_id") if action.get(k)
        }
        if not item:
            raise ValueError("select needs at least one of category, color, pattern, occasion, text")
        if set(item) == {"color"} and self.outfit:  # "红", "in blue": the garment on show, recoloured
            self._recolor(self.outfit[-1], item["color"])
            return
        if self.catalog is not None:
            item = self._resolve(item)
        cat = item.get("category")
        slot = SLOT.get(cat) if cat else None
        if slot is None:  # no catalogue to resolve it: at most one unresolved item, replacing the last one
            kept = [i for i in self.outfit if i.get("category")]
        else:
            gone = {slot} | SLOT_CONFLICTS.get(slot, set())
            kept = [i for i in self.outfit if i.get("category") and SLOT.get(i["category"]) not in gone]
        self.outfit = [*kept, item][-MAX_OUTFIT_ITEMS:]

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        """The catalogue product for a described item, or ActionRefused saying what there is instead."""
        ix = self.catalog
        assert ix is not None
        pid, cat, color = item.get("product_id"), item.get("category"), item.get("color")
        if pid is not None:
            product = ix.by_id.get(pid)
            if product is None:
                raise ActionRefused(f"we have no product {str(pid)[:40]!r}", f"没有这件商品（{str(pid)[:40]}）。")
        else:
            if cat is not None and cat not in ix.categories():
                raise ActionRefused(f"we have no {cat} in the catalogue", f"目前没有{_zh_cat(cat)}。")
            product = ix.find(cat, color, item.get("pattern"), item.get("occasion"), item.get("text"))
            if product is None:
                what = f"{color} {cat}" if cat else f"{color} garment"
                colors = ix.colors_of(cat)
                raise ActionRefused(
                    f"we have no {what}; {cat or 'our garments'} come in {', '.join(colors)}",
                    f"没有{_zh_color(color)}的{_zh_cat(cat)}；{_zh_cat(cat)}有{_zh_colors(colors)}。",
                )
        if color is not None:
            _check_color(product, color)
        return {
            **item,
            "product_id": product.id,
            "category": product.category,
            "color": color or product.colors[0].name,
        }

    def _recolor(self, item: dict[str, Any], color: Any) -> None:
        if not isinstance(color, str) or not color:
            raise ValueError("set_color needs a colour")
        product = self.catalog.by_id.get(item.get("product_id", "")) if self.catalog is not None else None
        if product is not None:
            _check_color(product, color)
        item["color"] = color

    def focus_product(self) -> Product | None:
        """The catalogue product of the garment put on last (the one "it" and "this size" mean)."""
        if self.catalog is None or not self.outfit:
            return None
        return self.catalog.by_id.get(self.outfit[-1].get("product_id", ""))

    def _next_size(self, size: str) -> str:
        product = self.focus_product()
        sizes = product.sizes if product is not None else list(SIZE_ORDER)
        if size in ("+1", "-1"):
            cur = self.size if self.size in sizes else ("M" if "M" in sizes else sizes[len(sizes) // 2])
            i = sizes.index(cur) + int(size)
            if not 0 <= i < len(sizes):
                edge = "largest" if int(size) > 0 else "smallest"
                raise ActionRefused(
                    f"{cur} is the {edge} size{f' of the {product.name}' if product else ''}",
                    f"{cur}已经是{_zh_name(product) if product else ''}{'最大' if int(size) > 0 else '最小'}的尺码了。",
                )
            return sizes[i]
        want = size.strip().upper()
        if not want or len(want) > 8:
            raise ValueError("set_size needs a size such as S, M, L or a number")
        if want in sizes:
            return want
        if product is None and _plausible_numeric_size(want):
            return want
        of = f" for the {product.name}" if product is not None else ""
        zh_of = _zh_name(product) if product is not None else ""
        raise ActionRefused(
            f"we have no size {want}{of}; the sizes are {size_range(sizes)}",
            f"{zh_of}没有{want}码；尺码有{size_range(sizes)}。",
        )


def _check_color(product: Product, color: str) -> None:
    colors = [c.name for c in product.colors]
    if color not in colors:
        raise ActionRefused(
            f"the {product.name} comes in {', '.join(colors)}, not {color}",
            f"{_zh_name(product)}只有{_zh_colors(colors)}，没有{_zh_color(color)}。",
        )


def _plausible_numeric_size(size: str) -> bool:
    """EU clothing and waist sizes (24-64) before a garment is chosen; a chart says what exists after."""
    try:
        return 24 <= float(size) <= 64
    except ValueError:
        return False


def demo_outfit_items(spec: str) -> list[dict[str, Any]]:
    """'product_id:colour,...' (the `demo_outfit` setting) -> outfit items naming catalogue products; an unknown
    product or colour is a configuration error, not a silently empty outfit."""
    from fitmirror.demo_catalog import demo_product
    from fitmirror.errors import ConfigError

    items: list[dict[str, Any]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        pid, _, color = part.partition(":")
        try:
            product = demo_product(pid.strip())
        except Exception as e:
            raise ConfigError(
                f"demo_outfit: unknown demo product {pid!r}", hint="FITMIRROR_DEMO_OUTFIT=product_id:colour,..."
            ) from e
        colors = [c.name for c in product.colors]
        color = color.strip() or colors[0]
        if color not in colors:
            raise ConfigError(f"demo_outfit: {pid} comes in {', '.join(colors)}, not {color!r}")
        items.append({"category": product.category, "color": color, "product_id": product.id})
    return items
