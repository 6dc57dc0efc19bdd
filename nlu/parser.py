"""The one entry point: text (+ context) -> actions and a short reply.

Order: input checks (length, control characters) -> safety screen (prompt injection, other shoppers' data: no
action, polite refusal) -> rules (when they explain the whole utterance) -> local LLM (constrained JSON, validated)
-> grounding (replies are templated from the actions, so sizes and fit verdicts are never invented by the LLM).
`parse` is synchronous and may take seconds on the LLM path: call it from an executor, not the event loop.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from fitmirror.config import get_settings
from fitmirror.errors import InputError
from nlu.context import ParseContext
from nlu.regex import rx
from nlu.replies import NOT_UNDERSTOOD, REFUSAL, detect_lang, reply_for
from nlu.rules import parse_rules
from nlu.schema import LETTER_SIZES, Command

log = logging.getLogger("fitmirror.nlu")

Backend = Literal["auto", "rules", "llm"]
RULES_MIN_CONFIDENCE = 0.75  # below this the rules' reading leaves words unexplained; ask the LLM

_INJECTION = re.compile(
    r"ignore (?:all |any |the |your )?(?:previous|prior|above|earlier|preceding|system)?\s*(?:instructions?|prompts?|rules)|"
    r"disregard (?:all |the |your )?(?:previous |prior |above )?(?:instructions?|rules)|system prompt|developer mode|jailbreak|"
    r"you are now|pretend (?:to be|you are)|act as (?:an? )?(?:admin|developer|system)|reveal (?:your|the) (?:prompt|instructions)|"
    r"(?:other|another|previous|last|next) (?:customer|shopper|user|client|person)'?s?(?: data| details| measurements| address| orders?| sizes?| info| information| history| purchases)?|"
    r"someone else'?s|everyone'?s (?:data|measurements|sizes)|all (?:customers|users|shoppers)|credit card|password|api[ _-]?key|"
    r"(?:email|home) address|phone number|sql|drop table|<script|"
    r"忽略(?:之前|以上|前面|上面|所有)?的?(?:所有)?(?:指令|指示|说明|规则|提示)|系统提示|提示词|开发者模式|越狱|"
    r"(?:其他|别的|上一个|前一个|下一个|另一个)(?:顾客|用户|客户|人)|别人的|所有(?:顾客|用户|客户)|密码|信用卡|手机号|住址|地址",
    re.IGNORECASE,
)
_LETTERS = "|".join(sorted(LETTER_SIZES, key=len, reverse=True))  # longest first: "XXL" before "XL"
_SIZE_CLAIM = re.compile(rf"\b(?:size|sizes)\s+(?:{_LETTERS}|\d{{2}})\b|(?:{_LETTERS})\s*码|尺码是", re.I)


@dataclass
class ParseResult:
    actions: list[Any]
    reply: str
    backend_used: str  # "rules", "llm:<name>", "safety", "none"
    latency_ms: float
    confidence: float = 1.0
    lang: str = "en"
    notes: list[str] = field(default_factory=list)

    def command(self) -> Command:
        return Command(actions=self.actions, reply=self.reply)

    def to_dict(self) -> dict:
        return {
            "actions": [a.model_dump(exclude_none=True) for a in self.actions],
            "reply": self.reply,
            "backend_used": self.backend_used,
            "latency_ms": round(self.latency_ms, 2),
            "confidence": self.confidence,
            "lang": self.lang,
        }


def clean_text(text: str, max_chars: int | None = None) -> str:
    """Bounded, printable, NFKC-normalised input; raises InputError for empty or oversized utterances."""
    if not isinstance(text, str):
        raise InputError("the command must be text")
    limit = max_chars or get_settings().max_utterance_chars
    if len(text) > limit:
        raise InputError(
            f"the command is {len(text)} characters long; the limit is {limit}",
            hint="say one or two things at a time, e.g. 'show me the blue dress in size M'",
        )
    t = unicodedata.normalize("NFKC", text)
    t = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in t)
    t = rx(r"\s+").sub(" ", t).strip()
    if not t:
        raise InputError("the command is empty")
    return t


def is_unsafe(text: str) -> bool:
    """Prompt injection or a request for someone else's data: treated as data, answered with a refusal."""
    return bool(_INJECTION.search(text))


