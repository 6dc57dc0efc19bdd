"""Command schema: an utterance becomes `{"actions": [...], "reply": "..."}`.

Every action is a pydantic model with a `type` discriminator. The same models validate the rules parser's output,
the LLM's output (`Command.model_validate_json`) and what the server receives, and `llm_json_schema()` exports a
flat JSON schema (no $ref, no discriminator keyword) that llama.cpp's grammar converter and OpenAI-style
`response_format` accept for constrained decoding.

Categories, colour families, sizes and views come from `fitmirror/vocab.py` (the product's one vocabulary);
patterns and occasions from `fitmirror/catalog.py`.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

# One vocabulary for the whole product (fitmirror/vocab.py); patterns and occasions are the catalogue's.
from fitmirror.catalog import Occasion, Pattern
from fitmirror.vocab import CATEGORIES as CATEGORIES
from fitmirror.vocab import COLORS as COLORS
from fitmirror.vocab import SIZES, Category, ViewName
from fitmirror.vocab import VIEWS as VIEWS
from fitmirror.vocab import ColorName as Color

AdjustAttribute = Literal["length", "sleeve_length", "fit"]
MeasurementName = Literal["height", "weight", "chest", "waist", "hips", "inseam"]

PATTERNS: tuple[str, ...] = get_args(Pattern)
OCCASIONS: tuple[str, ...] = get_args(Occasion)
MEASUREMENTS: tuple[str, ...] = get_args(MeasurementName)
LETTER_SIZES: tuple[str, ...] = SIZES  # smallest to largest
# A size is a letter size, a number as text (EU 38, waist 32, 38.5) or one step up/down.
SIZE_RE = re.compile(rf"^({'|'.join(LETTER_SIZES)}|[0-9]{{1,3}}(\.5)?|\+1|-1)$")
# Plausible ranges for set_measurement values (cm, weight in kg): outside them the value is a mis-hearing.
MEASUREMENT_RANGES: dict[str, tuple[float, float]] = {
    "height": (100.0, 230.0),
    "weight": (30.0, 250.0),
    "chest": (50.0, 180.0),
    "waist": (40.0, 180.0),
    "hips": (50.0, 190.0),
    "inseam": (40.0, 110.0),
}
MAX_ACTIONS = 6
MAX_REPLY_CHARS = 200


def _check_size(v: str) -> str:
    v = str(v).strip().upper()
    if not SIZE_RE.match(v):
        raise ValueError(f"size must be {SIZES[0]}..{SIZES[-1]}, a number or +1/-1, got {v!r}")
    return v


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Select(_Action):
    """Pick a catalogue product. `product_id` is filled when the context names one exactly ("the blue one",
    "换回刚才那件"); otherwise the server searches the catalogue with the filters and `text`."""

    type: Literal["select"] = "select"
    category: Category | None = None
    color: Color | None = None
    pattern: Pattern | None = None
    occasion: Occasion | None = None
    text: str | None = Field(None, max_length=120, description="Free-text description for semantic search.")
    product_id: str | None = Field(None, max_length=64, description="Resolved from context, never invented.")


class SetSize(_Action):
    type: Literal["set_size"] = "set_size"
    size: str = Field(
        description=f'"{LETTER_SIZES[0]}".."{LETTER_SIZES[-1]}", a number as text ("38"), or "+1"/"-1" for one size up/down.'
    )

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> str:
        return _check_size(v)


class SetColor(_Action):
    type: Literal["set_color"] = "set_color"
    color: Color


class Adjust(_Action):
    type: Literal["adjust"] = "adjust"
    attribute: AdjustAttribute
    direction: Literal[1, -1] = Field(description="1 longer/looser, -1 shorter/tighter.")


class View(_Action):
    type: Literal["view"] = "view"
    view: ViewName


class SizeAdvice(_Action):
    """The answer comes from the size module, never from the LLM."""

    type: Literal["size_advice"] = "size_advice"


class CompareSizes(_Action):
    type: Literal["compare_sizes"] = "compare_sizes"
    sizes: list[str] = Field(min_length=1, max_length=4)

    @field_validator("sizes", mode="before")
    @classmethod
    def _sizes(cls, v: Any) -> list[str]:
        return [_check_size(s) for s in v]


class FitMap(_Action):
    type: Literal["fit_map"] = "fit_map"
    on: bool = True


class Undo(_Action):
    type: Literal["undo"] = "undo"


class Reset(_Action):
    type: Literal["reset"] = "reset"


class Remove(_Action):
    type: Literal["remove"] = "remove"
    category: Category | None = Field(None, description="None: the item last put on.")


class SetMeasurement(_Action):
    type: Literal["set_measurement"] = "set_measurement"
    name: MeasurementName
    value: float = Field(description="cm, or kg for weight.")

    @field_validator("value")
    @classmethod
    def _range(cls, v: float, info: Any) -> float:
        lo, hi = MEASUREMENT_RANGES.get(info.data.get("name", ""), (0.0, 1e9))
        if not lo <= v <= hi:
            raise ValueError(f"{info.data.get('name')} {v} is outside the plausible range {lo:g}..{hi:g}")
        return round(float(v), 1)


class Recommend(_Action):
    """What goes with this / complete the look (optionally for an occasion)."""

    type: Literal["recommend"] = "recommend"
    occasion: Occasion | None = None


Action = Annotated[
    Select
    | SetSize
    | SetColor
    | Adjust
    | View
    | SizeAdvice
    | CompareSizes
    | FitMap
    | Undo
    | Reset
    | Remove
    | SetMeasurement
    | Recommend,
    Field(discriminator="type"),
]
ACTION_TYPES: tuple[str, ...] = (
    "select",
    "set_size",
    "set_color",
    "adjust",
    "view",
    "size_advice",
    "compare_sizes",
    "fit_map",
    "undo",
    "reset",
    "remove",
    "set_measurement",
    "recommend",
)
ActionAdapter: TypeAdapter[Any] = TypeAdapter(Action)

# Fields compared by the benchmark's exact match (free text and resolved ids are not gold-labelled).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "select": ("category", "color", "pattern", "occasion"),
    "set_size": ("size",),
    "set_color": ("color",),
    "adjust": ("attribute", "direction"),
    "view": ("view",),
    "size_advice": (),
    "compare_sizes": ("sizes",),
    "fit_map": ("on",),
    "undo": (),
    "reset": (),
    "remove": ("category",),
    "set_measurement": ("name", "value"),
    "recommend": ("occasion",),
}


class Command(BaseModel):
    """What one utterance asks for. An empty `actions` list with a reply is a valid answer (refusal, chit-chat)."""

    model_config = ConfigDict(extra="forbid")
    actions: list[Action] = Field(default_factory=list, max_length=MAX_ACTIONS)
    reply: str = Field("", max_length=MAX_REPLY_CHARS)


def key_view(actions: list[Any]) -> list[tuple]:
    """Actions reduced to their key fields (for exact-match scoring); accepts models or dicts."""
    out = []
    for a in actions:
        d = a.model_dump() if isinstance(a, BaseModel) else dict(a)
        t = d.get("type")
        vals = []
        for k in KEY_FIELDS.get(t, ()):
            v = d.get(k)
            if isinstance(v, list):
                v = tuple(v)
            if isinstance(v, float) and k == "value":
                v = round(v)
            vals.append((k, v))
        out.append((t, *vals))
    return out


def _inline(schema: dict) -> dict:
    """Resolve $ref against $defs and drop keywords grammar converters choke on (discriminator, title)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(copy.deepcopy(defs[node["$ref"].split("/")[-1]]))
            out = {}
            for k, v in node.items():
                if k in ("$defs", "discriminator", "title", "description", "default"):
                    continue
                out[k] = walk(v)
            if "oneOf" in out:
                out["anyOf"] = out.pop("oneOf")
            return out
        if isinstance(node, list):
            return [walk(x) for x in node]
        return node

    return walk(schema)


