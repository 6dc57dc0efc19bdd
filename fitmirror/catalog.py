"""Catalogue schema: products with colour variants, occasions, price, photos and a size chart per size.

Categories, colour families and the letter sizes' order come from `fitmirror/vocab.py`.

Shared by the catalogue DB/API (`server/catalog_*`), garment generation (`avatar/garments/`), size advice
(`avatar/sizing/`) and catalogue search (`nlu/`). Loaders read JSON, YAML and CSV (a shop's export, one row per
product and size) and report every bad record with its row number and field; nothing is dropped silently.

Size-chart girths (chest, waist, hips, thigh) are full circumferences in cm. `measurement_kind` says whether the
chart lists the garment's own measurements (flat-lay x 2, what most shops publish) or the body measurements the
size is meant for (then garment girth = body girth + the category's standard ease, see `garment_measurements`).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fitmirror.errors import InputError, NotFoundError
from fitmirror.vocab import CATEGORIES as CATEGORIES  # re-exported: the catalogue's categories
from fitmirror.vocab import COLORS, SIZES, Category, ColorName

Pattern = Literal["solid", "striped", "checked", "floral", "dotted", "denim", "knit", "print"]
Occasion = Literal[
    "wedding", "party", "work", "casual", "sport", "beach", "formal", "evening", "outdoor", "travel", "home"
]
Gender = Literal["women", "men", "unisex"]
MeasurementKind = Literal["garment", "body"]

COLOR_NAMES: tuple[str, ...] = COLORS
PATTERNS: tuple[str, ...] = get_args(Pattern)
OCCASIONS: tuple[str, ...] = get_args(Occasion)

TOPS = ("tshirt", "shirt", "blouse", "sweater", "jacket", "coat", "dress")
BOTTOMS = ("skirt", "trousers", "jeans", "shorts")
LEGGED = ("trousers", "jeans", "shorts")

# Measurements each category's size chart must give (the garment generator cuts from these).
REQUIRED_MEASUREMENTS: dict[str, tuple[str, ...]] = {
    "tshirt": ("chest_cm", "length_cm", "sleeve_length_cm"),
    "shirt": ("chest_cm", "waist_cm", "length_cm", "sleeve_length_cm"),
    "blouse": ("chest_cm", "waist_cm", "length_cm", "sleeve_length_cm"),
    "sweater": ("chest_cm", "length_cm", "sleeve_length_cm"),
    "jacket": ("chest_cm", "waist_cm", "length_cm", "sleeve_length_cm"),
    "coat": ("chest_cm", "waist_cm", "hips_cm", "length_cm", "sleeve_length_cm"),
    "dress": ("chest_cm", "waist_cm", "hips_cm", "length_cm"),
    "skirt": ("waist_cm", "hips_cm", "length_cm"),
    "trousers": ("waist_cm", "hips_cm", "inseam_cm"),
    "jeans": ("waist_cm", "hips_cm", "inseam_cm"),
    "shorts": ("waist_cm", "hips_cm", "inseam_cm"),
}
# Standard wearing ease (cm) added to body measurements when a chart gives body sizes (measurement_kind="body").
STANDARD_EASE_CM: dict[str, dict[str, float]] = {
    "tshirt": {"chest_cm": 10, "waist_cm": 12, "hips_cm": 8},
    "shirt": {"chest_cm": 12, "waist_cm": 12, "hips_cm": 8},
    "blouse": {"chest_cm": 8, "waist_cm": 8, "hips_cm": 6},
    "sweater": {"chest_cm": 12, "waist_cm": 14, "hips_cm": 8},
    "jacket": {"chest_cm": 14, "waist_cm": 14, "hips_cm": 10},
    "coat": {"chest_cm": 18, "waist_cm": 18, "hips_cm": 14},
    "dress": {"chest_cm": 6, "waist_cm": 6, "hips_cm": 8},
    "skirt": {"waist_cm": 2, "hips_cm": 6},
    "trousers": {"waist_cm": 2, "hips_cm": 6, "thigh_cm": 8},
    "jeans": {"waist_cm": 1, "hips_cm": 3, "thigh_cm": 4},
    "shorts": {"waist_cm": 2, "hips_cm": 6, "thigh_cm": 10},
}
SIZE_ORDER = SIZES  # letter sizes, smallest to largest (fitmirror/vocab.py)
MEASUREMENT_FIELDS = ("chest_cm", "waist_cm", "hips_cm", "length_cm", "sleeve_length_cm", "inseam_cm", "thigh_cm")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
_HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def size_sort_key(size: str) -> tuple[int, float, str]:
    """Letter sizes in garment order, then numeric sizes (EU 36, waist 32) by value, then anything else."""
    s = size.strip().upper()
    if s in SIZE_ORDER:
        return (0, SIZE_ORDER.index(s), s)
    try:
        return (1, float(s), s)
    except ValueError:
        return (2, 0.0, s)


class ColorVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ColorName = Field(description="Colour family used for search and filters.")
    rgb: str = Field(description="Display colour as #rrggbb.")

    @field_validator("rgb")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not _HEX_RE.match(v):
            raise ValueError(f"rgb must look like #1f2a44, got {v!r}")
        return v.lower()

    @property
    def rgb_float(self) -> tuple[float, float, float]:
        return tuple(int(self.rgb[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


class SizeMeasurements(BaseModel):
    """One size's chart row; girths are full circumferences, all in cm."""

    model_config = ConfigDict(extra="forbid")
    chest_cm: float | None = Field(None, gt=40, lt=220, description="Chest/bust girth.")
    waist_cm: float | None = Field(None, gt=35, lt=220, description="Waist girth.")
    hips_cm: float | None = Field(None, gt=50, lt=240, description="Hip girth.")
    length_cm: float | None = Field(
        None, gt=15, lt=180, description="Tops/dresses/coats: high point shoulder to hem; skirts: waist to hem."
    )
    sleeve_length_cm: float | None = Field(None, ge=0, lt=100, description="Shoulder point to cuff (0 = sleeveless).")
    inseam_cm: float | None = Field(None, gt=2, lt=110, description="Crotch to hem.")
    thigh_cm: float | None = Field(None, gt=25, lt=120, description="Leg girth just below the crotch.")

    def present(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="Stable slug: lower-case letters, digits, '-' and '_'.")
    name: str = Field(min_length=1, max_length=120)
    name_i18n: dict[str, str] = Field(default_factory=dict, description='Translations, e.g. {"zh": "..."}.')
    category: Category
    gender: Gender = "unisex"
    brand: str = ""
    description: str = ""
    colors: list[ColorVariant] = Field(min_length=1)
    pattern: Pattern = "solid"
    stretch: float = Field(0.0, ge=0.0, le=1.0, description="Fabric stretch: 0 woven/rigid .. 1 very elastic knit.")
    occasions: list[Occasion] = Field(default_factory=list)
    price: float = Field(gt=0)
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    photos: list[str] = Field(default_factory=list, description="Paths (relative to the catalogue) or URLs.")
    measurement_kind: MeasurementKind = Field(
        "garment", description="Whether the size chart lists garment measurements or body measurements."
    )
    size_chart: dict[str, SizeMeasurements] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError(f"id must be 2-64 characters of a-z, 0-9, '-' or '_' (got {v!r})")
        return v

    @field_validator("size_chart")
    @classmethod
    def _sizes(cls, v: dict[str, SizeMeasurements]) -> dict[str, SizeMeasurements]:
        out = {}
        for k in sorted(v, key=size_sort_key):
            key = k.strip().upper()
            if not key:
                raise ValueError("size names must not be empty")
            out[key] = v[k]
        return out

    @model_validator(mode="after")
    def _chart_complete(self) -> Product:
        need = REQUIRED_MEASUREMENTS[self.category]
        for size, m in self.size_chart.items():
            missing = [f for f in need if getattr(m, f) is None]
            if missing:
                raise ValueError(
                    f"size {size}: a {self.category} size chart needs {', '.join(need)}; missing {', '.join(missing)}"
                )
        sizes = list(self.size_chart)
        for a, b in itertools.pairwise(sizes):
            for f in ("chest_cm", "waist_cm", "hips_cm"):
                va, vb = getattr(self.size_chart[a], f), getattr(self.size_chart[b], f)
                if va is not None and vb is not None and vb < va:
                    raise ValueError(f"size chart is not graded: {f} of {b} ({vb}) is smaller than of {a} ({va})")
        if len({c.name for c in self.colors}) != len(self.colors):
            raise ValueError("colour names must be unique within a product")
        return self

    @property
    def sizes(self) -> list[str]:
        return list(self.size_chart)

    def color(self, name: str | None = None) -> ColorVariant:
        if name is None:
            return self.colors[0]
        for c in self.colors:
            if c.name == name:
                return c
        raise InputError(
            f"{self.name} has no colour {name!r}", hint=f"available: {', '.join(c.name for c in self.colors)}"
        )

    def chart(self, size: str) -> SizeMeasurements:
        key = size.strip().upper()
        if key not in self.size_chart:
            raise InputError(f"{self.name} has no size {size!r}", hint=f"available: {', '.join(self.sizes)}")
        return self.size_chart[key]

    def garment_measurements(self, size: str) -> dict[str, float]:
        """The garment's own measurements for a size (adds standard ease when the chart lists body sizes)."""
        m = self.chart(size).present()
        if self.measurement_kind == "body":
            for k, ease in STANDARD_EASE_CM[self.category].items():
                if k in m:
                    m[k] += ease
        return m

    def localized_name(self, lang: str = "en") -> str:
        return self.name_i18n.get(lang, self.name)


