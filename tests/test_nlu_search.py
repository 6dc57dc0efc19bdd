"""Catalogue search: free-text requests in English and Chinese find sensible products from a small catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.context import CatalogEntry
from nlu.parser import parse
from nlu.search import CatalogSearch

CATALOG = [
    {
        "id": "linen-maxi",
        "name": "Flowing linen maxi dress",
        "name_zh": "亚麻长款连衣裙",
        "category": "dress",
        "colors": ["white", "beige"],
        "occasions": ["beach", "wedding"],
        "description": "light, airy summer dress",
    },
    {
        "id": "wool-coat",
        "name": "Wool overcoat",
        "name_zh": "羊毛大衣",
        "category": "coat",
        "colors": ["grey", "navy"],
        "occasions": ["work", "formal"],
        "description": "warm winter coat",
    },
    {
        "id": "run-shorts",
        "name": "Running shorts",
        "name_zh": "跑步短裤",
        "category": "shorts",
        "colors": ["black"],
        "occasions": ["sport"],
    },
    {
        "id": "linen-shirt",
        "name": "Breathable linen shirt",
        "name_zh": "透气亚麻衬衫",
        "category": "shirt",
        "colors": ["white", "blue"],
        "occasions": ["casual", "travel"],
        "description": "cool and breathable for hot summer days",
    },
    {
        "id": "oxford-shirt",
        "name": "Oxford office shirt",
        "name_zh": "牛津纺衬衫",
        "category": "shirt",
        "colors": ["white", "pink"],
        "occasions": ["work"],
        "description": "crisp cotton shirt",
    },
    {
        "id": "slim-jeans",
        "name": "Slim jeans",
        "name_zh": "修身牛仔裤",
        "category": "jeans",
        "colors": ["blue"],
        "pattern": "denim",
        "occasions": ["casual"],
    },
    {
        "id": "party-dress",
        "name": "Sequin party mini dress",
        "name_zh": "亮片派对短裙",
        "category": "dress",
        "colors": ["black", "red"],
        "occasions": ["party", "evening"],
    },
    {
        "id": "hoodie",
        "name": "Fleece hoodie",
        "name_zh": "抓绒卫衣",
        "category": "sweater",
        "colors": ["grey"],
        "occasions": ["casual", "home"],
    },
]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> CatalogSearch:
    cache: Path = tmp_path_factory.mktemp("emb") / "emb.npz"
    return CatalogSearch([CatalogEntry(**p) for p in CATALOG], cache_path=cache)


def test_beach_wedding_finds_a_dress(searcher: CatalogSearch) -> None:
    hits = searcher.search("something for a beach wedding")
    assert hits[0].product_id == "linen-maxi"
    # via the parser's select action (hard filters from the command, text as the query)
    sel = parse("something for a beach wedding", backend="rules").actions[0]
    assert searcher.for_select(sel, "something for a beach wedding")[0].product_id == "linen-maxi"


def test_chinese_summer_shirt(searcher: CatalogSearch) -> None:
    hits = searcher.search("透气的夏季衬衫")
    assert hits[0].product_id == "linen-shirt"
    assert {h.category for h in hits[:2]} == {"shirt"}


def test_filters_are_hard_and_cache_is_reused(searcher: CatalogSearch) -> None:
    hits = searcher.search("something warm for the office", category="coat")
    assert [h.product_id for h in hits] == ["wool-coat"]
    assert searcher.search("party", color="red")[0].product_id == "party-dress"
    again = CatalogSearch(searcher.catalog, encoder=_NoEncode(searcher.encoder), cache_path=searcher.cache_path)
    assert again.search("running gear")[0].product_id == "run-shorts"


class _NoEncode:
    """Wraps the real encoder and fails if product texts are re-embedded (they must come from the cache)."""

    def __init__(self, enc: object) -> None:
        self.enc = enc

    def encode(self, texts: list[str]) -> object:
        assert len(texts) == 1, "product embeddings should have come from the disk cache"
        return self.enc.encode(texts)  # type: ignore[attr-defined]
