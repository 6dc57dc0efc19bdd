"""Catalogue schema, loaders and demo catalogue: what a shop owner importing a catalogue would check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from fitmirror.catalog import (
    CATEGORIES,
    CatalogError,
    Product,
    load_catalog,
    parse_csv,
    parse_json,
    products_to_csv,
)
from fitmirror.demo_catalog import SIZES, demo_products, product_texture
from fitmirror.errors import InputError


def _tee(**kw) -> dict:
    d = {
        "id": "tee-1",
        "name": "Tee",
        "category": "tshirt",
        "colors": [{"name": "navy", "rgb": "#1f2a44"}],
        "price": 10,
        "size_chart": {"S": {"chest_cm": 96, "length_cm": 68, "sleeve_length_cm": 19}},
    }
    d.update(kw)
    return d


def test_demo_catalogue_covers_every_category_with_graded_charts():
    products = demo_products()
    assert len(products) >= 24
    assert {p.category for p in products} == set(CATEGORIES)
    for p in products:
        assert len(p.colors) >= 2, p.id
        assert p.sizes == list(SIZES)
        assert p.name_i18n["zh"]
        girth = "chest_cm" if p.size_chart["M"].chest_cm else "waist_cm"
        vals = [getattr(p.size_chart[s], girth) for s in SIZES]
        steps = np.diff(vals)
        assert np.all((steps >= 4) & (steps <= 6)), (p.id, vals)


def test_validation_errors_name_the_field():
    with pytest.raises(Exception) as ei:
        Product.model_validate(_tee(category="tshrt"))
    assert "category" in str(ei.value)
    res = parse_json(json.dumps([_tee(category="tshrt"), _tee(id="ok-1"), _tee(id="x", price=-1)]))
    assert [p.id for p in res.products] == ["ok-1"]
    msgs = [str(e) for e in res.errors]
    assert "row 1 (tee-1): category: 'tshrt' is not one of" in msgs[0]
    assert "row 3" in msgs[1] and "price" in msgs[1]


def test_chart_must_have_category_measurements_and_be_graded():
    res = parse_json(json.dumps([_tee(size_chart={"M": {"chest_cm": 100}})]))
    assert "needs chest_cm, length_cm, sleeve_length_cm; missing length_cm, sleeve_length_cm" in str(res.errors[0])
    chart = {
        "S": {"chest_cm": 100, "length_cm": 68, "sleeve_length_cm": 19},
        "M": {"chest_cm": 96, "length_cm": 70, "sleeve_length_cm": 20},
    }
    res = parse_json(json.dumps([_tee(size_chart=chart)]))
    assert "not graded" in str(res.errors[0])
    bad_rgb = parse_json(json.dumps([_tee(colors=[{"name": "navy", "rgb": "blue"}])]))
    assert "#1f2a44" in str(bad_rgb.errors[0])


def test_json_yaml_csv_round_trip(tmp_path):
    products = list(demo_products())
    (tmp_path / "c.json").write_text(json.dumps({"products": [p.model_dump(mode="json") for p in products]}))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump([p.model_dump(mode="json") for p in products], allow_unicode=True))
    (tmp_path / "c.csv").write_text(products_to_csv(products))
    for name in ("c.json", "c.yaml", "c.csv"):
        loaded = load_catalog(tmp_path / name)
        assert [p.model_dump() for p in loaded] == [p.model_dump() for p in products], name


def test_csv_reports_every_bad_row_and_drops_nothing_silently(tmp_path):
    lines = products_to_csv(demo_products()[:2]).splitlines()
    header, rows = lines[0], lines[1:]
    assert len(rows) == 12
    rows[1] = rows[1].replace("tshirt", "tshrt")  # line 3: bad category
    rows[2] = rows[2].replace(",104.0,", ",lots,", 1)  # line 4 (size M): chest not a number
    rows[8] = rows[8].replace(",navy:", ",teal:", 1)  # line 10 (second product): unknown colour
    res = parse_csv("\n".join([header, *rows]))
    assert res.products == []
    by_row = {e.row: str(e) for e in res.errors}
    assert "category: 'tshrt' is not one of" in by_row[3]
    assert "chest_cm: 'lots' is not a number" in by_row[4]
    assert "colors.0.name: 'teal' is not one of" in by_row[10]
    held = [e for e in res.errors if "not imported" in e.message]
    assert {e.product_id for e in held} == {"tee-classic", "tee-stripe"}  # the good rows are accounted for
    p = tmp_path / "bad.csv"
    p.write_text("\n".join([header, *rows]))
    with pytest.raises(CatalogError) as ei:
        load_catalog(p)
    assert "row 3 (tee-classic)" in ei.value.message


def test_csv_missing_columns_is_a_clear_error():
    with pytest.raises(InputError, match="lacks column"):
        parse_csv("id,name\nx,y\n")


def test_textures_are_tileable_and_in_product_colour():
    for p in demo_products():
        tex = product_texture(p, size_px=128)
        assert tex.shape == (128, 128, 3) and tex.dtype == np.uint8
        # Tileable: the wrap-around seam differs no more than neighbouring rows do inside the tile.
        seam = np.abs(tex[0].astype(int) - tex[-1].astype(int)).mean()
        inner = np.abs(np.diff(tex.astype(int), axis=0)).mean(axis=(1, 2)).max()
        assert seam <= inner + 1, p.id
    solid = next(p for p in demo_products() if p.pattern == "solid")
    want = np.array(solid.colors[0].rgb_float) * 255
    assert np.abs(product_texture(solid, size_px=64).reshape(-1, 3).mean(0) - want).max() < 10
    # made once per product, colour and size: the same read-only tile for every caller
    again = product_texture(solid, size_px=64)
    assert again is product_texture(solid, size_px=64) and not again.flags.writeable
    assert product_texture(solid, solid.colors[-1].name, 64) is not again or len(solid.colors) == 1


def test_body_measurement_charts_get_standard_ease():
    p = Product.model_validate(_tee(measurement_kind="body"))
    assert p.garment_measurements("s")["chest_cm"] == 96 + 10  # T-shirt chest ease
    assert p.garment_measurements("S")["length_cm"] == 68  # lengths are not eased
    with pytest.raises(InputError, match="no size"):
        p.chart("XXL")