@dataclass
class RecordError:
    """One rejected record: `row` is the 1-based CSV line (header = line 1) or list index for JSON/YAML."""

    row: int
    product_id: str
    message: str

    def __str__(self) -> str:
        pid = f" ({self.product_id})" if self.product_id else ""
        return f"row {self.row}{pid}: {self.message}"


@dataclass
class ImportResult:
    products: list[Product] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class CatalogError(InputError):
    """A catalogue file has bad records; `errors` lists each with its row."""

    code = "bad_catalog"

    def __init__(self, message: str, errors: list[RecordError], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errors = errors

    def to_dict(self) -> dict:
        return {**super().to_dict(), "errors": [str(e) for e in self.errors]}


def format_validation_error(e: ValidationError) -> str:
    """Pydantic's error list as 'field.path: message; ...' — short enough for a shop owner to act on."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg = f"{err['input']!r} is not one of {err['ctx']['expected']}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_records(records: Iterable[dict[str, Any]]) -> ImportResult:
    """Validate product dicts (from JSON/YAML); each bad one becomes a RecordError, duplicates included."""
    res = ImportResult()
    seen: set[str] = set()
    for i, rec in enumerate(records, start=1):
        pid = str(rec.get("id", "")) if isinstance(rec, dict) else ""
        if not isinstance(rec, dict):
            res.errors.append(RecordError(i, "", f"expected an object, got {type(rec).__name__}"))
            continue
        try:
            p = Product.model_validate(rec)
        except ValidationError as e:
            res.errors.append(RecordError(i, pid, format_validation_error(e)))
            continue
        if p.id in seen:
            res.errors.append(RecordError(i, pid, f"duplicate product id {p.id!r}"))
            continue
        seen.add(p.id)
        res.products.append(p)
    return res


def _records_from_doc(doc: Any) -> list:
    if isinstance(doc, dict) and "products" in doc:
        doc = doc["products"]
    if not isinstance(doc, list):
        raise InputError("a catalogue must be a list of products or an object with a 'products' list")
    return doc


def parse_json(text: str) -> ImportResult:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"catalogue is not valid JSON: {e}") from e
    return parse_records(_records_from_doc(doc))


def parse_yaml(text: str) -> ImportResult:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"catalogue is not valid YAML: {e}") from e
    return parse_records(_records_from_doc(doc))


# --- CSV: one row per product and size -----------------------------------------------------------------------
CSV_PRODUCT_COLUMNS = (
    "id",
    "name",
    "name_zh",
    "category",
    "gender",
    "brand",
    "colors",
    "pattern",
    "stretch",
    "occasions",
    "price",
    "currency",
    "photos",
    "measurement_kind",
)
CSV_COLUMNS = (*CSV_PRODUCT_COLUMNS, "size", *MEASUREMENT_FIELDS)
CSV_REQUIRED = ("id", "name", "category", "colors", "price", "size")


def _split(v: str) -> list[str]:
    return [x.strip() for x in re.split(r"[;|]", v) if x.strip()]


def _parse_colors(v: str) -> list[dict[str, str]]:
    """'navy:#1f2a44;white:#ffffff' -> [{"name": "navy", "rgb": "#1f2a44"}, ...]."""
    out = []
    for item in _split(v):
        if ":" not in item:
            raise ValueError(f"colour {item!r} must be written name:#rrggbb")
        name, rgb = item.split(":", 1)
        out.append({"name": name.strip().lower(), "rgb": rgb.strip()})
    return out


def _csv_row(row: dict[str, str]) -> tuple[dict[str, Any], str, dict[str, float]]:
    prod: dict[str, Any] = {
        "id": row.get("id", ""),
        "name": row.get("name", ""),
        "category": row.get("category", "").lower(),
        "colors": _parse_colors(row.get("colors", "")),
        "price": row.get("price", ""),
    }
    if row.get("name_zh"):
        prod["name_i18n"] = {"zh": row["name_zh"]}
    for k in ("gender", "brand", "pattern", "stretch", "currency", "measurement_kind"):
        if row.get(k):
            prod[k] = row[k].lower() if k in ("gender", "pattern", "measurement_kind") else row[k]
    if row.get("occasions"):
        prod["occasions"] = [o.lower() for o in _split(row["occasions"])]
    if row.get("photos"):
        prod["photos"] = _split(row["photos"])
    size = row.get("size", "").upper()
    if not size:
        raise ValueError("size is empty")
    meas = {}
    for f in MEASUREMENT_FIELDS:
        if row.get(f):
            try:
                meas[f] = float(row[f].replace(",", "."))
            except ValueError:
                raise ValueError(f"{f}: {row[f]!r} is not a number") from None
    return prod, size, meas


def parse_csv(text: str) -> ImportResult:
    """A shop export: one row per product-size; product columns repeat on each row of a product.

    Every rejected row is reported (unknown category, bad number, conflicting product columns, duplicate size,
    incomplete chart); a product with any bad row is left out and its other rows are named too."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None:
        raise InputError("catalogue CSV is empty")
    cols = [c.strip() for c in reader.fieldnames]
    missing = [c for c in CSV_REQUIRED if c not in cols]
    if missing:
        raise InputError(
            f"catalogue CSV lacks column(s) {', '.join(missing)}", hint=f"columns: {', '.join(CSV_COLUMNS)}"
        )
    unknown = [c for c in cols if c not in CSV_COLUMNS]
    if unknown:
        raise InputError(f"catalogue CSV has unknown column(s) {', '.join(unknown)}", hint=", ".join(CSV_COLUMNS))
    res = ImportResult()
    groups: dict[str, dict[str, Any]] = {}
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        pid = row.get("id", "")
        g = groups.setdefault(pid, {"bad_lines": [], "good": {}})
        try:
            if None in raw:
                raise ValueError("more values than columns")
            if not pid:
                raise ValueError("id is empty")
            prod, size, meas = _csv_row(row)
            # Validate the row on its own (product columns + this size), so errors name the row.
            Product.model_validate({**prod, "size_chart": {size: meas}})
            if "product" in g and g["product"] != prod:
                diff = sorted(k for k in set(prod) | set(g["product"]) if prod.get(k) != g["product"].get(k))
                raise ValueError(f"product columns differ from line {g['first_line']}: {', '.join(diff)}")
            if size in g["good"].values() or size in g.get("chart", {}):
                raise ValueError(f"size {size} appears twice")
        except ValidationError as e:
            res.errors.append(RecordError(line, pid, format_validation_error(e)))
            g["bad_lines"].append(line)
            continue
        except ValueError as e:
            res.errors.append(RecordError(line, pid, str(e)))
            g["bad_lines"].append(line)
            continue
        if "product" not in g:
            g["product"], g["chart"], g["first_line"] = prod, {}, line
        g["chart"][size] = meas
        g["good"][line] = size
    for pid, g in groups.items():
        if not g["good"]:
            continue
        first = min(g["good"])
        if g["bad_lines"]:
            res.errors.append(
                RecordError(
                    first,
                    pid,
                    f"product not imported: its row(s) {g['bad_lines']} have errors, so rows "
                    f"{sorted(g['good'])} were held back too (fix those rows and import again)",
                )
            )
            continue
        try:
            p = Product.model_validate({**g["product"], "size_chart": g["chart"]})
        except ValidationError as e:
            res.errors.append(RecordError(first, pid, format_validation_error(e)))
            continue
        res.products.append(p)
    res.errors.sort(key=lambda e: e.row)
    return res


def products_to_csv(products: Iterable[Product]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS))
    w.writeheader()
    for p in products:
        base = {
            "id": p.id,
            "name": p.name,
            "name_zh": p.name_i18n.get("zh", ""),
            "category": p.category,
            "gender": p.gender,
            "brand": p.brand,
            "colors": ";".join(f"{c.name}:{c.rgb}" for c in p.colors),
            "pattern": p.pattern,
            "stretch": p.stretch,
            "occasions": ";".join(p.occasions),
            "price": p.price,
            "currency": p.currency,
            "photos": ";".join(p.photos),
            "measurement_kind": p.measurement_kind,
        }
        for size, m in p.size_chart.items():
            w.writerow({**base, "size": size, **{k: ("" if v is None else v) for k, v in m.model_dump().items()}})
    return buf.getvalue()


