"""POST /api/size-advice through a real aiohttp app and test client."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from avatar.sizing.charts import demo_chart
from server import catalog_api
from server.catalog_db import CatalogDB
from server.size_api import add_routes


async def _client(db: CatalogDB) -> TestClient:
    app = web.Application()
    catalog_api.add_routes(app, db)  # the shop's catalogue: here the demo one
    add_routes(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_size_advice_200_with_chart_and_chinese_reason(catalog_db):
    client = await _client(catalog_db)
    try:
        body = {
            "measurements": {"chest_cm": 92, "waist_cm": 79, "hips_cm": 101, "height_cm": 166},
            "size_chart": demo_chart("dress"),
            "category": "dress",
            "stretch": 0.1,
            "preference": "regular",
            "lang": "zh",
        }
        r = await client.post("/api/size-advice", json=body)
        assert r.status == 200
        out = await r.json()
        assert out["size"] == "M"
        assert 0 < out["confidence"] <= 1
        assert "胸围" in out["reason"]
        assert set(out["ease_cm"]) == {"chest_cm", "waist_cm", "hips_cm"}
        assert out["alternatives"][0]["size"] == "M"

        r = await client.post("/api/size-advice", json={"measurements": {"chest_cm": 100}, "product_id": "tee-classic"})
        assert r.status == 200 and (await r.json())["size"] in {"S", "M", "L"}
    finally:
        await client.close()


async def test_size_advice_400_on_bad_input(catalog_db):
    client = await _client(catalog_db)
    try:
        r = await client.post("/api/size-advice", data=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status == 400
        assert "not valid JSON" in (await r.json())["error"]["message"]
        r = await client.post("/api/size-advice", data=b'{"measurements": {}}', headers={"Content-Type": "text/plain"})
        assert r.status == 415  # a cross-site form or text/plain post: no preflight, so refused

        # non-finite numbers, absurd charts and deep nesting are input errors, never a 500
        json_ = {"Content-Type": "application/json"}
        for raw in (b'{"measurements": {"chest_cm": NaN}, "product_id": "tee-classic"}',
                    b'{"measurements": {"chest_cm": 1e400}, "product_id": "tee-classic"}',
                    b"[" * 50_000 + b"]" * 50_000):  # fmt: skip
            r = await client.post("/api/size-advice", data=raw, headers=json_)
            assert r.status == 400, (raw[:60], r.status, await r.text())
        chart = demo_chart("dress")
        chart["M"]["chest_cm"] = 1e308
        r = await client.post("/api/size-advice", json={"measurements": {"chest_cm": 92}, "size_chart": chart})
        assert r.status in (400, 422) and "chest_cm" in (await r.json())["error"]["message"]

        r = await client.post("/api/size-advice", json={"measurements": {"chest_cm": 92}, "preference": "baggy"})
        assert r.status == 400
        assert "preference" in (await r.json())["error"]["message"]

        r = await client.post(
            "/api/size-advice", json={"measurements": {"chest_cm": 900}, "size_chart": demo_chart("dress")}
        )
        assert r.status == 422
        assert "chest_cm" in (await r.json())["error"]["message"]

        r = await client.post("/api/size-advice", json={"measurements": {"chest_cm": 92}})
        assert r.status == 400
        assert "size_chart or product_id" in (await r.json())["error"]["message"]

        r = await client.post("/api/size-advice", json=[1, 2])
        assert r.status == 400
    finally:
        await client.close()


def test_a_shops_missing_product_is_unknown_not_a_demo_product():
    """With the shop's catalogue (lookup) the demo catalogue is never consulted: an id the shop does not have is a
    404, even when a demo product of that id exists."""
    import pytest

    from avatar.sizing.service import advise
    from fitmirror.errors import NotFoundError

    def shop_lookup(pid: str):
        raise NotFoundError(f"no product {pid!r}")

    body = {"measurements": {"chest_cm": 92, "waist_cm": 76, "hips_cm": 98}, "product_id": "tee-classic"}
    assert advise(body)["size"]  # no shop catalogue (the CLI): the demo catalogue answers
    with pytest.raises(NotFoundError, match="tee-classic"):
        advise(body, product_lookup=shop_lookup)
