"""Body measurements said in a command ("I'm 5'7\" and 130 pounds", "身高一百七十，体重一百二十斤") as
set_measurement actions in cm and kg."""

from __future__ import annotations

import re

from nlu.regex import rx
from nlu.rules.lexicon import CLAUSE_SEP
from nlu.rules.scanner import Positioned, Scanner, Utterance

_MEAS_NAME = [
    (r"height|tall|身高|个子|个头", "height"),
    (r"weigh(?:t|s)?|体重|重", "weight"),
    (r"chest|bust|胸围|胸", "chest"),
    (r"waist|腰围|腰", "waist"),
    (r"hips?|臀围|臀", "hips"),
    (r"inseam|inside leg|leg length|内长|裤长|腿长", "inseam"),
]
_UNIT = (
    r"(?P<unit>cm|centimet(?:er|re)s?|厘米|公分|m\b|meters?|metres?|kg|kgs|kilos?|kilograms?|公斤|千克|斤|lbs?|pounds?|磅|"
    r"inch(?:es)?|in\b|\"|''|英寸|寸|feet|foot|ft|')"
)
_FEET_INCHES = r"(?P<ft>[3-7])\s?(?:'|ft|feet|foot)\s?(?P<inch>\d{1,2})?\s?(?:\"|''|in(?:ch(?:es)?)?\b)?(?: tall)?"
_NUMBER = rf"(?P<num>\d{{1,3}}(?:\.\d+)?)\s?{_UNIT}?"
_WEIGHT_UNITS = (
    "kg",
    "kgs",
    "kilo",
    "kilos",
    "kilogram",
    "kilograms",
    "公斤",
    "千克",
    "斤",
    "lb",
    "lbs",
    "pound",
    "pounds",
    "磅",
)
_METRE_UNITS = ("m", "meter", "meters", "metre", "metres")
# "around the waist", "on my hips": body words that are not a measurement
_BODY_PART = r"\b(?:around|at|in|on|across) (?:the|my) (?:waist|hips|chest|shoulders?|arms|legs|bottom|top)\b"


def measurements(u: Utterance) -> list[Positioned]:
    """Heights in feet and inches, then numbers with a measurement name or a unit (runs before the sizes, so
    "size 32" is not a waist); then explains body-part phrases that are not measurements."""
    out = _feet_and_inches(u.sc) + _named_numbers(u.sc, u.lang)
    for m in u.sc.find(_BODY_PART):
        u.sc.take("noise", m.start(), m.end(), record=False)
    return out


def _feet_and_inches(sc: Scanner) -> list[Positioned]:
    """5'7", 5 ft 7, 5 foot 7 (inches)."""
    out: list[Positioned] = []
    for m in sc.find(_FEET_INCHES):
        cm = (int(m.group("ft")) * 12 + int(m.group("inch") or 0)) * 2.54
        sc.take("measure", m.start(), m.end())
        out.append(_action(m.start(), "height", cm))
    return out


def _named_numbers(sc: Scanner, lang: str) -> list[Positioned]:
    out: list[Positioned] = []
    for m in sc.find(_NUMBER):
        num = float(m.group("num"))
        unit = (m.group("unit") or "").strip()
        name = _measure_name(sc.t, m, num, unit)
        if name is None:
            continue
        value = _to_metric(name, num, unit, lang)
        if value is None:
            continue
        _explain_name(sc, name, m.start())
        sc.take("measure", m.start(), m.end())
        out.append(_action(m.start(), name, value))
    return out


def _measure_name(t: str, m: re.Match, num: float, unit: str) -> str | None:
    """The measurement a number gives: the nearest name word before it in its clause, or one right after it
    ("170 tall"), else what its unit or size implies; None when it is not a measurement."""
    before = t[max(0, m.start() - 24) : m.start()]
    after = t[m.end() : m.end() + 8]
    name = None
    best = -1
    for pat, nm in _MEAS_NAME:
        for mm in rx(pat).finditer(before):
            if mm.start() > best and not CLAUSE_SEP.search(before[mm.end() :]):
                best, name = mm.start(), nm
    if name is None:
        for pat, nm in _MEAS_NAME:
            if rx(rf"\s?(?:{pat})").match(after):
                name = nm
    if name is not None:
        return name
    if unit in _WEIGHT_UNITS:
        return "weight"
    if unit in _METRE_UNITS or (unit in ("cm", "厘米", "公分") and num >= 100):
        return "height"
    if rx(r"\b(?:i'?m|i am)\s?$|我\s?$").search(before) and (unit or 120 <= num <= 220):
        return "height"
    return None


def _explain_name(sc: Scanner, name: str, pos: int) -> None:
    """Mark the name word of a measurement near `pos` as explained."""
    for pat, nm in _MEAS_NAME:
        if nm == name:
            for mm in rx(pat).finditer(sc.t):
                if sc.free(mm.start(), mm.end()) and abs(mm.start() - pos) < 26:
                    sc.take("noise", mm.start(), mm.end(), record=False)


def _to_metric(name: str, num: float, unit: str, lang: str) -> float | None:
    u = unit.lower()
    if name == "weight":
        if u in ("lb", "lbs", "pound", "pounds", "磅"):
            return num * 0.45359237
        if u == "斤":
            return num * 0.5
        if u == "" and lang == "en" and num > 120:
            return num * 0.45359237
        return num
    if u in ("m", "meter", "meters", "metre", "metres") or (u == "" and num < 3):
        return num * 100
    if u in ("inch", "inches", "in", '"', "''", "英寸", "寸"):
        return num * 2.54
    if u in ("feet", "foot", "ft", "'"):
        return num * 30.48
    if u == "" and name != "height" and num < 60:  # "waist 32" is inches
        return num * 2.54
    if u == "" and name == "height" and num < 90:  # "I'm 68 tall" -> inches
        return num * 2.54
    return num


def _action(pos: int, name: str, value: float) -> Positioned:
    return (pos, {"type": "set_measurement", "name": name, "value": round(value, 1)})