def parse_file(path: Path | str) -> ImportResult:
    """Read a .json, .yaml/.yml or .csv catalogue; returns valid products plus per-record errors."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"catalogue file not found: {p}")
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    if suffix == ".json":
        return parse_json(text)
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text)
    if suffix == ".csv":
        return parse_csv(text)
    raise InputError(f"unsupported catalogue format {suffix!r}", hint="use .json, .yaml, .yml or .csv")


def load_catalog(path: Path | str) -> list[Product]:
    """Strict load: raises CatalogError listing every bad record, so nothing is dropped silently."""
    res = parse_file(path)
    if res.errors:
        shown = "\n".join(str(e) for e in res.errors[:20])
        more = f"\n... and {len(res.errors) - 20} more" if len(res.errors) > 20 else ""
        raise CatalogError(f"{len(res.errors)} bad record(s) in {path}:\n{shown}{more}", res.errors)
    return res.products


# --- outfit slots and the in-memory catalogue index (what a session's commands are checked against) ---------

# One garment per slot: a new top replaces the top, a dress replaces top and bottoms (and they it); a jacket or
# coat goes over either. So an outfit holds at most three garments, whatever a shopper (or a flood) asks for.
SLOT: dict[str, str] = {
    **dict.fromkeys(("tshirt", "shirt", "blouse", "sweater"), "top"),
    **dict.fromkeys(("skirt", "trousers", "jeans", "shorts"), "bottom"),
    "dress": "dress",
    "jacket": "outer",
    "coat": "outer",
}
SLOT_CONFLICTS: dict[str, set[str]] = {"top": {"dress"}, "bottom": {"dress"}, "dress": {"top", "bottom"}}
MAX_OUTFIT_ITEMS = 3


def size_range(sizes: Iterable[str]) -> str:
    """'XS-XXL' for a run of letter sizes, else the list ('36, 38, 40')."""
    s = list(sizes)
    letters = [x for x in s if x in SIZE_ORDER]
    if len(s) > 2 and letters == s:
        i, j = SIZE_ORDER.index(s[0]), SIZE_ORDER.index(s[-1])
        if list(SIZE_ORDER[i : j + 1]) == s:
            return f"{s[0]}-{s[-1]}"
    return ", ".join(s)


@dataclass
class CatalogIndex:
    """An immutable in-memory view of the catalogue for checks on the event loop (microseconds, no database):
    products by id, what each category comes in, and the best product for a described item."""

    products: list[Product]
    by_id: dict[str, Product] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {p.id: p for p in self.products}

    def categories(self) -> set[str]:
        return {p.category for p in self.products}

    def colors_of(self, category: str | None) -> list[str]:
        """Colours the catalogue has for a category (all products when None), in a stable order."""
        seen: dict[str, None] = {}
        for p in self.products:
            if category is None or p.category == category:
                for c in p.colors:
                    seen.setdefault(c.name)
        return list(seen)

    def find(
        self,
        category: str | None = None,
        color: str | None = None,
        pattern: str | None = None,
        occasion: str | None = None,
        text: str | None = None,
    ) -> Product | None:
        """The product that best matches: category and colour must match; pattern, occasion and the words of
        `text` rank the rest (a product matching more of them first, then by category and name)."""
        cands = [
            p for p in self.products
            if (category is None or p.category == category) and (color is None or any(c.name == color for c in p.colors))
        ]  # fmt: skip
        if not cands:
            return None
        words = set(re.findall(r"\w+", (text or "").lower()))

        def score(p: Product) -> tuple[int, str, str, str]:
            hay = set(re.findall(r"\w+", f"{p.name} {p.description} {p.category} {p.pattern}".lower()))
            s = (pattern is not None and p.pattern == pattern) * 4 + (occasion in p.occasions) * 4 + len(words & hay)
            return (-s, p.category, p.name, p.id)

        return min(cands, key=score)

    def product_for(self, item: dict[str, Any], strict: bool = False) -> Product | None:
        """The product an outfit item shows: its `product_id`, else the first product of its category in its
        colour, else of its category in any colour. A `product_id` the catalogue lacks is None, or with `strict`
        a NotFoundError (a shop's product that is gone is never replaced by another)."""
        pid = item.get("product_id")
        if pid:
            product = self.by_id.get(pid)
            if product is None and strict:
                raise NotFoundError(f"no product {pid!r} in the catalogue")
            return product
        category, color = item.get("category"), item.get("color")
        found = self.find(category, color)
        if found is None and color:
            found = self.find(category)
        return found