def parse(
    text: str,
    ctx: ParseContext | None = None,
    backend: Backend = "auto",
    llm: Any = None,
) -> ParseResult:
    """Parse one utterance. `llm` overrides the configured LLM backend (an `nlu.llm.LLMBackend`)."""
    t0 = time.perf_counter()
    ctx = ctx or ParseContext()
    t = clean_text(text)
    lang = detect_lang(t, ctx.lang)

    def done(
        actions: list[Any], reply: str, used: str, conf: float = 1.0, notes: list[str] | None = None
    ) -> ParseResult:
        return ParseResult(actions, reply, used, (time.perf_counter() - t0) * 1000.0, conf, lang, notes or [])

    if is_unsafe(t):
        log.info("nlu: refused an utterance that looks like prompt injection or a data request")
        return done([], REFUSAL[lang], "safety")

    rules = parse_rules(t, ctx) if backend in ("auto", "rules") else None
    if backend == "rules" or (rules is not None and rules.confidence >= RULES_MIN_CONFIDENCE):
        if rules is None:
            return done([], NOT_UNDERSTOOD[lang], "none", 0.0)
        return done(rules.actions, rules.reply, "rules", rules.confidence)

    from nlu.llm import get_backend

    engine = llm or get_backend()
    if engine is None:  # FITMIRROR_LLM_BACKEND=off: the rules are all there is
        if rules is not None:
            return done(rules.actions, rules.reply, "rules", rules.confidence, ["llm disabled"])
        return done([], NOT_UNDERSTOOD[lang], "none", 0.0, ["llm disabled"])
    cmd, raw_ok = engine.parse(t, ctx, lang)
    if not raw_ok:
        # The LLM produced something that does not validate: no action rather than a guess.
        if rules is not None:
            return done(rules.actions, rules.reply, "rules", rules.confidence, ["llm output invalid"])
        return done([], NOT_UNDERSTOOD[lang], f"llm:{engine.name}", 0.0, ["llm output invalid"])
    actions = ground_actions(cmd.actions, ctx, t)
    if actions:
        reply = reply_for(actions, lang)
    else:
        reply = cmd.reply.strip() if cmd.reply.strip() and not _SIZE_CLAIM.search(cmd.reply) else NOT_UNDERSTOOD[lang]
        if lang == "zh" and not rx(r"[\u4e00-\u9fff]").search(reply):
            reply = NOT_UNDERSTOOD["zh"]
    return done(actions, reply, f"llm:{engine.name}", 0.9)


# An LLM action that undoes or clears must have been asked for: a nonsense utterance once became "undo".
_CUES = {
    "undo": r"\b(?:undo|go back|back to|take that back|revert|cancel|never ?mind|previous|the last one|before)\b|"
    r"撤销|撤回|上一|算了|刚才|换回|回到",
    "reset": r"\b(?:reset|start (?:over|again|from scratch)|clear|everything off|take (?:it all|everything) off|"
    r"remove (?:everything|all))\b|重置|重新|清空|全部|都脱",
    "remove": r"\b(?:remove|take (?:\w+ )?off|without|no more|get rid|lose the|drop the)\b|脱|去掉|不要|拿掉",
}


_IMPERIAL = r"\b(?:feet|foot|ft|inch|inches|in|lbs?|pounds?|stone)\b|['\"′″]|英尺|英寸|磅|斤"


def _numbers(text: str) -> set[float]:
    return {round(float(n), 1) for n in rx(r"\d+(?:[.,]\d+)?").findall(text.replace(",", "."))}


def ground_actions(actions: list[Any], ctx: ParseContext, text: str | None = None) -> list[Any]:
    """Drop what the LLM cannot know: product ids not in the catalogue, and (given the utterance) a colour or an
    absolute size nobody said, a measurement whose number was not said, and undo / reset / remove without a word
    asking for it. The 1.5B model copies values from the context ("something elegant for a wedding in blue" while
    wearing a white tee came back as "white, size 38"), invents measurements (height 170, weight 60 for a long
    request about a wedding) and turned nonsense into "undo"; "+1"/"-1" (bigger, smaller) stay."""
    from nlu.rules import mentioned_colors, mentions_size

    ids = {p.id for p in ctx.catalog} | {i.id for i in ctx.outfit}
    colors = mentioned_colors(text) if text is not None else None
    sized = mentions_size(text) if text is not None else True
    said = _numbers(text) if text is not None else None
    low = text.lower() if text is not None else None
    out = []
    for a in actions:
        kind = getattr(a, "type", None)
        if low is not None and kind in _CUES and not rx(_CUES[kind]).search(low):
            continue
        if said is not None and kind == "set_measurement" and round(float(a.value), 1) not in said:
            if not (said and rx(_IMPERIAL).search(low or "")):  # "5 foot 6" -> 167.6 cm is a conversion
                continue
        if kind == "select" and a.product_id and a.product_id not in ids:
            a = a.model_copy(update={"product_id": None})
        if colors is not None:
            if kind == "set_color" and a.color not in colors:
                continue
            if kind == "select" and a.color is not None and a.color not in colors:
                a = a.model_copy(update={"color": None})
        if kind == "set_size" and not sized and a.size not in ("+1", "-1"):
            continue
        out.append(a)
    return out


def parse_fast(text: str, ctx: ParseContext | None = None) -> ParseResult | None:
    """The part of `parse` that needs no LLM (a safety refusal or a confident rules parse), else None.
    Callers run this inline so rules-path commands never wait behind queued LLM calls."""
    r = parse(text, ctx, backend="rules")
    if r.backend_used == "safety" or (r.backend_used == "rules" and r.confidence >= RULES_MIN_CONFIDENCE):
        return r
    return None
