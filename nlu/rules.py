"""Deterministic parser for the common commands in English and Chinese (well under 5 ms).

How it works: the normalised utterance is scanned by a fixed list of phrase matchers (views, sizes, colours,
categories, measurements...). Each match records its character span, and actions are emitted in the order their
trigger appears in the text, so "show me the blue dress in size M" gives select{dress, blue} then set_size{M}.
Attributes (colour, pattern, occasion) attach to the nearest category mention in the same clause.
What is left unmatched decides the confidence: content words the matchers did not explain mean the utterance
says something the rules do not model, and the parser returns `None` (or a low confidence) so the LLM takes over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nlu.context import ParseContext
from nlu.regex import rx
from nlu.replies import detect_lang, reply_for
from nlu.schema import ActionAdapter

# ------------------------------------------------------------------------------------------------ vocabularies
# (regex, value) lists; longer phrases first. English patterns are matched on word boundaries.
EN_CATEGORY = [
    (r"t[- ]?shirts?|tee shirts?|tees?|tank ?tops?", "tshirt"),
    (r"blouses?|tops", "blouse"),
    (r"shirts?|button[- ]downs?", "shirt"),
    (r"sweaters?|jumpers?|hoodies?|pullovers?|cardigans?|sweatshirts?", "sweater"),
    (r"jackets?|blazers?|bombers?", "jacket"),
    (r"coats?|overcoats?|trench(?:coat)?s?|parkas?", "coat"),
    (r"dress(?:es)?|gowns?", "dress"),
    (r"skirts?", "skirt"),
    (r"jeans", "jeans"),
    (r"trousers|pants|slacks|chinos|joggers|sweatpants", "trousers"),
    (r"shorts", "shorts"),
]
ZH_CATEGORY = [
    (r"[tT]恤|短袖[tT]恤|短袖衫|体恤", "tshirt"),
    (r"女式衬衫|女士衬衫|雪纺衫|罩衫", "blouse"),
    (r"衬衫|衬衣", "shirt"),
    (r"毛衣|卫衣|针织衫|开衫|套头衫", "sweater"),
    (r"大衣|风衣|羽绒服|长外套", "coat"),
    (r"夹克|外套|西装外套", "jacket"),
    (r"连衣裙|长裙", "dress"),
    (r"半身裙|短裙|裙子|裙", "skirt"),
    (r"牛仔裤", "jeans"),
    (r"短裤", "shorts"),
    (r"长裤|西裤|休闲裤|裤子", "trousers"),
]
EN_COLOR = [
    (r"navy(?: blue)?|dark blue|midnight blue", "navy"),
    (r"light blue|sky blue|blue", "blue"),
    (r"black", "black"),
    (r"white|ivory", "white"),
    (r"gr[ae]y|charcoal|silver", "grey"),
    (r"red|burgundy|maroon|wine|crimson", "red"),
    (r"orange", "orange"),
    (r"yellow|gold(?:en)?|mustard", "yellow"),
    (r"green|olive|khaki green|mint", "green"),
    (r"purple|violet|lilac|lavender", "purple"),
    (r"pink|rose", "pink"),
    (r"brown|chocolate|tan|camel", "brown"),
    (r"beige|cream|khaki|sand|nude", "beige"),
]
ZH_COLOR = [
    (r"藏青色?|藏蓝色?|海军蓝|深蓝色?", "navy"),
    (r"浅蓝色?|天蓝色?|蓝色|蓝", "blue"),
    (r"黑色|黑", "black"),
    (r"白色|米白色|白", "white"),
    (r"灰色|灰", "grey"),
    (r"酒红色?|红色|红", "red"),
    (r"橙色|橘色|橙", "orange"),
    (r"黄色|金色|黄", "yellow"),
    (r"绿色|军绿色?|绿", "green"),
    (r"紫色|紫", "purple"),
    (r"粉红色|粉色|粉", "pink"),
    (r"棕色|咖啡色|褐色|棕", "brown"),
    (r"米色|卡其色|驼色", "beige"),
]
EN_PATTERN = [
    (r"stripe[ds]?|stripy|pinstriped?", "striped"),
    (r"checked|checkered|plaid|tartan|gingham", "checked"),
    (r"floral|flowery|flowered|flower print", "floral"),
    (r"polka[- ]dots?|dotted|spotted|dots", "dotted"),
    (r"denim", "denim"),
    (r"knit(?:ted)?", "knit"),
    (r"printed|print|graphic", "print"),
    (r"plain|solid(?: colou?r(?:ed)?)?", "solid"),
]
ZH_PATTERN = [
    (r"条纹", "striped"),
    (r"格子|格纹", "checked"),
    (r"碎花|花朵|花卉|印花花", "floral"),
    (r"波点|圆点|点点", "dotted"),
    (r"牛仔", "denim"),
    (r"针织", "knit"),
    (r"印花|图案", "print"),
    (r"纯色|素色", "solid"),
]
EN_OCCASION = [
    (r"weddings?|wedding party", "wedding"),
    (r"part(?:y|ies)|clubbing|celebration", "party"),
    (r"work|office|business|job interview|interview|meetings?", "work"),
    (r"casual|everyday|weekend", "casual"),
    (r"sports?|gym|running|workout|training|yoga", "sport"),
    (r"beach|seaside|pool", "beach"),
    (r"formal|black tie|gala", "formal"),
    (r"evening|dinner|night out|date night|date", "evening"),
    (r"outdoors?|hiking|camping", "outdoor"),
    (r"travel(?:l?ing)?|trip|vacation|holiday", "travel"),
    (r"home|lounging|lounge", "home"),
]
ZH_OCCASION = [
    (r"婚礼|婚宴|喜宴", "wedding"),
    (r"派对|聚会|舞会", "party"),
    (r"上班|工作|通勤|办公室?|面试|开会", "work"),
    (r"休闲|日常|周末", "casual"),
    (r"运动|健身|跑步|瑜伽", "sport"),
    (r"海边|海滩|沙滩", "beach"),
    (r"正式场合|正式", "formal"),
    (r"晚宴|约会|晚上出去", "evening"),
    (r"户外|徒步|爬山|露营", "outdoor"),
    (r"旅行|旅游|出差|度假", "travel"),
    (r"居家|在家", "home"),
]
EN_SIZE_WORD = {
    "extra small": "XS",
    "x-small": "XS",
    "xs": "XS",
    "small": "S",
    "s": "S",
    "medium": "M",
    "m": "M",
    "large": "L",
    "l": "L",
    "extra large": "XL",
    "x-large": "XL",
    "xl": "XL",
    "xxl": "XXL",
    "2xl": "XXL",
    "double xl": "XXL",
    "extra extra large": "XXL",
    "xx-large": "XXL",
    "xxs": "XXS",
    "3xl": "3XL",
    "xxxl": "3XL",
}
ZH_SIZE_WORD = {"超小号": "XS", "加小号": "XS", "特小号": "XS", "小号": "S", "中号": "M", "大号": "L", "加大号": "XL"}
ZH_SIZE_WORD.update({"特大号": "XXL", "加加大号": "XXL", "超大号": "XXL", "加加大": "XXL", "加大": "XL"})
_EN_SIZE_ALT = "|".join(sorted((re.escape(k) for k in EN_SIZE_WORD), key=len, reverse=True))
_SIZE_TOKEN = rf"(?:{_EN_SIZE_ALT}|\d{{2,3}})"

EN_STOP = set(
    """a an the please pls can could would will you i i'd i'll id me my mine to try on want wanna like see let lets let's
    show put wear wearing in it it's its this that these those one ones and then with for of is am are be some something
    anything how about what do does have has get give instead maybe now also too just look looks go change switch make
    bit little more much lot kind sort okay ok hey hi hello yes yeah right now again here there same thing clothes
    outfit item piece into as at please so but or well oh um uh an also really very quite something's want to need
    i'm im i've we us our your color colour version style take off up down size sizes one's looking find show me
    rather prefer instead any other another different new other give them they them their got available option
    pair around view please""".split()
)
ZH_STOP = set(
    "我想要看给请把换成的了吗呢吧啊嗯一下件条个这那它再来帮试穿上身些点还是就用有没能可以下款色号码尺寸也和跟与再"
)
ZH_STOP |= set("让瞧瞧看看吧呀哦好的呗啦要个么什样怎为能否您你是在套转到向往该买选")

_CJK = re.compile(r"[\u4e00-\u9fff]")
_SEP = re.compile(r"\b(?:and|then|plus|also)\b|[,;，；、和跟再然后]|并且|同时")

# ------------------------------------------------------------------------------------------------ numbers
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


# ------------------------------------------------------------------------------------------------ matching
@dataclass
class Hit:
    kind: str
    start: int
    end: int
    value: Any = None


@dataclass
class RulesResult:
    actions: list[Any]
    reply: str
    confidence: float
    leftover: list[str] = field(default_factory=list)


class _Scanner:
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
            rx = rf"(?<![a-z])(?:{pat})(?![a-z])" if en else pat
            for m in self.find(rx):
                self.take(kind, m.start(), m.end(), val)

    def leftover(self) -> list[str]:
        rest = "".join(c if not u else " " for c, u in zip(self.t, self.used, strict=True))
        words = rx(r"[a-z][a-z']*|\d+(?:\.\d+)?|[\u4e00-\u9fff]").findall(rest)
        out = []
        for w in words:
            if _CJK.match(w):
                if w not in ZH_STOP:
                    out.append(w)
            elif w not in EN_STOP:
                out.append(w)
        return out


_EN_COLOR_RE = re.compile(r"(?<![a-z])(?:" + "|".join(p for p, _ in EN_COLOR) + r")(?![a-z])")
_SIZE_MENTION = re.compile(
    rf"(?<![a-z0-9])(?:size|sized)\b|(?<![a-z0-9]){_SIZE_TOKEN}(?![a-z0-9])|"
    + "|".join(map(re.escape, ZH_SIZE_WORD))
    + r"|[0-9零一二两三四五六七八九十]+\s*(?:码|号)|尺码|尺寸"
)


def _en_color(word: str) -> str:
    """The canonical colour of a word _EN_COLOR_RE matched."""
    return next(v for p, v in EN_COLOR if rx(p).fullmatch(word))


def mentioned_colors(text: str) -> set[str]:
    """Canonical colours the utterance names (en and zh), e.g. to ground an LLM's output in what was said."""
    t = text.lower()
    found = {_en_color(m.group(0)) for m in _EN_COLOR_RE.finditer(t)}
    found |= {v for p, v in ZH_COLOR if rx(p).search(t)}
    return found


