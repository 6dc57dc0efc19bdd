"""Catalogue HTTP API. The server calls `add_routes(app)`; queries run in the default executor.

GET /api/catalog?category=&color=&occasion=&gender=&q=&page=&page_size=  -> {"products", "total", "page", "page_size"}
GET /api/catalog/{id}                                                     -> one product, 404 if unknown
GET /api/catalog/{id}/texture.png?color=                                  -> the product's fabric tile (PNG)
"""

from __future__ import annotations

import asyncio
import functools
import io
from typing import Any

from aiohttp import web

from fitmirror.catalog import CATEGORIES, COLOR_NAMES, OCCASIONS
from fitmirror.errors import FitmirrorError, InputError

from .catalog_db import CatalogDB

CATALOG_DB = web.AppKey("catalog_db", CatalogDB)
MAX_PAGE_SIZE = 100


def _error(e: FitmirrorError) -> web.Response:
    return web.json_response({"error": e.to_dict()}, status=e.http_status)


def _choice(params, name: str, allowed: tuple[str, ...]) -> str | None:
    v = params.get(name, "").strip().lower()
    if not v:
        return None
    if v not in allowed:
        raise InputError(f"unknown {name} {v!r}", hint=f"one of: {', '.join(allowed)}")
    return v


def _int(params, name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise InputError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= v <= hi:
        raise InputError(f"{name} must be between {lo} and {hi}, got {v}")
    return v


def _db(request: web.Request) -> CatalogDB:
    return request.app[CATALOG_DB]


async def list_products(request: web.Request) -> web.Response:
    p = request.query
    try:
        kw: dict[str, Any] = {
            "category": _choice(p, "category", CATEGORIES),
            "color": _choice(p, "color", COLOR_NAMES),
            "occasion": _choice(p, "occasion", OCCASIONS),
            "gender": _choice(p, "gender", ("women", "men", "unisex")),
            "q": (p.get("q") or "").strip()[:200] or None,
            "page": _int(p, "page", 1, 1, 100_000),
            "page_size": _int(p, "page_size", 20, 1, MAX_PAGE_SIZE),
        }
    except InputError as e:
        return _error(e)
    loop = asyncio.get_running_loop()
    page = await loop.run_in_executor(None, functools.partial(_db(request).search, **kw))
    return web.json_response(
        {
            "products": [x.model_dump(mode="json") for x in page.products],
            "total": page.total,
            "page": page.page,
            "page_size": page.page_size,
        }
    )


async def get_product(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    try:
        prod = await loop.run_in_executor(None, _db(request).get, request.match_info["id"])
    except FitmirrorError as e:
        return _error(e)
    return web.json_response(prod.model_dump(mode="json"))


def _texture_png(db: CatalogDB, pid: str, color: str | None) -> bytes:
    from PIL import Image

    from fitmirror.demo_catalog import product_texture

    img = product_texture(db.get(pid), color or None, 256)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


async def get_texture(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    try:
        png = await loop.run_in_executor(
            None, _texture_png, _db(request), request.match_info["id"], request.query.get("color")
        )
    except FitmirrorError as e:
        return _error(e)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "max-age=3600"})


def add_routes(app: web.Application, db: CatalogDB) -> CatalogDB:
    """Register the catalogue routes over the app's one catalogue (`create_app` opens it)."""
    app[CATALOG_DB] = db
    app.router.add_get("/api/catalog", list_products)
    app.router.add_get("/api/catalog/{id}", get_product)
    app.router.add_get("/api/catalog/{id}/texture.png", get_texture)
    return db
