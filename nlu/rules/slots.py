"""Slot extraction: colours, sizes, garment categories, patterns, occasions and camera views found in the text.

`scan_slots` records them as scanner hits (the resolver attaches attributes to nouns); the helpers turn a size or
colour word into its canonical value, and `mentioned_colors` / `mentions_size` tell the parser's grounding which
colours and sizes an utterance names at all."""

from __future__ import annotations

import re

from nlu.regex import rx
from nlu.rules.lexicon import (
    CLAUSE_SEP,
    EN_CATEGORY,
    EN_COLOR,
    EN_OCCASION,
    EN_PATTERN,
    EN_SIZE_WORD,
    EN_VIEW,
    SIZE_TOKEN,
    ZH_CATEGORY,
    ZH_COLOR,
    ZH_OCCASION,
    ZH_PATTERN,
    ZH_SIZE_WORD,
    ZH_VIEW,
)
from nlu.rules.scanner import Scanner

EN_COLOR_RE = re.compile(r"(?<![a-z])(?:" + "|".join(p for p, _ in EN_COLOR) + r")(?![a-z])")
_SIZE_MENTION = re.compile(
    rf"(?<![a-z0-9])(?:size|sized)\b|(?<![a-z0-9]){SIZE_TOKEN}(?![a-z0-9])|"
    + "|".join(map(re.escape, ZH_SIZE_WORD))
    + r"|[0-9零一二两三四五六七八九十]+\s*(?:码|号)|尺码|尺寸"
)
# "the one in black": explained words before a colour, not a request of their own
_IN_COLOR = r"\b(?:the )?(?:(?:one|version|colou?r) )?in (?=black|white|gr[ae]y|red|orange|yellow|green|blue|navy|purple|pink|brown|beige)"


def en_color(word: str) -> str:
    """The canonical colour of a word EN_COLOR_RE matched."""
    return next(v for p, v in EN_COLOR if rx(p).fullmatch(word))


def mentioned_colors(text: str) -> set[str]:
    """Canonical colours the utterance names (en and zh), e.g. to ground an LLM's output in what was said."""
    t = text.lower()
    found = {en_color(m.group(0)) for m in EN_COLOR_RE.finditer(t)}
    found |= {v for p, v in ZH_COLOR if rx(p).search(t)}
    return found


def mentions_size(text: str) -> bool:
    """Whether the utterance names a size at all ("M", "size 38", "中号", "38码")."""
    return bool(_SIZE_MENTION.search(text.lower()))


def size_value(tok: str) -> str:
    """An English size word or letter as the schema's size ("medium" -> M, "xl" -> XL, "38" -> 38)."""
    tok = tok.strip().lower()
    if tok in EN_SIZE_WORD:
        return EN_SIZE_WORD[tok]
    return tok.upper()


def zh_size(s: str) -> str | None:
    """A size as said in Chinese (M码, 38号, 中号, 加大) as the schema's size; None when it is not one."""
    s = s.strip().lower()
    s2 = s.rstrip("码号")
    if rx(r"xxs|xxl|xs|xl|s|m|l|\d{2,3}").fullmatch(s2):
        return s2.upper()
    key = s2 + "号"
    if key in ZH_SIZE_WORD:
        return ZH_SIZE_WORD[key]
    return ZH_SIZE_WORD.get(s2)


def has_sep(t: str, a: int, b: int) -> bool:
    """Whether a clause separator ("and", "，", "然后"...) lies between positions a and b."""
    return bool(CLAUSE_SEP.search(t[min(a, b) : max(a, b)]))


def scan_slots(sc: Scanner) -> None:
    """Record the views, then the nouns and attributes (category, pattern, colour, occasion), in that order."""
    sc.vocab("view", EN_VIEW, en=True)
    sc.vocab("view", ZH_VIEW, en=False)
    sc.vocab("category", EN_CATEGORY, en=True)
    sc.vocab("category", ZH_CATEGORY, en=False)
    sc.vocab("pattern", EN_PATTERN, en=True)
    sc.vocab("pattern", ZH_PATTERN, en=False)
    _scan_colors(sc)
    sc.vocab("occasion", EN_OCCASION, en=True)
    sc.vocab("occasion", ZH_OCCASION, en=False)
    for m in sc.find(_IN_COLOR):
        sc.take("noise", m.start(), m.end(), record=False)


def _scan_colors(sc: Scanner) -> None:
    t = sc.t
    for m in sc.find(EN_COLOR_RE.pattern):
        sc.take("color", m.start(), m.end(), en_color(m.group(0)))
    for pat, val in ZH_COLOR:
        for m in sc.find(pat):
            # a bare colour character must look like a colour (黑的, 红裙, 白色), not part of a word (明白)
            if len(m.group(0)) == 1 and not rx(r"[色的款系]|$|[tT\u4e00-\u9fff]").match(t[m.end() : m.end() + 1]):
                continue
            if len(m.group(0)) == 1 and m.start() > 0 and t[m.start() - 1] in "明空清坦":
                continue
            sc.take("color", m.start(), m.end(), val)
