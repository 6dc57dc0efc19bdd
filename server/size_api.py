"""Size advice HTTP API. The server calls `add_routes(app)`; advice runs in the default executor.

POST /api/size-advice  JSON {measurements: {chest_cm, waist_cm, hips_cm, height_cm, weight_kg, ...},
                             size_chart: {size: {measure_cm: v}} | product_id, category, stretch (0..1),
                             preference: snug|regular|loose, lang: en|zh, chart_kind: body|garment, user_id}
  -> 200 {size, confidence, reason, ease_cm, regions, alternatives, chart_size, source, ...}
  -> 400 {"error": {code, message, hint}} on bad input; 404 unknown product; 503 no trained model (item-id only)
"""

from __future__ import annotations

import asyncio
import functools
import json

from aiohttp import web

from fitmirror import jsonsafe
from fitmirror.errors import FitmirrorError, InputError, UnsupportedMediaTypeError
from server.catalog_api import CATALOG_DB

MAX_BODY_BYTES = 64 * 1024


def _error(e: FitmirrorError) -> web.Response:
    return web.json_response({"error": e.to_dict()}, status=e.http_status)


async def size_advice(request: web.Request) -> web.Response:
    from avatar.sizing.service import advise

    try:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise InputError(f"request body larger than {MAX_BODY_BYTES} bytes")
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            raise InputError(f"request body larger than {MAX_BODY_BYTES} bytes")
        if request.content_type != "application/json":
            return _error(UnsupportedMediaTypeError("the request body must be sent as application/json"))
        body = jsonsafe.loads(raw or b"null")  # NaN, Infinity and deep nesting are input errors
        if not isinstance(body, dict):
            raise InputError(
                "request body must be a JSON object", hint='e.g. {"measurements": {...}, "size_chart": {...}}'
            )
        loop = asyncio.get_running_loop()
        fn = functools.partial(advise, body, product_lookup=request.app[CATALOG_DB].get)  # the shop's catalogue
        advice = await loop.run_in_executor(None, fn)
    except FitmirrorError as e:
        return _error(e)
    return web.json_response(advice, dumps=functools.partial(json.dumps, ensure_ascii=False))


def add_routes(app: web.Application) -> None:
    """Needs the catalogue API's DB on the app (`server.catalog_api.add_routes` first): advice is about the shop's
    products, never the demo catalogue's."""
    if CATALOG_DB not in app:
        raise RuntimeError("size_api.add_routes needs the catalogue DB: call catalog_api.add_routes first")
    app.router.add_post("/api/size-advice", size_advice)
