"""The per-session fitting-room state (outfit, size, view, fit map, measurements) and how actions change it.

Actions follow nlu's command schema ({"type": "select" | "set_size" | ...}); this module only records what the
shopper asked for. Garment, catalogue and fit logic live in their own stages and read this state per frame.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from server.pipeline import RenderState
from server.protocol import FitSummary, StateMsg

SIZES = ("XXS", "XS", "S", "M", "L", "XL", "XXL", "3XL")
MAX_HISTORY = 32
# a dress takes the place of the inner top and the bottoms (not of a jacket or coat over it), and they of it
_INNER = {"tshirt", "shirt", "blouse", "sweater", "skirt", "trousers", "jeans", "shorts"}
REPLACES: dict[str | None, set[str]] = {"dress": _INNER, **{c: {"dress"} for c in _INNER}}


@dataclass
class SessionState:
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
            item = {
                k: action[k]
                for k in ("category", "color", "pattern", "occasion", "text", "product_id")
                if action.get(k)
            }
            if not item:
                raise ValueError("select needs at least one of category, color, pattern, occasion, text")
            cat = item.get("category")
            gone = {cat} | REPLACES.get(cat, set())
            self.outfit = [i for i in self.outfit if cat is None or i.get("category") not in gone] + [item]
        elif kind == "set_size":
            self.size = self._next_size(str(action.get("size", "")))
        elif kind == "set_color":
            if not self.outfit:
                raise ValueError("nothing selected to recolour")
            self.outfit[-1]["color"] = action.get("color")
        elif kind == "adjust":
            if not self.outfit:
                raise ValueError("nothing selected to adjust")
            adj = self.outfit[-1].setdefault("adjust", {})
            attr = str(action.get("attribute"))
            adj[attr] = int(adj.get(attr, 0)) + int(action.get("direction", 0))
        elif kind == "fit_map":
            self.fit_map = bool(action.get("on", True))
        elif kind == "remove":
            cat = action.get("category")
            self.outfit = [i for i in self.outfit if cat is not None and i.get("category") != cat]
        elif kind == "reset":
            self.outfit, self.size, self.fit_map = [], None, False
        return True

    def _next_size(self, size: str) -> str:
        if size in ("+1", "-1"):
            cur = self.size if self.size in SIZES else "M"
            i = SIZES.index(cur) + int(size)
            return SIZES[max(0, min(len(SIZES) - 1, i))]
        if not size or len(size) > 8:
            raise ValueError("set_size needs a size such as S, M, L or a number")
        return size.upper()


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
