"""From hits to actions, once every rule and vocabulary has run: views, removals and recommendations take their
garment / occasion, attributes (colour, pattern, occasion) attach to the nearest category in the same clause
(adjectives precede nouns in both languages), and attributes left loose ("the blue one", "换成红色", "something
for a wedding") recolour the worn item or select something new."""

from __future__ import annotations

from typing import Any

from nlu.context import OutfitItem
from nlu.regex import rx
from nlu.rules.scanner import Hit, Positioned, Utterance
from nlu.rules.slots import has_sep


def resolve(u: Utterance, before: list[Positioned]) -> list[Positioned]:
    """The actions the recorded hits make; `before` are the actions the command rules already gave."""
    sc = u.sc
    cats, colors, patterns, occasions = (sc.of_kind(k) for k in ("category", "color", "pattern", "occasion"))
    out: list[Positioned] = [(h.start, {"type": "view", "view": h.value}) for h in sc.of_kind("view")]
    focus = u.ctx.focus()
    removals, removed = _removals(u, cats, focus)
    out += removals
    # recommendations take an occasion anywhere in the utterance; a category right after them is the target
    for r in u.recs:
        cats = [c for c in cats if not (0 <= c.start - r.end <= 4 and not has_sep(u.t, r.end, c.start))]
    for r in u.recs:
        out.append((r.start, {"type": "recommend", "occasion": occasions[-1].value if occasions else None}))
    if u.recs:
        occasions = []
    sel_cats = [c for c in cats if id(c) not in removed]
    attached, loose = _attach(u.t, sel_cats, colors + patterns + occasions)
    out += _selections(u, sel_cats, attached, colors + patterns, focus, [*before, *out])
    out += _loose_colors(u, loose, sel_cats, focus)
    out += _loose_attributes(u, loose, sel_cats)
    return out


def _removals(u: Utterance, cats: list[Hit], focus: OutfitItem | None) -> tuple[list[Positioned], set[int]]:
    """Removals take the category that follows (or precedes in 把外套脱了), else the worn item; also returns the
    ids of the category hits they took."""
    out: list[Positioned] = []
    removed: set[int] = set()
    for r in u.removes:
        cand = [c for c in cats if c.start >= r.end and not has_sep(u.t, r.end, c.start)]
        if not cand:
            cand = [c for c in cats if c.end <= r.start and r.start - c.end <= 4]
        c = cand[0] if cand else None
        if c:
            removed.add(id(c))
        out.append((r.start, {"type": "remove", "category": c.value if c else (focus.category if focus else None)}))
    return out, removed


def _attach(t: str, sel_cats: list[Hit], attrs: list[Hit]) -> tuple[dict[int, dict[str, str]], list[Hit]]:
    """Each attribute goes to the first category after it in its clause, else the last one before it; the first
    of a kind wins. Returns the attributes per category id and those left loose."""
    attached: dict[int, dict[str, str]] = {id(c): {} for c in sel_cats}
    loose: list[Hit] = []
    for a in attrs:
        after = [c for c in sel_cats if c.start >= a.end and not has_sep(t, a.end, c.start)]
        before = [c for c in sel_cats if c.end <= a.start and not has_sep(t, c.end, a.start)]
        target = after[0] if after else (before[-1] if before else None)
        if target is None:
            loose.append(a)
        else:
            attached[id(target)].setdefault(a.kind, a.value)
    return attached, loose


def _selections(
    u: Utterance,
    sel_cats: list[Hit],
    attached: dict[int, dict[str, str]],
    attr_hits: list[Hit],
    focus: OutfitItem | None,
    prior: list[Positioned],
) -> list[Positioned]:
    """A select per category named; a reference to the worn item ("this dress in black") recolours it instead."""
    ref_rx = rx(r"(?:this|that|the same|my|it|这件|这条|那件|那条|这个|这)\s?$")
    other_actions = any(a["type"] != "select" for _, a in prior)
    out: list[Positioned] = []
    for c in sel_cats:
        attrs = attached[id(c)]
        before_txt = u.t[max(0, c.start - 14) : c.start]
        is_ref = focus is not None and focus.category == c.value and ref_rx.search(before_txt.strip())
        # "make the dress a little shorter" while wearing a dress: the noun names the worn item
        worn = any(i.category == c.value for i in u.ctx.outfit)
        if worn and not attrs and other_actions:
            continue
        if is_ref:
            if "color" in attrs:
                out.append((c.start, {"type": "set_color", "color": attrs["color"]}))
                other_actions = True
            continue
        # the select sits at its first attribute said before the noun ("the blue dress" starts at "blue")
        pos = min([c.start, *[h.start for h in attr_hits if attrs.get(h.kind) == h.value and h.start < c.start]])
        out.append((pos, {"type": "select", "category": c.value, **attrs}))
    return out


def _loose_colors(u: Utterance, loose: list[Hit], sel_cats: list[Hit], focus: OutfitItem | None) -> list[Positioned]:
    """A colour with no noun: something new in it, the worn item recoloured (or another of its category when it
    does not come in that colour), or with nothing worn a recolour / select by the verb before it."""
    t, ctx = u.t, u.ctx
    loose_colors = [h for h in loose if h.kind == "color"]
    loose_other = [h for h in loose if h.kind != "color"]
    out: list[Positioned] = []
    for h in loose_colors:
        new_item = rx(r"\b(?:something|anything)\b|别的|其他").search(t[: h.start])
        if new_item and not loose_other:
            out.append((h.start, {"type": "select", "color": h.value}))
        elif focus is not None and not loose_other:
            for item in reversed(ctx.outfit):
                e = ctx.product(item.id)
                if e is not None and h.value in e.colors:
                    focus = item
                    break
            entry = ctx.product(focus.id)
            if entry is None or not entry.colors or h.value in entry.colors:
                out.append((h.start, {"type": "set_color", "color": h.value}))
            else:
                out.append((h.start, {"type": "select", "category": focus.category, "color": h.value}))
        elif focus is None and not sel_cats and not loose_other:
            recolor = rx(
                r"换成|改成|换个|变成|\b(?:make it|change (?:it |the colou?r )?to|in|turn it|switch to)\s*$"
            ).search(t[: h.start])
            out.append(
                (h.start, {"type": "set_color", "color": h.value} if recolor else {"type": "select", "color": h.value})
            )
    return out


def _loose_attributes(u: Utterance, loose: list[Hit], sel_cats: list[Hit]) -> list[Positioned]:
    """Patterns and occasions with no noun (and no noun at all): one select with every loose attribute."""
    if not any(h.kind != "color" for h in loose) or sel_cats:
        return []
    loose = sorted(loose, key=lambda h: h.start)
    sel: dict[str, Any] = {"type": "select"}
    for h in loose:
        if h.kind == "occasion":
            # the last occasion is the head noun ("beach wedding" -> wedding); "casual" (weekend, everyday)
            # never overrides a specific one ("hiking this weekend" -> outdoor)
            if h.value != "casual" or "occasion" not in sel:
                sel["occasion"] = h.value
        else:
            sel.setdefault(h.kind, h.value)
    if "occasion" in sel:
        sel["text"] = u.text.strip()[:120]
    return [(loose[0].start, sel)]