@functools.cache
def _llm_schema() -> dict:
    """JSON schema for constrained decoding: every action with its `type` const and all fields required
    (nullable where optional), so the grammar emits one fixed shape per action; sizes as an enum."""
    size_enum = {"type": "string", "enum": [*LETTER_SIZES, "+1", "-1"]}

    def obj(type_: str, props: dict, optional: bool = False) -> dict:
        # Optional fields may be left out (fewer tokens to generate); required ones come in a fixed order.
        props = {"type": {"type": "string", "const": type_}, **props}
        required = ["type"] if optional else list(props)
        return {"type": "object", "properties": props, "required": required, "additionalProperties": False}

    def enum(vals: tuple[str, ...]) -> dict:
        return {"type": "string", "enum": list(vals)}

    actions = [
        obj(
            "select",
            {
                "category": enum(CATEGORIES),
                "color": enum(COLORS),
                "pattern": enum(PATTERNS),
                "occasion": enum(OCCASIONS),
                "text": {"type": "string", "maxLength": 40},
            },
            optional=True,
        ),
        obj("set_size", {"size": size_enum}),
        obj("set_color", {"color": enum(COLORS)}),
        obj(
            "adjust", {"attribute": enum(get_args(AdjustAttribute)), "direction": {"type": "integer", "enum": [1, -1]}}
        ),
        obj("view", {"view": enum(VIEWS)}),
        obj("size_advice", {}),
        obj("compare_sizes", {"sizes": {"type": "array", "items": size_enum, "minItems": 2, "maxItems": 3}}),
        obj("fit_map", {"on": {"type": "boolean"}}),
        obj("undo", {}),
        obj("reset", {}),
        obj("remove", {"category": enum(CATEGORIES)}, optional=True),
        obj("set_measurement", {"name": enum(MEASUREMENTS), "value": {"type": "number"}}),
        obj("recommend", {"occasion": enum(OCCASIONS)}, optional=True),
    ]
    return {
        "type": "object",
        "properties": {
            "actions": {"type": "array", "items": {"anyOf": actions}, "maxItems": 4},
        },
        # no "reply": replies are templated from the actions, so the model does not spend tokens on one
        "required": ["actions"],
        "additionalProperties": False,
    }


def llm_json_schema() -> dict:
    """A copy of the flat schema used for constrained decoding (llama.cpp grammar, OpenAI response_format)."""
    return copy.deepcopy(_llm_schema())


def command_json_schema() -> dict:
    """The full pydantic JSON schema of `Command`, inlined (for docs and clients)."""
    return _inline(Command.model_json_schema())
