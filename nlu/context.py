"""What the parser knows besides the utterance: the session language, the outfit on the avatar, the turns so
far and the catalogue (names, categories, colours), so "the blue one", "that in M" and "换回刚才那件" resolve."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nlu.schema import Category, Color, Occasion, Pattern

Lang = Literal["en", "zh"]


class OutfitItem(BaseModel):
    """One garment on the avatar (or worn earlier)."""

    model_config = ConfigDict(extra="ignore")
    id: str
    name: str = ""
    category: Category
    color: Color | None = None
    size: str | None = None


class CatalogEntry(BaseModel):
    """The slice of a catalogue product the language channel needs."""

    model_config = ConfigDict(extra="ignore")
    id: str
    name: str
    name_zh: str = ""
    category: Category
    colors: list[Color] = Field(default_factory=list)
    pattern: Pattern = "solid"
    occasions: list[Occasion] = Field(default_factory=list)
    description: str = ""

    @classmethod
    def from_product(cls, p: object) -> CatalogEntry:
        """Build from a `fitmirror.catalog.Product` (duck-typed so nlu does not need the catalogue at import)."""
        return cls(
            id=p.id,  # type: ignore[attr-defined]
            name=p.name,  # type: ignore[attr-defined]
            name_zh=getattr(p, "name_i18n", {}).get("zh", ""),
            category=p.category,  # type: ignore[attr-defined]
            colors=[c.name for c in p.colors],  # type: ignore[attr-defined]
            pattern=getattr(p, "pattern", "solid"),
            occasions=list(getattr(p, "occasions", [])),
            description=getattr(p, "description", ""),
        )


class Turn(BaseModel):
    """One earlier exchange: what the user said, what it did, and the outfit after it."""

    model_config = ConfigDict(extra="ignore")
    text: str = ""
    reply: str = ""
    actions: list[dict] = Field(default_factory=list)
    outfit: list[OutfitItem] = Field(default_factory=list)


class ParseContext(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lang: Lang = "en"
    outfit: list[OutfitItem] = Field(default_factory=list, description="Current items, last put on last.")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first (bounded).")
    catalog: list[CatalogEntry] = Field(default_factory=list)

    MAX_HISTORY: ClassVar[int] = 20

    @field_validator("history", mode="after")
    @classmethod
    def _bounded(cls, v: list[Turn]) -> list[Turn]:
        return v[-cls.MAX_HISTORY :]  # only recent turns matter; keeps prompts and lookups bounded

    def focus(self) -> OutfitItem | None:
        """The item a bare "it"/"this"/"那件" refers to: the one put on last."""
        return self.outfit[-1] if self.outfit else None

    def product(self, product_id: str) -> CatalogEntry | None:
        for p in self.catalog:
            if p.id == product_id:
                return p
        return None

    def previous_items(self) -> list[OutfitItem]:
        """Items worn in earlier turns but not now, most recent first ("换回刚才那件", "the previous one")."""
        current = {(i.id, i.color) for i in self.outfit}
        seen: set[tuple[str, str | None]] = set()
        out: list[OutfitItem] = []
        for turn in reversed(self.history[-self.MAX_HISTORY :]):
            for item in reversed(turn.outfit):
                key = (item.id, item.color)
                if key in current or key in seen:
                    continue
                seen.add(key)
                out.append(item)
        return out

    def find(
        self, category: str | None = None, color: str | None = None, exclude_id: str | None = None
    ) -> list[CatalogEntry]:
        """Catalogue products matching the structured filters, in catalogue order."""
        return [
            p
            for p in self.catalog
            if (category is None or p.category == category)
            and (color is None or color in p.colors)
            and p.id != exclude_id
        ]

    def prompt_summary(self, max_products: int = 30) -> str:
        """Compact text for the LLM prompt: outfit, last turns, a catalogue digest."""
        lines = []
        if self.outfit:  # only what is known: a "size ?" made the 1.5B model invent sizes
            items = []
            for i in self.outfit:
                facts = [i.category, *([i.color] if i.color else []), *([f"size {i.size}"] if i.size else [])]
                items.append(f"{i.name or i.id} ({', '.join(facts)})")
            lines.append("(wearing now: " + "; ".join(items) + ")")
        for t in self.history[-3:]:
            if t.text:
                lines.append(f"(earlier: {t.text[:120]})")
        if self.catalog:
            cats: dict[str, set[str]] = {}
            for p in self.catalog[:200]:
                cats.setdefault(p.category, set()).update(p.colors)
            lines.append(
                "(catalogue: " + "; ".join(f"{c} ({', '.join(sorted(v))})" for c, v in sorted(cats.items())) + ")"
            )
        return "\n".join(lines)