def mentions_size(text: str) -> bool:
    """Whether the utterance names a size at all ("M", "size 38", "中号", "38码")."""
    return bool(_SIZE_MENTION.search(text.lower()))


def _size_value(tok: str) -> str:
    tok = tok.strip().lower()
    if tok in EN_SIZE_WORD:
        return EN_SIZE_WORD[tok]
    return tok.upper()


def _has_sep(t: str, a: int, b: int) -> bool:
    return bool(_SEP.search(t[min(a, b) : max(a, b)]))


# Phrases for whole commands (checked before the vocabularies so their words are explained).
_INJECTION_HINT = re.compile(r"ignore|instruction|system prompt|忽略|指令|提示词")

EN_VIEW = [
    (
        r"turn(?:ing)? (?:it |yourself |you )?around|spin around|from (?:the )?(?:back|behind|rear)|back view|"
        r"(?:show|see|look at) (?:me )?(?:the |your |my )?(?:back|rear)(?: side| view)?|rear view|what does (?:it|the back) look like from behind|"
        r"(?:show|see) (?:it |me )?from behind|the back",
        "back",
    ),
    (
        r"from (?:the )?front|front view|face (?:me|forward|the front)|turn (?:back )?to (?:the )?front|(?:show|see) (?:me )?(?:the )?front",
        "front",
    ),
    (
        r"(?:three|3)[- ]quarters?(?: view)?|at an angle|(?:45|forty five)[- ]degrees?|diagonal(?: view)?|angled view",
        "three_quarter",
    ),
    (
        r"(?:turn|rotate) (?:to the )?left|left side|from (?:the )?left|left view|side view|from the side|profile(?: view)?|(?:show|see) (?:me )?the side",
        "left",
    ),
    (r"(?:turn|rotate) (?:to the )?right|right side|from (?:the )?right|right view", "right"),
]
ZH_VIEW = [
    (r"转过身来?|转身|转一圈|转一下|背面|后面|背后|后背|背影", "back"),
    (r"正面|前面|转回来", "front"),
    (r"斜侧面?|四分之三|45度|四十五度", "three_quarter"),
    (r"向左转|左转|左侧|左边|左面|侧面|侧身", "left"),
    (r"向右转|右转|右侧|右边|右面", "right"),
]


