"""The scanner the rules match with: it finds phrases in the normalised text and remembers which characters they
explain, so a later matcher cannot reuse them and whatever stays unexplained lowers the confidence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nlu.context import ParseContext
from nlu.regex import rx
from nlu.rules.lexicon import CJK, EN_STOP, ZH_STOP

# an action dict and the position of its trigger in the text: actions are emitted in the order they were said
Positioned = tuple[int, dict[str, Any]]


@dataclass
class Hit:
    kind: str
    start: int
    end: int
    value: Any = None


class Scanner:
    """Finds phrases, remembers which characters they explain."""

    def __init__(self, text: str) -> None:
        self.t = text
        self.used = [False] * len(text)
        self.hits: list[Hit] = []

    def free(self, s: int, e: int) -> bool:
        return not any(self.used[s:e])

    def take(self, kind: str, s: int, e: int, value: Any = None, record: bool = True) -> Hit:
        for i in range(s, e):
            self.used[i] = True
        h = Hit(kind, s, e, value)
        if record:
            self.hits.append(h)
        return h

    def find(self, pattern: str, flags: int = 0) -> list[re.Match]:
        return [m for m in rx(pattern, flags).finditer(self.t) if self.free(m.start(), m.end())]

    def vocab(self, kind: str, table: list[tuple[str, str]], en: bool) -> None:
        for pat, val in table:
            pattern = rf"(?<![a-z])(?:{pat})(?![a-z])" if en else pat
            for m in self.find(pattern):
                self.take(kind, m.start(), m.end(), val)

    def of_kind(self, kind: str) -> list[Hit]:
        return [h for h in self.hits if h.kind == kind]

    def leftover(self) -> list[str]:
        rest = "".join(c if not u else " " for c, u in zip(self.t, self.used, strict=True))
        words = rx(r"[a-z][a-z']*|\d+(?:\.\d+)?|[\u4e00-\u9fff]").findall(rest)
        out = []
        for w in words:
            if CJK.match(w):
                if w not in ZH_STOP:
                    out.append(w)
            elif w not in EN_STOP:
                out.append(w)
        return out


@dataclass
class Utterance:
    """What every rule works on: the text as said, its normalised form `t`, the reply language, the parse
    context, the scanner over `t`, and the remove / recommend triggers found (resolved once the nouns are known)."""

    text: str
    t: str
    lang: str
    ctx: ParseContext
    sc: Scanner
    removes: list[Hit] = field(default_factory=list)
    recs: list[Hit] = field(default_factory=list)
