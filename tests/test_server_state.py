"""The session state against the real demo catalogue: one garment per slot, a colour-only select recolours, batches
are all or nothing, and products, sizes and colours the catalogue does not have are refused with what it has."""

from __future__ import annotations

import random

import pytest

from fitmirror.catalog import MAX_OUTFIT_ITEMS, CatalogIndex
from fitmirror.demo_catalog import demo_products
from server.state import MAX_ACTIONS, ActionRefused, SessionState, demo_outfit_items


@pytest.fixture(scope="module")
def catalog() -> CatalogIndex:
    return CatalogIndex(demo_products())


def state(catalog: CatalogIndex) -> SessionState:
    s = SessionState(views=("front",), layout="mosaic", view_size=(64, 64), catalog=catalog)
    s.outfit = demo_outfit_items("tee-classic:white,jeans-straight:blue")
    return s


def test_a_colour_only_select_recolours_the_garment_on_show(catalog):
    s = state(catalog)
    applied = s.apply_all([{"type": "select", "color": "black"}] * 500)  # "黑" x 500 from the rules
    assert applied == [{"type": "select", "color": "black"}]
    assert [(i["product_id"], i["color"]) for i in s.outfit] == [("tee-classic", "white"), ("jeans-straight", "black")]


def test_the_outfit_never_grows_past_its_slots(catalog):
    s = state(catalog)
    rng = random.Random(7)
    cats = sorted(catalog.categories())
    for _ in range(500):
        cat = rng.choice(cats)
        s.apply_all([{"type": "select", "category": cat}])
        assert len(s.outfit) <= MAX_OUTFIT_ITEMS
        slots = [i["category"] for i in s.outfit]
        assert not ({"dress"} & set(slots) and {"jeans", "tshirt", "skirt"} & set(slots)), slots
    s.apply_all([{"type": "select", "occasion": "wedding"}])
    assert s.outfit[-1]["product_id"] in catalog.by_id and s.outfit[-1]["category"]
    assert len(s._history) <= 32


def test_a_batch_is_applied_all_or_nothing(catalog):
    s = state(catalog)
    before = (list(s.outfit), s.size, s.fit_map)
    with pytest.raises(ActionRefused, match="nothing is selected to recolour"):
        s.apply_all([{"type": "reset"}, {"type": "set_color", "color": "red"}])
    assert (s.outfit, s.size, s.fit_map) == before
    with pytest.raises(ActionRefused, match="at most 8"):
        s.apply_all([{"type": "set_measurement", "name": "height", "value": 150 + i} for i in range(MAX_ACTIONS + 1)])
    assert s.measurements == {}


def test_unknown_products_sizes_and_colours_are_refused_with_what_there_is(catalog):
    s = state(catalog)
    with pytest.raises(ActionRefused, match="we have no product 'no-such-thing'"):
        s.apply_all([{"type": "select", "product_id": "no-such-thing"}])
    with pytest.raises(ActionRefused, match=r"we have no size 99XL for the .*jeans.*; the sizes are XS-XXL"):
        s.apply_all([{"type": "set_size", "size": "99xl"}])
    with pytest.raises(ActionRefused, match="comes in blue, black, grey, not purple") as e:
        s.apply_all([{"type": "set_color", "color": "purple"}])
    assert e.value.text("zh") == "直筒牛仔裤只有蓝色、黑色、灰色，没有紫色。", e.value.text("zh")
    with pytest.raises(ActionRefused, match="we have no purple dress; dress come in"):
        s.apply_all([{"type": "select", "category": "dress", "color": "purple"}])
    s.apply_all([{"type": "set_size", "size": "XXL"}])
    with pytest.raises(ActionRefused, match="XXL is the largest size"):
        s.apply_all([{"type": "set_size", "size": "+1"}])
    s.apply_all([{"type": "set_size", "size": "-1"}])
    assert s.size == "XL"
    assert [i["product_id"] for i in s.outfit] == ["tee-classic", "jeans-straight"]


def test_without_a_garment_any_plausible_size_is_kept_for_the_next(catalog):
    s = SessionState(views=("front",), layout="mosaic", view_size=(64, 64), catalog=catalog)
    s.apply_all([{"type": "set_size", "size": "38"}])
    assert s.size == "38"
    with pytest.raises(ActionRefused, match="we have no size 99"):
        s.apply_all([{"type": "set_size", "size": "99"}])
