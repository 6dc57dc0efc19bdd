"""Word lists of the rules, English and Chinese: garment categories, colours, patterns, occasions, size words,
camera views, the stop words that need no explaining, and the clause separators.

Each vocabulary is a list of (regex, value) pairs, longer phrases first (the first pattern to match a span takes
it). English patterns are matched on word boundaries (`Scanner.vocab`); Chinese ones anywhere. `nlu.compact`
reads the category/colour/pattern lists for the LLM's compact syntax and `nlu.search` the occasions."""

from __future__ import annotations

import re

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
    "4xl": "4XL",
    "xxxxl": "4XL",
}
ZH_SIZE_WORD = {"超小号": "XS", "加小号": "XS", "特小号": "XS", "小号": "S", "中号": "M", "大号": "L", "加大号": "XL"}
ZH_SIZE_WORD.update({"特大号": "XXL", "加加大号": "XXL", "超大号": "XXL", "加加大": "XXL", "加大": "XL"})
_EN_SIZE_ALT = "|".join(sorted((re.escape(k) for k in EN_SIZE_WORD), key=len, reverse=True))
SIZE_TOKEN = rf"(?:{_EN_SIZE_ALT}|\d{{2,3}})"  # an English size word or a numeric size (38, 100)

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

CJK = re.compile(r"[\u4e00-\u9fff]")
CLAUSE_SEP = re.compile(r"\b(?:and|then|plus|also)\b|[,;，；、和跟再然后]|并且|同时")

# ------------------------------------------------------------------------------------------------ views
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
