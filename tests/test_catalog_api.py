"""Catalogue DB and GET /api/catalog through a real aiohttp server and SQLite file."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from fitmirror.catalog import products_to_csv
from fitmirror.demo_catalog import demo_products
from server.catalog_api import add_routes
from server.catalog_db import CatalogDB


@pytest.fixture
def db(tmp_path):
    return CatalogDB(f"sqlite:///{tmp_path / 'cat.sqlite3'}")


@pytest.fixture
async def client(db):
    app = web.Application()
    add_routes(app, db)
    async with TestClient(TestServer(app)) as c:
        yield c


def test_seeded_with_demo_on_first_use_and_persistent(tmp_path, db):
    assert db.count() == len(demo_products())
    again = CatalogDB(f"sqlite:///{tmp_path / 'cat.sqlite3'}")
    assert again.count() == len(demo_products())
    assert again.get("dress-wrap").name_i18n["zh"] == "裹身中长连衣裙"


def test_csv_import_reports_bad_rows_and_stores_the_rest(tmp_path, db):
    csv_text = products_to_csv(demo_products()[:3]).replace("tee-classic", "new-tee")
    lines = csv_text.splitlines()
    lines[14] = lines[14].replace("tshirt", "hat")  # a row of the third product
    p = tmp_path / "shop.csv"
    p.write_text("\n".join(lines))
    res = db.import_file(p)
    assert [x.id for x in res.products] == ["new-tee", "tee-stripe"]
    assert any(e.row == 15 and "category" in e.message for e in res.errors)
    assert db.get("new-tee").category == "tshirt"


async def test_filters_paging_and_404(client):
    r = await client.get("/api/catalog", params={"page_size": "5"})
    body = await r.json()
    assert r.status == 200 and body["total"] == len(demo_products()) and len(body["products"]) == 5
    ids = set()
    for page in range(1, 7):
        b = await (await client.get("/api/catalog", params={"page": str(page), "page_size": "5"})).json()
        ids |= {p["id"] for p in b["products"]}
    assert len(ids) == len(demo_products())

    b = await (await client.get("/api/catalog", params={"category": "dress", "color": "red"})).json()
    assert b["total"] >= 2 and all(p["category"] == "dress" for p in b["products"])
    assert all(any(c["name"] == "red" for c in p["colors"]) for p in b["products"])
    b = await (await client.get("/api/catalog", params={"occasion": "wedding"})).json()
    assert b["total"] >= 3 and all("wedding" in p["occasions"] for p in b["products"])
    b = await (await client.get("/api/catalog", params={"q": "牛仔"})).json()
    assert {p["category"] for p in b["products"]} <= {"jeans", "jacket"} and b["total"] >= 2
    b = await (await client.get("/api/catalog", params={"q": "denim jacket"})).json()
    assert [p["id"] for p in b["products"]] == ["jacket-denim"]

    for bad in ({"category": "hat"}, {"page": "0"}, {"page_size": "1000"}, {"color": "teal"}, {"page": "x"}):
        r = await client.get("/api/catalog", params=bad)
        assert r.status == 400, bad
        assert "error" in await r.json()

    r = await client.get("/api/catalog/coat-trench")
    assert r.status == 200 and (await r.json())["size_chart"]["M"]["length_cm"] == 100
    r = await client.get("/api/catalog/nope")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    r = await client.get("/api/catalog/tee-stripe/texture.png", params={"color": "red"})
    assert r.status == 200 and (await r.read())[:4] == b"\x89PNG"
