"""Short, grounded replies in the user's language. They say what was done, never a size or fit verdict: those
come from the size and fit modules after the server runs `size_advice` / `compare_sizes` / `fit_map`."""

from __future__ import annotations

import re
from typing import Any

from nlu.regex import rx

_CJK = re.compile(r"[\u4e00-\u9fff]")

ZH_CATEGORY = {
    "tshirt": "T恤",
    "shirt": "衬衫",
    "blouse": "女式衬衫",
    "sweater": "毛衣",
    "jacket": "外套",
    "coat": "大衣",
    "dress": "连衣裙",
    "skirt": "半身裙",
    "trousers": "长裤",
    "jeans": "牛仔裤",
    "shorts": "短裤",
}
ZH_COLOR = {
    "black": "黑色",
    "white": "白色",
    "grey": "灰色",
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "green": "绿色",
    "blue": "蓝色",
    "navy": "藏青色",
    "purple": "紫色",
    "pink": "粉色",
    "brown": "棕色",
    "beige": "米色",
}
ZH_VIEW = {"front": "正面", "back": "背面", "left": "左侧", "right": "右侧", "three_quarter": "斜侧面"}
EN_CATEGORY = {"tshirt": "T-shirt"}

REFUSAL = {
    "en": "Sorry, I can only help with trying on clothes here.",
    "zh": "抱歉，我只能帮你试穿衣服。",
}
NOT_UNDERSTOOD = {
    "en": "Sorry, I didn't catch that. Try e.g. 'show me the blue dress in size M'.",
    "zh": "抱歉，我没听懂。可以说“给我看蓝色的连衣裙，M码”。",
}


def detect_lang(text: str, default: str = "en") -> str:
    """The reply language: Chinese if the utterance has any Han character, else the session language."""
    if _CJK.search(text):
        return "zh"
    if rx(r"[a-zA-Z]{3,}").search(text):
        return "en"
    return default


def _d(a: Any) -> dict:
    return a.model_dump() if hasattr(a, "model_dump") else dict(a)


def reply_for(actions: list[Any], lang: str) -> str:
    """One short sentence per action, joined; empty list -> the not-understood hint."""
    if not actions:
        return NOT_UNDERSTOOD[lang]
    parts = [_one(_d(a), lang) for a in actions]
    sep = "" if lang == "zh" else " "
    return sep.join(p for p in parts if p)[:200]


def _one(a: dict, lang: str) -> str:
    t = a["type"]
    zh = lang == "zh"
    if t == "select":
        if zh:
            desc = (ZH_COLOR.get(a.get("color") or "", "") + ("的" if a.get("color") else "")) + ZH_CATEGORY.get(
                a.get("category") or "", "衣服"
            )
            return f"好的，给你看{desc}。"
        what = " ".join(
            x
            for x in (a.get("color"), a.get("pattern"), EN_CATEGORY.get(a.get("category") or "", a.get("category")))
            if x
        )
        return f"Here is the {what}." if what else "Here is something that fits."
    if t == "set_size":
        s = a["size"]
        if s in ("+1", "-1"):
            return (
                ("换大一码。" if s == "+1" else "换小一码。")
                if zh
                else ("One size up." if s == "+1" else "One size down.")
            )
        return f"换成{s}码。" if zh else f"Size {s}."
    if t == "set_color":
        return f"换成{ZH_COLOR[a['color']]}。" if zh else f"Now in {a['color']}."
    if t == "adjust":
        attr, d = a["attribute"], a["direction"]
        if zh:
            return {
                "length": "长一点" if d > 0 else "短一点",
                "sleeve_length": "袖子长一点" if d > 0 else "袖子短一点",
            }.get(attr, "宽松一点" if d > 0 else "修身一点") + "。"
        if attr == "sleeve_length":
            return "Longer sleeves." if d > 0 else "Shorter sleeves."
        word = ("longer", "shorter") if attr == "length" else ("looser", "tighter")
        return f"Making it {word[0] if d > 0 else word[1]}."
    if t == "view":
        return f"看{ZH_VIEW[a['view']]}。" if zh else f"{a['view'].replace('_', ' ').capitalize()} view."
    if t == "size_advice":
        return "我来看看哪个尺码适合你。" if zh else "Let me check which size fits you."
    if t == "compare_sizes":
        s = " / ".join(a["sizes"])
        return f"对比 {s}。" if zh else f"Comparing {s}."
    if t == "fit_map":
        return ("显示合身图。" if a["on"] else "关闭合身图。") if zh else ("Fit map on." if a["on"] else "Fit map off.")
    if t == "undo":
        return "已撤销。" if zh else "Undone."
    if t == "reset":
        return "已重置。" if zh else "Starting over."
    if t == "remove":
        c = a.get("category")
        return f"脱掉{ZH_CATEGORY.get(c or '', '它')}。" if zh else f"Taking off the {c or 'item'}."
    if t == "set_measurement":
        unit = "kg" if a["name"] == "weight" else "cm"
        v = a["value"]
        v_txt = f"{v:g}"
        if zh:
            name = {
                "height": "身高",
                "weight": "体重",
                "chest": "胸围",
                "waist": "腰围",
                "hips": "臀围",
                "inseam": "内长",
            }[a["name"]]
            return f"已记下{name}{v_txt}{unit}。"
        return f"Noted: {a['name']} {v_txt} {unit}."
    if t == "recommend":
        occ = a.get("occasion")
        return "我来推荐搭配。" if zh else (f"Here are ideas for {occ}." if occ else "Here is what goes with it.")
    return ""