def parse_rules(text: str, ctx: ParseContext | None = None) -> RulesResult | None:
    """Parse with the rules; `None` when nothing is recognised. `confidence` < 1 when words were left unexplained."""
    ctx = ctx or ParseContext()
    t = normalize(text)
    if not t or _INJECTION_HINT.search(t):
        return None
    lang = detect_lang(text, ctx.lang)
    sc = _Scanner(t)
    acts: list[tuple[int, dict]] = []  # (position, action dict)

    def add(pos: int, action: dict) -> None:
        acts.append((pos, action))

    # --- fit map (before remove/hide words are taken by other matchers)
    for m in sc.find(
        r"(?:(?P<off>hide|turn off|switch off|remove|close|disable|no|without|stop showing|get rid of) (?:the )?)?"
        r"(?:fit )?(?:fit|heat|pressure|tightness|stress)[- ]?map(?: (?P<off2>off))?(?: (?:on))?|"
        r"(?:show|see|where) (?:me )?(?:is it|does it feel|it'?s|it is) (?:tight|loose)(?: or loose)?|where (?:is it|does it pinch)"
    ):
        off = bool(m.group("off") or m.group("off2"))
        sc.take("fit_map", m.start(), m.end())
        add(m.start(), {"type": "fit_map", "on": not off})
    for m in sc.find(
        r"(?P<off>关掉|关闭|隐藏|不要|取消|去掉)?(?:显示)?(?:一下)?(?:合身图|热力图|压力图|松紧图|合身度图|贴合图|松紧度|松紧)(?P<off2>关掉|关了|关闭)?|哪里紧|哪儿紧|哪里松"
    ):
        off = bool(m.group("off") or m.group("off2"))
        sc.take("fit_map", m.start(), m.end())
        add(m.start(), {"type": "fit_map", "on": not off})

    # --- reset, undo, previous item
    for m in sc.find(
        r"\b(?:reset(?: everything| all| the outfit)?|start (?:over|again|from scratch)|clear (?:everything|all|the outfit)|"
        r"take (?:everything|it all|all of it) off|remove everything|take off everything)\b|重置|重新开始|全部清空|清空|全部脱掉|(?:衣服)?都脱了|全脱了|都脱掉|重新来|重来"
    ):
        sc.take("reset", m.start(), m.end())
        add(m.start(), {"type": "reset"})
    prev_rx = (
        r"(?:switch|go|change|put|bring) (?:it )?back to (?:the )?(?:previous|last|earlier|old|other|one before|one i had)(?: one| (?P<cat1>[a-z-]+))?(?: before)?|"
        r"(?:the )?(?:previous|last) (?:one|item|outfit)(?: again)?|the one (?:i had )?before|(?:换回|还是)(?:刚才|之前|上一|前一)(?:那|一)?(?:件|条|套|个)|"
        r"(?:刚才|之前|上一)(?:那|一)?(?:件|条|套)(?:还是)?(?:更好|吧)?|换回去"
    )
    for m in sc.find(prev_rx):
        end, want = m.end(), None
        word = m.group("cat1") or ""
        for pat, val in EN_CATEGORY:
            if word and rx(pat).fullmatch(word):
                want = val
        for pat, val in ZH_CATEGORY:
            mm = rx(pat).match(t[end:])
            if want is None and mm:
                want, end = val, end + mm.end()
        sc.take("previous", m.start(), end)
        prev = [p for p in ctx.previous_items() if want is None or p.category == want]
        if prev:
            p = prev[0]
            add(
                m.start(),
                {
                    "type": "select",
                    "category": p.category,
                    "color": p.color,
                    "product_id": p.id,
                    "text": p.name or None,
                },
            )
        elif want is not None:
            add(m.start(), {"type": "select", "category": want})
        else:
            add(m.start(), {"type": "undo"})
    for m in sc.find(
        r"\b(?:undo(?: that| it)?|go back|take that back|revert(?: that)?|cancel that|never ?mind)\b|(?:撤销|撤回|返回)上一步|撤销|撤回|上一步|算了"
    ):
        sc.take("undo", m.start(), m.end())
        add(m.start(), {"type": "undo"})

    # --- size advice / compare
    for m in sc.find(
        rf"(?:compare|comparison of|difference between)(?: (?:the )?sizes?)? (?P<a>{_SIZE_TOKEN})(?: size)?(?:,| (?:and|with|vs\.?|versus|to|or)) ?(?:size )?(?P<b>{_SIZE_TOKEN})(?:,? (?:and|or)? ?(?:size )?(?P<c>{_SIZE_TOKEN}))?|"
        rf"(?:size )?(?P<a2>{_SIZE_TOKEN}) (?:vs\.?|versus) (?:size )?(?P<b2>{_SIZE_TOKEN})|"
        rf"(?:should i (?:get|take|buy|go (?:for|with))|is|would) (?:a |an |the )?(?:size )?(?P<a3>{_SIZE_TOKEN}) or (?:a |an |the )?(?:size )?(?P<b3>{_SIZE_TOKEN})(?: (?:better|fit me better|be better))?",
    ):
        g = m.groupdict()
        sizes = [g[k] for k in ("a", "b", "c", "a2", "b2", "a3", "b3") if g.get(k)]
        sc.take("compare", m.start(), m.end())
        add(m.start(), {"type": "compare_sizes", "sizes": [_size_value(s) for s in sizes]})
    zh_size = r"(?:[a-z]{1,3}|\d{2,3}|超小|加小|特小|小|中|大|加大|特大|加加大|超大)(?:码|号)?"
    for m in sc.find(
        rf"(?:比较|对比|比一下)(?:一下)?(?P<a>{zh_size})(?:和|跟|与|还是)(?P<b>{zh_size})|"
        rf"(?P<a2>{zh_size})(?:和|跟|与|还是)(?P<b2>{zh_size})(?:比较|对比|比)(?:一下)?|"
        rf"(?P<a3>{zh_size})(?:和|跟|还是)(?P<b3>{zh_size})(?:哪个|那个)(?:更)?(?:好|合适|合身|适合)|"
        rf"(?:买|选|穿|要)(?P<a4>{zh_size})还是(?P<b4>{zh_size})"
    ):
        g = m.groupdict()
        sizes = [_zh_size(g[k]) for k in ("a", "b", "a2", "b2", "a3", "b3", "a4", "b4") if g.get(k)]
        if all(sizes):
            sc.take("compare", m.start(), m.end())
            add(m.start(), {"type": "compare_sizes", "sizes": sizes})
    for m in sc.find(
        r"(?:which|what) size (?:would|do|can) you (?:recommend|suggest)(?: for me)?|(?:which|what) size (?:should i (?:get|take|buy|order|wear|choose|go for)|(?:would |will |does |do )?(?:fits?|suits?) me(?: best)?|am i|do i (?:need|wear|take)|is (?:best|right) for me|is my size|for me|fits best)|"
        r"what(?:'s| is) my size|find my size|my (?:right |best )?size|recommend (?:me )?a size|size (?:recommendation|advice)|(?:right|best|correct) size(?: for me)?|"
        r"(?:does|do|will|would) (?:it|this|that|these|they)(?: \w+)? (?:fit|suit) me|how (?:does|do|will) (?:it|this|that|they)(?: \w+)? fit|is (?:it|this|that) (?:too )?(?:small|big|tight|loose) (?:for me|on me)|"
        r"is (?:it|this) (?:too )?(?:small|big|tight|loose)|is (?:this|it) my size|am i (?:a|an) (?:xs|s|m|l|xl|small|medium|large)"
        r"|(?:穿|选|买|要)?(?:什么|哪个|哪一个|多大|几)(?:尺码|码|号|个码|尺寸)|尺码建议|推荐(?:一下)?尺码|推荐(?:个|一个)?码|合身吗|合适吗|适合我吗|(?:尺码|大小|尺寸)(?:合适|合身)(?:吗)?|我的尺码"
    ):
        sc.take("size_advice", m.start(), m.end())
        add(m.start(), {"type": "size_advice"})

    # --- remove / recommend
    rm_en = r"\b(?:take off|remove|get rid of|lose|drop|without|take (?:the|my|that|this|it)(?: \w+)? off|no more)\b"
    rm_zh = r"脱掉|脱下|脱了|去掉|拿掉|摘掉|不要(?:穿)?(?=.{0,4}(?:[裙裤衣衫套恤]))|不穿"
    removes: list[Hit] = []
    for m in sc.find(rm_en + "|" + rm_zh):
        removes.append(sc.take("remove", m.start(), m.end()))
    for m in sc.find(r"把(?=.{1,6}(?:脱|去掉|拿掉))"):
        sc.take("noise", m.start(), m.end(), record=False)
    recs: list[Hit] = []
    for m in sc.find(
        r"\b(?:what (?:would |could |should |does |will )?(?:go(?:es)?|look good|match(?:es)?) (?:well )?with (?:it|this|that|them|(?:my|the|these|those|this|that) [\w-]+)|"
        r"complete (?:the|my|this) (?:look|outfit)|finish (?:the|my) look|what matches(?: (?:this|it))?|what should i wear|what (?:do|would) you (?:recommend|suggest)|"
        r"(?:recommend|suggest) (?:something|an outfit|a look|me something|what to wear)|style (?:it|this|me)|pair (?:it|this) with|"
        r"match(?:ing)? (?:it|this|with (?:it|this))|put together an outfit|outfit ideas?|help me (?:dress|choose an outfit))\b|"
        r"配什么|怎么配|怎么搭|搭配|推荐(?:一下|一套|些|点)?|建议(?:一下)?|穿什么(?:好|合适)?|整体造型|配一下|配套"
    ):
        recs.append(sc.take("recommend", m.start(), m.end()))

    # --- set_measurement (before sizes so "size 32" is not a waist)
    _measurements(sc, add, lang)
    for m in sc.find(r"\b(?:around|at|in|on|across) (?:the|my) (?:waist|hips|chest|shoulders?|arms|legs|bottom|top)\b"):
        sc.take("noise", m.start(), m.end(), record=False)

    # --- set size
    for m in sc.find(
        r"\b(?:(?:one|a|1) )?size (?:up|bigger|larger)|(?:one|a|1) size (?:bigger|larger|up)|(?:go|size) up(?: one| a)?(?: size)?|bigger(?: size| one)?|larger(?: size| one)?|"
        r"next size up|大一(?:码|号|个码|个号|点的码|点)|(?:尺码|码|号)?(?:再)?大一点|加一码|换大(?:码|号|一点)|太小了"
    ):
        sc.take("set_size", m.start(), m.end())
        add(m.start(), {"type": "set_size", "size": "+1"})
    for m in sc.find(
        r"\b(?:(?:one|a|1) )?size (?:down|smaller)|(?:one|a|1) size (?:smaller|down)|(?:go|size) down(?: one| a)?(?: size)?|smaller(?: size| one)?|"
        r"next size down|小一(?:码|号|个码|个号|点的码|点)|(?:尺码|码|号)?(?:再)?小一点|减一码|换小(?:码|号|一点)|太大了"
    ):
        sc.take("set_size", m.start(), m.end())
        add(m.start(), {"type": "set_size", "size": "-1"})
    for m in sc.find(
        rf"(?<![a-z])(?:in )?(?:(?:a|an|the) )?size (?P<a>{_SIZE_TOKEN})(?![a-z])|(?<![a-z])(?:in|into|(?:that )?(?:are|is|comes? in)) (?:a |an |the )?(?P<b>extra extra large|extra small|small|medium|extra large|large|x-large|xs|s|m|l|xl|xxl|2xl)(?![a-z])(?: size| one)?|"
        r"(?<![a-z])(?:a |an )?(?P<c>extra small|small|medium|extra large|large|xs|xl|xxl)(?= size)(?: size)?|"
        r"(?<![a-z])(?P<d>xs|xl|xxl)(?= [a-z])"
    ):
        v = m.group("a") or m.group("b") or m.group("c") or m.group("d")
        sc.take("set_size", m.start(), m.end())
        # "XL dresses": the size applies to the product named after it, so it comes after that select
        pos = m.start() if not m.group("d") else m.end() + len(rx(r" [a-z-]*").match(t[m.end() :]).group(0))
        add(pos, {"type": "set_size", "size": _size_value(v)})
    for m in sc.find(
        r"(?P<a>xxs|xxl|xs|xl|s|m|l|\d{2,3})(?:码|号)|(?P<b>超小号|加小号|特小号|加加大号|加加大|特大号|超大号|加大号|加大|小号|中号|大号)|(?:尺码|码数)(?:是|换成|改成)?(?P<c>xxl|xs|xl|s|m|l|\d{2})"
    ):
        v = m.group("a") or m.group("c")
        sc.take("set_size", m.start(), m.end())
        add(m.start(), {"type": "set_size", "size": v.upper() if v else ZH_SIZE_WORD[m.group("b")]})
    if _CJK.search(t):  # a Latin size letter inside a Chinese sentence: 有XL吗, 要M的
        for m in sc.find(r"(?<![a-z])(xxl|xxs|xs|xl|s|m|l)(?![a-z])"):
            sc.take("set_size", m.start(), m.end())
            add(m.start(), {"type": "set_size", "size": m.group(1).upper()})
    # a bare size letter at the end: "that in M" is handled above; "M please", "medium" alone
    for m in sc.find(
        r"^(?:(?:and |in |size )?(?P<a>xs|s|m|l|xl|xxl|small|medium|large|extra large))(?: please)?[.!]?$|(?:that|it|this|one) in (?P<b>xs|s|m|l|xl|xxl)\b"
    ):
        v = m.group("a") or m.group("b")
        sc.take("set_size", m.start(), m.end())
        add(m.start(), {"type": "set_size", "size": _size_value(v)})

    # --- adjust
    adj_rx = [
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
    for pat, attr, d in adj_rx:
        for m in sc.find(pat):
            sc.take("adjust", m.start(), m.end())
            add(m.start(), {"type": "adjust", "attribute": attr, "direction": d})

    # --- views
    sc.vocab("view", EN_VIEW, en=True)
    sc.vocab("view", ZH_VIEW, en=False)

    # --- nouns and attributes
    sc.vocab("category", EN_CATEGORY, en=True)
    sc.vocab("category", ZH_CATEGORY, en=False)
    sc.vocab("pattern", EN_PATTERN, en=True)
    sc.vocab("pattern", ZH_PATTERN, en=False)
    for m in sc.find(_EN_COLOR_RE.pattern):
        sc.take("color", m.start(), m.end(), _en_color(m.group(0)))
    for pat, val in ZH_COLOR:
        for m in sc.find(pat):
            # a bare colour character must look like a colour (黑的, 红裙, 白色), not part of a word (明白)
            if len(m.group(0)) == 1 and not rx(r"[色的款系]|$|[tT\u4e00-\u9fff]").match(t[m.end() : m.end() + 1]):
                continue
            if len(m.group(0)) == 1 and m.start() > 0 and t[m.start() - 1] in "明空清坦":
                continue
            sc.take("color", m.start(), m.end(), val)
    sc.vocab("occasion", EN_OCCASION, en=True)
    sc.vocab("occasion", ZH_OCCASION, en=False)
    for m in sc.find(
        r"\b(?:the )?(?:(?:one|version|colou?r) )?in (?=black|white|gr[ae]y|red|orange|yellow|green|blue|navy|purple|pink|brown|beige)"
    ):
        sc.take("noise", m.start(), m.end(), record=False)

    cats = [h for h in sc.hits if h.kind == "category"]
    colors = [h for h in sc.hits if h.kind == "color"]
    patterns = [h for h in sc.hits if h.kind == "pattern"]
    occasions = [h for h in sc.hits if h.kind == "occasion"]
    views = [h for h in sc.hits if h.kind == "view"]
    for h in views:
        add(h.start, {"type": "view", "view": h.value})

    focus = ctx.focus()
    ref_rx = rx(r"(?:this|that|the same|my|it|这件|这条|那件|那条|这个|这)\s?$")

    # removals take the category that follows (or precedes in 把外套脱了)
    removed_cats: set[int] = set()
    for r in removes:
        cand = [c for c in cats if c.start >= r.end and not _has_sep(t, r.end, c.start)]
        if not cand:
            cand = [c for c in cats if c.end <= r.start and r.start - c.end <= 4]
        c = cand[0] if cand else None
        if c:
            removed_cats.add(id(c))
        add(r.start, {"type": "remove", "category": c.value if c else (focus.category if focus else None)})

    # recommendations take an occasion anywhere in the utterance; a category right after them is the target
    for r in recs:
        cats = [c for c in cats if not (0 <= c.start - r.end <= 4 and not _has_sep(t, r.end, c.start))]
    for r in recs:
        occ = occasions[-1].value if occasions else None
        add(r.start, {"type": "recommend", "occasion": occ})
    if recs:
        occasions = []

    # attribute -> nearest category in the same clause (adjectives precede nouns in both languages)
    sel_cats = [c for c in cats if id(c) not in removed_cats]
    attached: dict[int, dict[str, str]] = {id(c): {} for c in sel_cats}
    loose: list[Hit] = []
    for a in colors + patterns + occasions:
        after = [c for c in sel_cats if c.start >= a.end and not _has_sep(t, a.end, c.start)]
        before = [c for c in sel_cats if c.end <= a.start and not _has_sep(t, c.end, a.start)]
        target = after[0] if after else (before[-1] if before else None)
        if target is None:
            loose.append(a)
        else:
            attached[id(target)].setdefault(a.kind, a.value)
    for c in sel_cats:
        attrs = attached[id(c)]
        before_txt = t[max(0, c.start - 14) : c.start]
        is_ref = focus is not None and focus.category == c.value and ref_rx.search(before_txt.strip())
        # "make the dress a little shorter" while wearing a dress: the noun names the worn item
        worn = any(i.category == c.value for i in ctx.outfit)
        if worn and not attrs and any(a["type"] != "select" for _, a in acts):
            continue
        if is_ref:
            if "color" in attrs:
                add(c.start, {"type": "set_color", "color": attrs["color"]})
            continue
        add(
            min(
                [c.start]
                + [h.start for h in colors + patterns if attached[id(c)].get(h.kind) == h.value and h.start < c.start]
                or [c.start]
            ),
            {"type": "select", "category": c.value, **attrs},
        )

    # loose attributes: "the blue one", "换成红色", "something for a wedding"
    loose_colors = [h for h in loose if h.kind == "color"]
    loose_other = [h for h in loose if h.kind != "color"]
    for h in loose_colors:
        new_item = rx(r"\b(?:something|anything)\b|别的|其他").search(t[: h.start])
        if new_item and not loose_other:
            add(h.start, {"type": "select", "color": h.value})
        elif focus is not None and not loose_other:
            for item in reversed(ctx.outfit):
                e = ctx.product(item.id)
                if e is not None and h.value in e.colors:
                    focus = item
                    break
            entry = ctx.product(focus.id)
            if entry is None or not entry.colors or h.value in entry.colors:
                add(h.start, {"type": "set_color", "color": h.value})
            else:
                add(h.start, {"type": "select", "category": focus.category, "color": h.value})
        elif focus is None and not sel_cats and not loose_other:
            recolor = rx(
                r"换成|改成|换个|变成|\b(?:make it|change (?:it |the colou?r )?to|in|turn it|switch to)\s*$"
            ).search(t[: h.start])
            add(h.start, {"type": "set_color", "color": h.value} if recolor else {"type": "select", "color": h.value})
    if loose_other and not sel_cats:
        loose.sort(key=lambda h: h.start)
        pos = min(h.start for h in loose)
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
            sel["text"] = text.strip()[:120]
        add(pos, sel)

    if not acts:
        return None
    acts.sort(key=lambda x: x[0])
    actions = []
    try:
        for _, a in acts:
            actions.append(ActionAdapter.validate_python({k: v for k, v in a.items() if v is not None}))
    except ValidationError:
        return None
    leftover = sc.leftover()
    n_words = max(1, len(rx(r"[a-z][a-z']*|\d+|[\u4e00-\u9fff]").findall(t)))
    conf = 1.0 if not leftover else max(0.0, 1.0 - 2.0 * len(leftover) / n_words)
    return RulesResult(actions=actions, reply=reply_for(actions, lang), confidence=round(conf, 3), leftover=leftover)


def _zh_size(s: str) -> str | None:
    s = s.strip().lower()
    s2 = s.rstrip("码号")
    if rx(r"xxs|xxl|xs|xl|s|m|l|\d{2,3}").fullmatch(s2):
        return s2.upper()
    key = s2 + "号"
    if key in ZH_SIZE_WORD:
        return ZH_SIZE_WORD[key]
    return ZH_SIZE_WORD.get(s2)


# ------------------------------------------------------------------------------------------------ measurements
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


def _measurements(sc: _Scanner, add: Any, lang: str) -> None:
    t = sc.t
    # 5'7", 5 ft 7, 5 foot 7 (inches)
    for m in sc.find(
        r"(?P<ft>[3-7])\s?(?:'|ft|feet|foot)\s?(?P<inch>\d{1,2})?\s?(?:\"|''|in(?:ch(?:es)?)?\b)?(?: tall)?"
    ):
        cm = (int(m.group("ft")) * 12 + int(m.group("inch") or 0)) * 2.54
        sc.take("measure", m.start(), m.end())
        _emit(sc, add, m.start(), "height", cm)
    num_rx = rf"(?P<num>\d{{1,3}}(?:\.\d+)?)\s?{_UNIT}?"
    for m in sc.find(num_rx):
        num = float(m.group("num"))
        unit = (m.group("unit") or "").strip()
        # the measurement name: nearest name word before (within the clause), or after ("170 tall")
        before = t[max(0, m.start() - 24) : m.start()]
        after = t[m.end() : m.end() + 8]
        name = None
        best = -1
        for pat, nm in _MEAS_NAME:
            for mm in rx(pat).finditer(before):
                if mm.start() > best and not _SEP.search(before[mm.end() :]):
                    best, name = mm.start(), nm
        if name is None:
            for pat, nm in _MEAS_NAME:
                if rx(rf"\s?(?:{pat})").match(after):
                    name = nm
        if name is None:
            if unit in (
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
            ):
                name = "weight"
            elif unit in ("m", "meter", "meters", "metre", "metres") or (unit in ("cm", "厘米", "公分") and num >= 100):
                name = "height"
            elif rx(r"\b(?:i'?m|i am)\s?$|我\s?$").search(before) and (unit or 120 <= num <= 220):
                name = "height"
            else:
                continue
        value = _to_metric(name, num, unit, lang)
        if value is None:
            continue
        # explain the name word too
        for pat, nm in _MEAS_NAME:
            if nm == name:
                for mm in rx(pat).finditer(t):
                    if sc.free(mm.start(), mm.end()) and abs(mm.start() - m.start()) < 26:
                        sc.take("noise", mm.start(), mm.end(), record=False)
        sc.take("measure", m.start(), m.end())
        _emit(sc, add, m.start(), name, value)


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


def _emit(sc: _Scanner, add: Any, pos: int, name: str, value: float) -> None:
    add(pos, {"type": "set_measurement", "name": name, "value": round(value, 1)})


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
