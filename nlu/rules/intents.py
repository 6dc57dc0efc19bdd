"""Intent rules: the phrases of whole commands (fit map, reset, undo, back to an earlier item, size advice and
comparison, remove / recommend triggers, relative and absolute sizes, garment adjustments), in English and Chinese.

Each rule takes the `Utterance` and returns the actions it found, each with the position of its trigger. They run
in the order of `COMMAND_RULES`, before the vocabularies (`slots.scan_slots`), and each takes the characters it
explains, so a later rule cannot read them again: the order is part of the behaviour (the fit map goes first so its
"hide"/"remove" words are not a removal; the measurements go before the sizes so "size 32" is not a waist)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nlu.regex import rx
from nlu.rules.lexicon import CJK, EN_CATEGORY, SIZE_TOKEN, ZH_CATEGORY, ZH_SIZE_WORD
from nlu.rules.measurements import measurements
from nlu.rules.scanner import Positioned, Utterance
from nlu.rules.slots import size_value, zh_size

# ------------------------------------------------------------------------------------------------ patterns
_FIT_MAP_EN = (
    r"(?:(?P<off>hide|turn off|switch off|remove|close|disable|no|without|stop showing|get rid of) (?:the )?)?"
    r"(?:fit )?(?:fit|heat|pressure|tightness|stress)[- ]?map(?: (?P<off2>off))?(?: (?:on))?|"
    r"(?:show|see|where) (?:me )?(?:is it|does it feel|it'?s|it is) (?:tight|loose)(?: or loose)?|where (?:is it|does it pinch)"
)
_FIT_MAP_ZH = r"(?P<off>关掉|关闭|隐藏|不要|取消|去掉)?(?:显示)?(?:一下)?(?:合身图|热力图|压力图|松紧图|合身度图|贴合图|松紧度|松紧)(?P<off2>关掉|关了|关闭)?|哪里紧|哪儿紧|哪里松"
_RESET = (
    r"\b(?:reset(?: everything| all| the outfit)?|start (?:over|again|from scratch)|clear (?:everything|all|the outfit)|"
    r"take (?:everything|it all|all of it) off|remove everything|take off everything)\b|重置|重新开始|全部清空|清空|全部脱掉|(?:衣服)?都脱了|全脱了|都脱掉|重新来|重来"
)
_PREVIOUS = (
    r"(?:switch|go|change|put|bring) (?:it )?back to (?:the )?(?:previous|last|earlier|old|other|one before|one i had)(?: one| (?P<cat1>[a-z-]+))?(?: before)?|"
    r"(?:the )?(?:previous|last) (?:one|item|outfit)(?: again)?|the one (?:i had )?before|(?:换回|还是)(?:刚才|之前|上一|前一)(?:那|一)?(?:件|条|套|个)|"
    r"(?:刚才|之前|上一)(?:那|一)?(?:件|条|套)(?:还是)?(?:更好|吧)?|换回去"
)
_UNDO = r"\b(?:undo(?: that| it)?|go back|take that back|revert(?: that)?|cancel that|never ?mind)\b|(?:撤销|撤回|返回)上一步|撤销|撤回|上一步|算了"
_COMPARE_EN = (
    rf"(?:compare|comparison of|difference between)(?: (?:the )?sizes?)? (?P<a>{SIZE_TOKEN})(?: size)?(?:,| (?:and|with|vs\.?|versus|to|or)) ?(?:size )?(?P<b>{SIZE_TOKEN})(?:,? (?:and|or)? ?(?:size )?(?P<c>{SIZE_TOKEN}))?|"
    rf"(?:size )?(?P<a2>{SIZE_TOKEN}) (?:vs\.?|versus) (?:size )?(?P<b2>{SIZE_TOKEN})|"
    rf"(?:should i (?:get|take|buy|go (?:for|with))|is|would) (?:a |an |the )?(?:size )?(?P<a3>{SIZE_TOKEN}) or (?:a |an |the )?(?:size )?(?P<b3>{SIZE_TOKEN})(?: (?:better|fit me better|be better))?"
)
_ZH_SIZE = r"(?:[a-z]{1,3}|\d{2,3}|超小|加小|特小|小|中|大|加大|特大|加加大|超大)(?:码|号)?"
_COMPARE_ZH = (
    rf"(?:比较|对比|比一下)(?:一下)?(?P<a>{_ZH_SIZE})(?:和|跟|与|还是)(?P<b>{_ZH_SIZE})|"
    rf"(?P<a2>{_ZH_SIZE})(?:和|跟|与|还是)(?P<b2>{_ZH_SIZE})(?:比较|对比|比)(?:一下)?|"
    rf"(?P<a3>{_ZH_SIZE})(?:和|跟|还是)(?P<b3>{_ZH_SIZE})(?:哪个|那个)(?:更)?(?:好|合适|合身|适合)|"
    rf"(?:买|选|穿|要)(?P<a4>{_ZH_SIZE})还是(?P<b4>{_ZH_SIZE})"
)
_SIZE_ADVICE = (
    r"(?:which|what) size (?:would|do|can) you (?:recommend|suggest)(?: for me)?|(?:which|what) size (?:should i (?:get|take|buy|order|wear|choose|go for)|(?:would |will |does |do )?(?:fits?|suits?) me(?: best)?|am i|do i (?:need|wear|take)|is (?:best|right) for me|is my size|for me|fits best)|"
    r"what(?:'s| is) my size|find my size|my (?:right |best )?size|recommend (?:me )?a size|size (?:recommendation|advice)|(?:right|best|correct) size(?: for me)?|"
    r"(?:does|do|will|would) (?:it|this|that|these|they)(?: \w+)? (?:fit|suit) me|how (?:does|do|will) (?:it|this|that|they)(?: \w+)? fit|is (?:it|this|that) (?:too )?(?:small|big|tight|loose) (?:for me|on me)|"
    r"is (?:it|this) (?:too )?(?:small|big|tight|loose)|is (?:this|it) my size|am i (?:a|an) (?:xs|s|m|l|xl|small|medium|large)"
    r"|(?:穿|选|买|要)?(?:什么|哪个|哪一个|多大|几)(?:尺码|码|号|个码|尺寸)|尺码建议|推荐(?:一下)?尺码|推荐(?:个|一个)?码|合身吗|合适吗|适合我吗|(?:尺码|大小|尺寸)(?:合适|合身)(?:吗)?|我的尺码"
)
_REMOVE_EN = r"\b(?:take off|remove|get rid of|lose|drop|without|take (?:the|my|that|this|it)(?: \w+)? off|no more)\b"
_REMOVE_ZH = r"脱掉|脱下|脱了|去掉|拿掉|摘掉|不要(?:穿)?(?=.{0,4}(?:[裙裤衣衫套恤]))|不穿"
_BA = r"把(?=.{1,6}(?:脱|去掉|拿掉))"  # 把外套脱了: the 把 belongs to the removal
_RECOMMEND = (
    r"\b(?:what (?:would |could |should |does |will )?(?:go(?:es)?|look good|match(?:es)?) (?:well )?with (?:it|this|that|them|(?:my|the|these|those|this|that) [\w-]+)|"
    r"complete (?:the|my|this) (?:look|outfit)|finish (?:the|my) look|what matches(?: (?:this|it))?|what should i wear|what (?:do|would) you (?:recommend|suggest)|"
    r"(?:recommend|suggest) (?:something|an outfit|a look|me something|what to wear)|style (?:it|this|me)|pair (?:it|this) with|"
    r"match(?:ing)? (?:it|this|with (?:it|this))|put together an outfit|outfit ideas?|help me (?:dress|choose an outfit))\b|"
    r"配什么|怎么配|怎么搭|搭配|推荐(?:一下|一套|些|点)?|建议(?:一下)?|穿什么(?:好|合适)?|整体造型|配一下|配套"
)
_SIZE_UP = (
    r"\b(?:(?:one|a|1) )?size (?:up|bigger|larger)|(?:one|a|1) size (?:bigger|larger|up)|(?:go|size) up(?: one| a)?(?: size)?|bigger(?: size| one)?|larger(?: size| one)?|"
    r"next size up|大一(?:码|号|个码|个号|点的码|点)|(?:尺码|码|号)?(?:再)?大一点|加一码|换大(?:码|号|一点)|太小了"
)
_SIZE_DOWN = (
    r"\b(?:(?:one|a|1) )?size (?:down|smaller)|(?:one|a|1) size (?:smaller|down)|(?:go|size) down(?: one| a)?(?: size)?|smaller(?: size| one)?|"
    r"next size down|小一(?:码|号|个码|个号|点的码|点)|(?:尺码|码|号)?(?:再)?小一点|减一码|换小(?:码|号|一点)|太大了"
)
_SIZE_EN = (
    rf"(?<![a-z])(?:in )?(?:(?:a|an|the) )?size (?P<a>{SIZE_TOKEN})(?![a-z])|(?<![a-z])(?:in|into|(?:that )?(?:are|is|comes? in)) (?:a |an |the )?(?P<b>extra extra large|extra small|small|medium|extra large|large|x-large|xs|s|m|l|xl|xxl|2xl)(?![a-z])(?: size| one)?|"
    r"(?<![a-z])(?:a |an )?(?P<c>extra small|small|medium|extra large|large|xs|xl|xxl)(?= size)(?: size)?|"
    r"(?<![a-z])(?P<d>xs|xl|xxl)(?= [a-z])"
)
_SIZE_ZH = r"(?P<a>xxs|xxl|xs|xl|s|m|l|\d{2,3})(?:码|号)|(?P<b>超小号|加小号|特小号|加加大号|加加大|特大号|超大号|加大号|加大|小号|中号|大号)|(?:尺码|码数)(?:是|换成|改成)?(?P<c>xxl|xs|xl|s|m|l|\d{2})"
_SIZE_LETTER = r"(?<![a-z])(xxl|xxs|xs|xl|s|m|l)(?![a-z])"
_SIZE_BARE = r"^(?:(?:and |in |size )?(?P<a>xs|s|m|l|xl|xxl|small|medium|large|extra large))(?: please)?[.!]?$|(?:that|it|this|one) in (?P<b>xs|s|m|l|xl|xxl)\b"

_ADJUST: list[tuple[str, str, int]] = [
    (
        r"(?:longer|long) sleeves?|sleeves? (?:be |are |a bit |a little |slightly )*longer|lengthen the sleeves?|袖子(?:再)?长一?点|袖子加长|长袖",
        "sleeve_length",
        1,
    ),
    (
        r"(?:shorter|short) sleeves?|sleeves? (?:be |are |a bit |a little |slightly )*shorter|shorten the sleeves?|袖子(?:再)?短一?点|袖子改短|短袖(?![tT恤衫])",
        "sleeve_length",
        -1,
    ),
    (r"\blonger\b|\blengthen\b|(?:再)?长一?点|加长|长些", "length", 1),
    (r"\bshorter\b|\bshorten\b|(?:再)?短一?点|改短|短些", "length", -1),
    (
        r"\b(?:looser|baggier|roomier|more relaxed|relaxed fit|less tight|wider|oversized|loosen(?: it)?(?: up)?)\b|宽松一?点|松一?点|肥一?点|宽一?点|宽松",
        "fit",
        1,
    ),
    (
        r"\b(?:tighter|slimmer|more fitted|snugger|narrower|less loose|slim fit|more tailored|tighten(?: it)?(?: up)?|take it in)\b|紧一?点|修身一?点|修身|贴身|瘦一?点|收紧",
        "fit",
        -1,
    ),
]

# ------------------------------------------------------------------------------------------------ rules
Rule = Callable[[Utterance], list[Positioned]]


def _simple(u: Utterance, pattern: str, kind: str, action: dict[str, Any]) -> list[Positioned]:
    """Each match of `pattern` is one fixed action."""
    out: list[Positioned] = []
    for m in u.sc.find(pattern):
        u.sc.take(kind, m.start(), m.end())
        out.append((m.start(), dict(action)))
    return out


def fit_map(u: Utterance) -> list[Positioned]:
    """Show / hide the fit map ("hide the heat map", "哪里紧")."""
    out: list[Positioned] = []
    for pattern in (_FIT_MAP_EN, _FIT_MAP_ZH):
        for m in u.sc.find(pattern):
            off = bool(m.group("off") or m.group("off2"))
            u.sc.take("fit_map", m.start(), m.end())
            out.append((m.start(), {"type": "fit_map", "on": not off}))
    return out


def reset(u: Utterance) -> list[Positioned]:
    """Start over with an empty outfit ("reset everything", "全部脱掉")."""
    return _simple(u, _RESET, "reset", {"type": "reset"})


def previous_item(u: Utterance) -> list[Positioned]:
    """Back to an item worn earlier ("the previous one", "换回刚才那件"), or undo when there is none."""
    t = u.t
    out: list[Positioned] = []
    for m in u.sc.find(_PREVIOUS):
        end, want = m.end(), None
        word = m.group("cat1") or ""
        for pat, val in EN_CATEGORY:
            if word and rx(pat).fullmatch(word):
                want = val
        for pat, val in ZH_CATEGORY:
            mm = rx(pat).match(t[end:])
            if want is None and mm:
                want, end = val, end + mm.end()
        u.sc.take("previous", m.start(), end)
        prev = [p for p in u.ctx.previous_items() if want is None or p.category == want]
        if prev:
            p = prev[0]
            action = {
                "type": "select",
                "category": p.category,
                "color": p.color,
                "product_id": p.id,
                "text": p.name or None,
            }
            out.append((m.start(), action))
        elif want is not None:
            out.append((m.start(), {"type": "select", "category": want}))
        else:
            out.append((m.start(), {"type": "undo"}))
    return out


def undo(u: Utterance) -> list[Positioned]:
    """Undo the last change ("never mind", "撤销")."""
    return _simple(u, _UNDO, "undo", {"type": "undo"})


def compare_sizes(u: Utterance) -> list[Positioned]:
    """Compare two or three sizes ("compare M and L", "M还是L哪个合适")."""
    out: list[Positioned] = []
    for m in u.sc.find(_COMPARE_EN):
        g = m.groupdict()
        sizes = [g[k] for k in ("a", "b", "c", "a2", "b2", "a3", "b3") if g.get(k)]
        u.sc.take("compare", m.start(), m.end())
        out.append((m.start(), {"type": "compare_sizes", "sizes": [size_value(s) for s in sizes]}))
    for m in u.sc.find(_COMPARE_ZH):
        g = m.groupdict()
        zh_sizes = [zh_size(g[k]) for k in ("a", "b", "a2", "b2", "a3", "b3", "a4", "b4") if g.get(k)]
        if all(zh_sizes):
            u.sc.take("compare", m.start(), m.end())
            out.append((m.start(), {"type": "compare_sizes", "sizes": zh_sizes}))
    return out


def size_advice(u: Utterance) -> list[Positioned]:
    """Which size fits me ("what size should I get", "我该穿什么尺码")."""
    return _simple(u, _SIZE_ADVICE, "size_advice", {"type": "size_advice"})


def remove_triggers(u: Utterance) -> list[Positioned]:
    """Remove words ("take off", "脱掉"): kept on `u.removes`, resolved to the garment named next to them later."""
    for m in u.sc.find(_REMOVE_EN + "|" + _REMOVE_ZH):
        u.removes.append(u.sc.take("remove", m.start(), m.end()))
    for m in u.sc.find(_BA):
        u.sc.take("noise", m.start(), m.end(), record=False)
    return []


def recommend_triggers(u: Utterance) -> list[Positioned]:
    """Recommendation requests ("what goes with this", "怎么搭"): kept on `u.recs`, resolved with the occasion later."""
    for m in u.sc.find(_RECOMMEND):
        u.recs.append(u.sc.take("recommend", m.start(), m.end()))
    return []


def relative_size(u: Utterance) -> list[Positioned]:
    """One size up or down ("a size bigger", "小一码")."""
    return _simple(u, _SIZE_UP, "set_size", {"type": "set_size", "size": "+1"}) + _simple(
        u, _SIZE_DOWN, "set_size", {"type": "set_size", "size": "-1"}
    )


def absolute_size(u: Utterance) -> list[Positioned]:
    """A named size: English ("in size M", "XL dresses"), Chinese (中号, 38码), a Latin letter in a Chinese
    sentence (有XL吗), a bare size ("M please", "that in L")."""
    out = _en_named_size(u) + _zh_named_size(u)
    if CJK.search(u.t):
        out += _latin_size_in_zh(u)
    return out + _bare_size(u)


def _en_named_size(u: Utterance) -> list[Positioned]:
    out: list[Positioned] = []
    for m in u.sc.find(_SIZE_EN):
        v = m.group("a") or m.group("b") or m.group("c") or m.group("d")
        u.sc.take("set_size", m.start(), m.end())
        # "XL dresses": the size applies to the product named after it, so it comes after that select
        pos = m.start() if not m.group("d") else m.end() + len(rx(r" [a-z-]*").match(u.t[m.end() :]).group(0))
        out.append((pos, {"type": "set_size", "size": size_value(v)}))
    return out


def _zh_named_size(u: Utterance) -> list[Positioned]:
    out: list[Positioned] = []
    for m in u.sc.find(_SIZE_ZH):
        v = m.group("a") or m.group("c")
        u.sc.take("set_size", m.start(), m.end())
        out.append((m.start(), {"type": "set_size", "size": v.upper() if v else ZH_SIZE_WORD[m.group("b")]}))
    return out


def _latin_size_in_zh(u: Utterance) -> list[Positioned]:
    """有XL吗, 要M的."""
    out: list[Positioned] = []
    for m in u.sc.find(_SIZE_LETTER):
        u.sc.take("set_size", m.start(), m.end())
        out.append((m.start(), {"type": "set_size", "size": m.group(1).upper()}))
    return out


def _bare_size(u: Utterance) -> list[Positioned]:
    """A bare size letter at the end: "M please", "medium" alone, "that in M"."""
    out: list[Positioned] = []
    for m in u.sc.find(_SIZE_BARE):
        v = m.group("a") or m.group("b")
        u.sc.take("set_size", m.start(), m.end())
        out.append((m.start(), {"type": "set_size", "size": size_value(v)}))
    return out


def adjust(u: Utterance) -> list[Positioned]:
    """Garment adjustments: sleeve length, length, fit ("make the sleeves longer", "宽松一点")."""
    out: list[Positioned] = []
    for pat, attr, d in _ADJUST:
        for m in u.sc.find(pat):
            u.sc.take("adjust", m.start(), m.end())
            out.append((m.start(), {"type": "adjust", "attribute": attr, "direction": d}))
    return out


# the order matters: each rule takes the characters it explains before the next one looks
COMMAND_RULES: tuple[Rule, ...] = (
    fit_map,
    reset,
    previous_item,
    undo,
    compare_sizes,
    size_advice,
    remove_triggers,
    recommend_triggers,
    measurements,
    relative_size,
    absolute_size,
    adjust,
)
