"""The per-session fitting-room state (outfit, size, view, fit map, measurements) and how actions change it.

Actions are nlu's typed action models (`nlu.schema`: Select, SetSize, ...), validated once where they enter the
server (the nlu parser, the control protocol); `SessionState.apply` dispatches on their type and checks only what
the catalogue and the rules decide (products, sizes and colours that exist, at most one garment per slot). This
module only records what the shopper asked for. Garment, catalogue and fit logic live in their own stages and read
this state per frame.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from fitmirror.catalog import MAX_OUTFIT_ITEMS, SLOT, SLOT_CONFLICTS, CatalogIndex, Product, size_range
from fitmirror.frame import RenderState
from fitmirror.vocab import SIZES, size_step
from nlu.schema import (
    Action,
    Adjust,
    CompareSizes,
    FitMap,
    Recommend,
    Remove,
    Reset,
    Select,
    SetColor,
    SetMeasurement,
    SetSize,
    SizeAdvice,
    Undo,
    View,
)
from server.protocol import FitSummary, StateMsg

MAX_HISTORY = 32
MAX_ACTIONS = 8  # per command or actions message, after exact duplicates are dropped ("红" x 500 is one action)
# Actions as plain data (JSON from a client or a worker process) become the typed models here, once; models pass
# through as they are.
ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


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


def _zh_colors(cs: Iterable[str]) -> str:
    return "、".join(_zh_color(c) for c in cs)


def _zh_cat(c: str | None) -> str:
    from nlu.replies import ZH_CATEGORY

    return ZH_CATEGORY.get(c or "", c or "衣服")


def _zh_name(p: Product) -> str:
    return p.name_i18n.get("zh", p.name)


def _clean_actions(actions: list[Action]) -> list[Action]:
    out: list[Action] = []
    for a in actions:
        if a not in out:
            out.append(a)
    if len(out) > MAX_ACTIONS:
        raise ActionRefused(
            f"that is {len(out)} things at once; ask for at most {MAX_ACTIONS} at a time",
            f"一次说了{len(out)}件事；一次最多说{MAX_ACTIONS}件。",
        )
    return out


def validate_actions(actions: Iterable[Action | dict[str, Any]]) -> list[Action]:
    """The typed actions for models or plain dicts ({"type": "set_size", "size": "M"}); raises pydantic's
    ValidationError (a ValueError) for anything the command schema does not accept."""
    return ACTIONS.validate_python(list(actions))


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
            view=self.view,
            views=list(self.views),
            layout=self.layout,
            fit_map=self.fit_map,
            fit=self.fit,
            measurements=dict(self.measurements),
        )

    def _snapshot(self) -> None:
        self._history.append((copy.deepcopy(self.outfit), self.size, self.fit_map))
        del self._history[:-MAX_HISTORY]

    def apply_all(self, actions: Iterable[Action | dict[str, Any]]) -> list[Action]:
        """Apply a batch all or nothing: on the first refused action the state is left exactly as it was and the
        error (ActionRefused / ValueError, its message for the shopper) propagates. Takes the typed actions;
        plain dicts are validated here, once, for the whole batch. Returns the actions applied (exact duplicates
        dropped), as models: `a.model_dump(exclude_none=True)` is their JSON."""
        batch = _clean_actions(validate_actions(actions))
        saved = (copy.deepcopy(self.outfit), self.size, self.fit_map, self.view, dict(self.measurements),
                 list(self._history))  # fmt: skip
        try:
            for a in batch:
                self.apply(a)
        except (ValueError, TypeError):
            self.outfit, self.size, self.fit_map, self.view, self.measurements, self._history = saved
            raise
        return batch

    def apply(self, action: Action) -> bool:
        """Apply one typed action; returns True when the visible state changed."""
        match action:
            case SizeAdvice() | CompareSizes() | Recommend():
                return False  # answered by the sizing/catalogue stages, no state change here
            case Undo():
                if not self._history:
                    return False
                self.outfit, self.size, self.fit_map = self._history.pop()
                return True
            case View(view=view):
                self.view = view
                return True
            case SetMeasurement(name=name, value=value):
                unit = "kg" if name == "weight" else "cm"
                self.measurements[f"{name}_{unit}"] = float(value)
                return True
            case Select() | SetSize() | SetColor() | Adjust() | FitMap() | Remove() | Reset():
                self._snapshot()
                self._change(action)
                return True
            case _:
                raise TypeError(f"not an action model: {type(action).__name__}; validate it with nlu.schema first")

    def _change(self, action: Select | SetSize | SetColor | Adjust | FitMap | Remove | Reset) -> None:
        """An action that changes the outfit, size or fit map (undoable: a snapshot was taken)."""
        match action:
            case Select():
                self._select(action)
            case SetSize(size=size):
                self.size = self._next_size(size)
            case SetColor(color=color):
                if not self.outfit:
                    raise ActionRefused(
                        "nothing is selected to recolour; pick a garment first", "还没有选衣服，先选一件再换颜色。"
                    )
                self._recolor(self.outfit[-1], color)
            case Adjust(attribute=attr, direction=direction):
                if not self.outfit:
                    raise ActionRefused(
                        "nothing is selected to adjust; pick a garment first", "还没有选衣服，先选一件再调整。"
                    )
                adj = self.outfit[-1].setdefault("adjust", {})
                adj[attr] = max(-3, min(3, int(adj.get(attr, 0)) + direction))
            case FitMap(on=on):
                self.fit_map = on
            case Remove(category=cat):
                self.outfit = [i for i in self.outfit if cat is not None and i.get("category") != cat]
            case Reset():
                self.outfit, self.size, self.fit_map = [], None, False

    # -- garments ----------------------------------------------------------------------------------------

    def _select(self, action: Select) -> None:
        item: dict[str, Any] = {k: v for k, v in action.model_dump(exclude={"type"}).items() if v}
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

    def _recolor(self, item: dict[str, Any], color: str) -> None:
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
        """The size a validated SetSize asks for: "+1"/"-1" step through the garment's chart (the vocabulary's
        sizes without a garment), an absolute size must be one the garment has."""
        product = self.focus_product()
        sizes = product.sizes if product is not None else list(SIZES)
        if size in ("+1", "-1"):
            step = int(size)
            nxt, cur = _step_size(self.size, step, sizes)
            if nxt is None:
                edge = "largest" if step > 0 else "smallest"
                raise ActionRefused(
                    f"{cur} is the {edge} size{f' of the {product.name}' if product else ''}",
                    f"{cur}已经是{_zh_name(product) if product else ''}{'最大' if step > 0 else '最小'}的尺码了。",
                )
            return nxt
        if size in sizes:
            return size
        if product is None and _plausible_numeric_size(size):
            return size
        of = f" for the {product.name}" if product is not None else ""
        zh_of = _zh_name(product) if product is not None else ""
        raise ActionRefused(
            f"we have no size {size}{of}; the sizes are {size_range(sizes)}",
            f"{zh_of}没有{size}码；尺码有{size_range(sizes)}。",
        )


def _step_size(current: str | None, step: int, sizes: list[str]) -> tuple[str | None, str]:
    """(the size `step` places from `current` in `sizes` or None past the end, the size stepped from). A letter
    size the chart lacks (3XL kept from a garment whose chart goes further) steps to the chart's next size that
    way in the vocabulary's order (-1 from 3XL on an XS..XXL chart is XXL; +1 is past the end), not from M."""
    if current in sizes:
        return size_step(current, step, sizes), current
    letters = sorted((s for s in sizes if s in SIZES), key=SIZES.index)
    if current in SIZES and letters:
        pos = SIZES.index(current)
        way = [s for s in letters if (SIZES.index(s) - pos) * step > 0]
        if way:
            return (way[0] if step > 0 else way[-1]), current
        return None, letters[-1] if step > 0 else letters[0]
    cur = "M" if "M" in sizes else sizes[len(sizes) // 2]
    return size_step(cur, step, sizes), cur


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
