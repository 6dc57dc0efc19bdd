"""Deterministic parser for the common commands in English and Chinese (well under 5 ms).

How it works: the normalised utterance is scanned by a fixed list of phrase matchers (views, sizes, colours,
categories, measurements...). Each match records its character span, and actions are emitted in the order their
trigger appears in the text, so "show me the blue dress in size M" gives select{dress, blue} then set_size{M}.
Attributes (colour, pattern, occasion) attach to the nearest category mention in the same clause.
What is left unmatched decides the confidence: content words the matchers did not explain mean the utterance
says something the rules do not model, and the parser returns `None` (or a low confidence) so the LLM takes over.

Modules, each importing only those above it:
- `lexicon`: the word lists (categories, colours, patterns, occasions, size words, views, stop words).
- `normalization`: lower case, punctuation and width, Chinese and spelled-out numbers as digits.
- `scanner`: `Scanner` (phrase matching that remembers explained characters), `Hit`, the shared `Utterance`.
- `slots`: colour / size / category / pattern / occasion / view extraction and their canonical values.
- `measurements`: heights, weights and girths in any unit, as set_measurement in cm and kg.
- `intents`: the command rules (fit map, reset, undo, previous item, sizes, remove, recommend, adjust), in order.
- `resolve`: hits to actions (removals, recommendations, attributes attached to nouns, loose attributes).
- `engine`: `parse_rules`, `RulesResult`, `warm_up`.
"""

from __future__ import annotations

from nlu.rules.engine import WARM_UP_TEXTS, RulesResult, parse_rules, warm_up
from nlu.rules.lexicon import (
    EN_CATEGORY,
    EN_COLOR,
    EN_OCCASION,
    EN_PATTERN,
    EN_SIZE_WORD,
    EN_STOP,
    EN_VIEW,
    ZH_CATEGORY,
    ZH_COLOR,
    ZH_OCCASION,
    ZH_PATTERN,
    ZH_SIZE_WORD,
    ZH_STOP,
    ZH_VIEW,
)
from nlu.rules.normalization import normalize, zh_number
from nlu.rules.scanner import Hit
from nlu.rules.slots import mentioned_colors, mentions_size

__all__ = [
    "EN_CATEGORY",
    "EN_COLOR",
    "EN_OCCASION",
    "EN_PATTERN",
    "EN_SIZE_WORD",
    "EN_STOP",
    "EN_VIEW",
    "WARM_UP_TEXTS",
    "ZH_CATEGORY",
    "ZH_COLOR",
    "ZH_OCCASION",
    "ZH_PATTERN",
    "ZH_SIZE_WORD",
    "ZH_STOP",
    "ZH_VIEW",
    "Hit",
    "RulesResult",
    "mentioned_colors",
    "mentions_size",
    "normalize",
    "parse_rules",
    "warm_up",
    "zh_number",
]
