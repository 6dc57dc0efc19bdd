"""Catalogue storage: SQLAlchemy 2 models over SQLite (default, in cache_dir) or any SQLAlchemy URL (PostgreSQL
works the same). The full validated product is kept as JSON (the source of truth); colours and occasions are
also stored in their own tables so filters run in SQL. Seeded with the built-in demo catalogue on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, create_engine, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from fitmirror.catalog import ImportResult, Product, parse_file, parse_records
from fitmirror.errors import NotFoundError


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    name_zh: Mapped[str] = mapped_column(String(120), default="")
    category: Mapped[str] = mapped_column(String(16), index=True)
    gender: Mapped[str] = mapped_column(String(8))
    pattern: Mapped[str] = mapped_column(String(16))
    price: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3))
    search_text: Mapped[str] = mapped_column(String(2000), default="")
    data: Mapped[dict] = mapped_column(JSON)
    colors: Mapped[list[ColorRow]] = relationship(cascade="all, delete-orphan")
    occasions: Mapped[list[OccasionRow]] = relationship(cascade="all, delete-orphan")


class ColorRow(Base):
    __tablename__ = "product_colors"
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)
    rgb: Mapped[str] = mapped_column(String(7))


class OccasionRow(Base):
    __tablename__ = "product_occasions"
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    occasion: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)


def _row(p: Product) -> ProductRow:
    zh = p.name_i18n.get("zh", "")
    text = " ".join(
        [p.name, zh, p.category, p.pattern, p.brand, p.description, *(c.name for c in p.colors), *p.occasions]
    )
    return ProductRow(
        id=p.id,
        name=p.name,
        name_zh=zh,
        category=p.category,
        gender=p.gender,
        pattern=p.pattern,
        price=p.price,
        currency=p.currency,
        search_text=text.lower()[:2000],
        data=p.model_dump(mode="json"),
        colors=[ColorRow(name=c.name, rgb=c.rgb) for c in p.colors],
        occasions=[OccasionRow(occasion=o) for o in dict.fromkeys(p.occasions)],
    )


@dataclass
class Page:
    products: list[Product]
    total: int
    page: int
    page_size: int


class CatalogDB:
    """Thread-safe catalogue store (one engine, short sessions); call from an executor, not the event loop."""

    def __init__(self, url: str | None = None, *, seed_demo: bool = True) -> None:
        if url is None:
            from fitmirror.config import get_settings

            url = get_settings().catalog_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kw: dict[str, Any] = {"connect_args": {"check_same_thread": False}} if url.startswith("sqlite") else {}
        if url == "sqlite:///:memory:":
            from sqlalchemy.pool import StaticPool

            kw["poolclass"] = StaticPool
        self.engine: Engine = create_engine(url, **kw)
        Base.metadata.create_all(self.engine)
        self._lock = threading.Lock()
        if seed_demo and self.count() == 0:
            from fitmirror.demo_catalog import demo_products

            self.upsert(demo_products())

    def count(self) -> int:
        with Session(self.engine) as s:
            return s.scalar(select(func.count()).select_from(ProductRow)) or 0

    def upsert(self, products) -> int:
        """Insert or replace products by id (a re-import of a shop export updates in place)."""
        n = 0
        with self._lock, Session(self.engine) as s, s.begin():
            for p in products:
                old = s.get(ProductRow, p.id)
                if old is not None:
                    s.delete(old)
                    s.flush()
                s.add(_row(p))
                n += 1
        return n

    def import_file(self, path: Path | str) -> ImportResult:
        """Import a JSON/YAML/CSV catalogue: valid products are stored, every bad row is returned in `errors`."""
        res = parse_file(path)
        self.upsert(res.products)
        return res

    def import_records(self, records: list[dict]) -> ImportResult:
        res = parse_records(records)
        self.upsert(res.products)
        return res

    def get(self, product_id: str) -> Product:
        with Session(self.engine) as s:
            row = s.get(ProductRow, product_id)
            if row is None:
                raise NotFoundError(f"no product {product_id!r} in the catalogue")
            return Product.model_validate(row.data)

    def all(self) -> list[Product]:
        with Session(self.engine) as s:
            return [Product.model_validate(r.data) for r in s.scalars(select(ProductRow).order_by(ProductRow.id))]

    def search(
        self,
        *,
        category: str | None = None,
        color: str | None = None,
        occasion: str | None = None,
        gender: str | None = None,
        q: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page:
        """Filter (all given filters must match) and page; ordered by category then name for stable paging."""
        stmt = select(ProductRow)
        if category:
            stmt = stmt.where(ProductRow.category == category)
        if gender:
            stmt = stmt.where(or_(ProductRow.gender == gender, ProductRow.gender == "unisex"))
        if color:
            stmt = stmt.where(ProductRow.colors.any(ColorRow.name == color))
        if occasion:
            stmt = stmt.where(ProductRow.occasions.any(OccasionRow.occasion == occasion))
        if q:
            for word in q.lower().split():
                stmt = stmt.where(ProductRow.search_text.contains(word, autoescape=True))
        with Session(self.engine) as s:
            total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            rows = s.scalars(
                stmt.order_by(ProductRow.category, ProductRow.name, ProductRow.id)
                .offset((page - 1) * page_size)
                .limit(page_size)
            ).all()
            return Page([Product.model_validate(r.data) for r in rows], total, page, page_size)
