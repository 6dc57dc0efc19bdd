"""Normalisation of an utterance before matching: lower case, one punctuation and width, and numbers as digits
(Chinese numerals next to units, 一米七五 / 五尺三 heights, spelled-out English numbers)."""

from __future__ import annotations

import re

from nlu.regex import rx

_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def zh_number(s: str) -> float | None:
    """Chinese numerals to a number: 一百七十 -> 170, 六十五 -> 65, 七十五点五 -> 75.5, 一七五 -> 175."""
    if not s:
        return None
    if "点" in s:
        a, _, b = s.partition("点")
        ia = zh_number(a) if a else 0
        if ia is None or not b or any(ch not in _ZH_DIGIT for ch in b):
            return None
        return ia + float("0." + "".join(str(_ZH_DIGIT[ch]) for ch in b))
    if all(ch in _ZH_DIGIT for ch in s):  # digit by digit: 一七五
        return float("".join(str(_ZH_DIGIT[ch]) for ch in s))
    total, cur = 0, 0
    for ch in s:
        if ch in _ZH_DIGIT:
            cur = _ZH_DIGIT[ch]
        elif ch == "十":
            total += (cur or 1) * 10
            cur = 0
        elif ch == "百":
            total += cur * 100
            cur = 0
        elif ch == "千":
            total += cur * 1000
            cur = 0
        else:
            return None
    total += cur
    # 一百七 = 170 (the trailing digit after 百 is tens)
    if len(s) >= 3 and s[-2] == "百" and s[-1] in _ZH_DIGIT:
        total += _ZH_DIGIT[s[-1]] * 9
    return float(total)


_ZH_NUM_RUN = re.compile(r"[零〇一二两三四五六七八九十百千]+(?:点[零〇一二三四五六七八九]+)?")
_ZH_UNIT_AFTER = re.compile(r"^(?:厘米|公分|公斤|千克|斤|英寸|寸|磅|cm|kg|码|号)")
_EN_NUM = {
    "zero": 0,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}


def _en_numbers(t: str) -> str:
    """Spelled-out English numbers to digits ("one hundred seventy" -> 170, "five foot seven" -> 5 foot 7)."""
    words = "|".join(["one", "hundred", "and", *_EN_NUM])
    run = rx(rf"\b(?:{words})(?:[ -](?:{words}))*\b")

    def conv(m: re.Match) -> str:
        toks = rx(r"[ -]").split(m.group(0))
        if all(x in ("one", "and") for x in toks):
            return m.group(0)  # "the blue one", "one and ..."
        while toks and toks[-1] == "and":
            toks.pop()
        if toks and toks[0] == "and":
            return m.group(0)
        total, cur = 0, 0
        for x in toks:
            if x == "hundred":
                cur = (cur or 1) * 100
            elif x == "and":
                continue
            else:
                cur += 1 if x == "one" else _EN_NUM[x]
        total += cur
        tail = " and" if m.group(0).endswith(" and") else ""
        return str(total) + tail

    return run.sub(conv, t)


def normalize(text: str) -> str:
    """Lower-case, unify punctuation and width, spell Chinese numbers near units and 米 heights as digits."""
    t = text.strip().lower()
    t = t.translate(str.maketrans("，。！？：；“”‘’（）ｍｌｓｘ　", ",.!?:;\"\"''()mlsx "))
    t = t.replace("’", "'").replace("`", "'")
    t = rx(r"\s+").sub(" ", t)

    # 一米七五 / 1米75 -> 175厘米
    def meter(m: re.Match) -> str:
        a = m.group(1)
        b = m.group(2) or ""
        ia = int(a) if a.isdigit() else _ZH_DIGIT.get(a, 1)
        digits = "".join(ch if ch.isdigit() else str(_ZH_DIGIT.get(ch, 0)) for ch in b)
        cm = ia * 100 + (int(digits) * (10 if len(digits) == 1 else 1) if digits else 0)
        return f"{cm}厘米"

    t = rx(r"([一二两12])米([零一二三四五六七八九\d]{1,2})?(?![\d零一二三四五六七八九])").sub(meter, t)

    def zh_run(m: re.Match) -> str:
        s = m.group(0)
        after = t[m.end() : m.end() + 2]
        has_mag = any(c in s for c in "十百千")
        if not has_mag and not _ZH_UNIT_AFTER.match(after):
            return s  # 大一号, 一点, 一下 stay words
        if s in ("一", "两") and after[:1] in ("码", "号"):
            return s  # 大一码
        v = zh_number(s)
        return s if v is None else (f"{v:g}")

    def chi(m: re.Match) -> str:
        a, b = m.group(1), m.group(2) or ""
        va = int(a) if a.isdigit() else _ZH_DIGIT.get(a, 0)
        vb = (int(b) if b.isdigit() else _ZH_DIGIT.get(b, 0)) if b else 0
        return f"{(va + vb / 10) * 100 / 3:.1f}厘米"

    t = rx(r"([一二两三\d])尺([一二三四五六七八九\d])?(?!\d)").sub(chi, t)
    t = _ZH_NUM_RUN.sub(zh_run, t)
    t = _en_numbers(t)
    return t
