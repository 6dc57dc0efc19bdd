"""`parse_rules`: normalise, run the command rules in order, scan the vocabularies, resolve the hits into actions,
then validate them and score how much of the utterance they explain."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nlu.context import ParseContext
from nlu.regex import rx
from nlu.replies import detect_lang, reply_for
from nlu.rules.intents import COMMAND_RULES
from nlu.rules.normalization import normalize
from nlu.rules.resolve import resolve
from nlu.rules.scanner import Positioned, Scanner, Utterance
from nlu.rules.slots import scan_slots
from nlu.schema import ActionAdapter

_INJECTION_HINT = re.compile(r"ignore|instruction|system prompt|忽略|指令|提示词")


@dataclass
class RulesResult:
    actions: list[Any]
    reply: str
    confidence: float
    leftover: list[str] = field(default_factory=list)


def parse_rules(text: str, ctx: ParseContext | None = None) -> RulesResult | None:
    """Parse with the rules; `None` when nothing is recognised. `confidence` < 1 when words were left unexplained."""
    ctx = ctx or ParseContext()
    t = normalize(text)
    if not t or _INJECTION_HINT.search(t):
        return None
    u = Utterance(text=text, t=t, lang=detect_lang(text, ctx.lang), ctx=ctx, sc=Scanner(t))
    acts: list[Positioned] = []
    for rule in COMMAND_RULES:  # whole-command phrases first, so their words are not read as slots
        acts += rule(u)
    scan_slots(u.sc)
    acts += resolve(u, acts)
    return _result(u, acts)


def _result(u: Utterance, acts: list[Positioned]) -> RulesResult | None:
    """The actions in the order they were said, validated; confidence from the words nothing explained."""
    if not acts:
        return None
    acts.sort(key=lambda x: x[0])
    actions = []
    try:
        for _, a in acts:
            actions.append(ActionAdapter.validate_python({k: v for k, v in a.items() if v is not None}))
    except ValidationError:
        return None
    leftover = u.sc.leftover()
    n_words = max(1, len(rx(r"[a-z][a-z']*|\d+|[\u4e00-\u9fff]").findall(u.t)))
    conf = 1.0 if not leftover else max(0.0, 1.0 - 2.0 * len(leftover) / n_words)
    return RulesResult(actions=actions, reply=reply_for(actions, u.lang), confidence=round(conf, 3), leftover=leftover)


# one of each kind of command: parsing them compiles (nearly) every pattern the rules use
WARM_UP_TEXTS = (
    "show me the blue dress in size M, turn around",
    "换成红色，大一码",
    "I'm 170 cm and 60 kg",
    "compare M and L",
)


def warm_up() -> None:
    """Compile the patterns once (about 0.1 s) so the first real command is as fast as the rest."""
    for s in WARM_UP_TEXTS:
        parse_rules(s)
