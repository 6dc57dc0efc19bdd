"""The session state against the real demo catalogue: one garment per slot, a colour-only select recolours, batches
are all or nothing, and products, sizes and colours the catalogue does not have are refused with what it has.
The state takes nlu's typed action models; plain dicts are validated once at `apply_all`'s entry."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from fitmirror.catalog import MAX_OUTFIT_ITEMS, CatalogIndex, Product
from fitmirror.demo_catalog import demo_product
from nlu.schema import Adjust, Remove, Select, SetColor, SetMeasurement, SetSize, Undo, View
from server.state import MAX_ACTIONS, ActionRefused, SessionState, demo_outfit_items


def state(demo_catalog: CatalogIndex) -> SessionState:
    s = SessionState(views=("front",), layout="mosaic", view_size=(64, 64), catalog=demo_catalog)
    s.outfit = demo_outfit_items("tee-classic:white,jeans-straight:blue")
    return s


def test_a_colour_only_select_recolours_the_garment_on_show(demo_catalog):
    s = state(demo_catalog)
    applied = s.apply_all([{"type": "select", "color": "black"}] * 500)  # "黑" x 500 from the rules
    assert applied == [Select(color="black")]
    assert [a.model_dump(exclude_none=True) for a in applied] == [{"type": "select", "color": "black"}]
    assert [(i["product_id"], i["color"]) for i in s.outfit] == [("tee-classic", "white"), ("jeans-straight", "black")]


def test_the_outfit_never_grows_past_its_slots(demo_catalog):
    s = state(demo_catalog)
    rng = random.Random(7)
    cats = sorted(demo_catalog.categories())
    for _ in range(500):
        cat = rng.choice(cats)
        s.apply_all([{"type": "select", "category": cat}])
        assert len(s.outfit) <= MAX_OUTFIT_ITEMS
        slots = [i["category"] for i in s.outfit]
        assert not ({"dress"} & set(slots) and {"jeans", "tshirt", "skirt"} & set(slots)), slots
    s.apply_all([{"type": "select", "occasion": "wedding"}])
    assert s.outfit[-1]["product_id"] in demo_catalog.by_id and s.outfit[-1]["category"]
    assert len(s._history) <= 32


def test_a_batch_is_applied_all_or_nothing(demo_catalog):
    s = state(demo_catalog)
    before = (list(s.outfit), s.size, s.fit_map)
    with pytest.raises(ActionRefused, match="nothing is selected to recolour"):
        s.apply_all([{"type": "reset"}, {"type": "set_color", "color": "red"}])
    assert (s.outfit, s.size, s.fit_map) == before
    with pytest.raises(ActionRefused, match="at most 8"):
        s.apply_all([{"type": "set_measurement", "name": "height", "value": 150 + i} for i in range(MAX_ACTIONS + 1)])
    assert s.measurements == {}


def test_unknown_products_sizes_and_colours_are_refused_with_what_there_is(demo_catalog):
    s = state(demo_catalog)
    with pytest.raises(ActionRefused, match="we have no product 'no-such-thing'"):
        s.apply_all([{"type": "select", "product_id": "no-such-thing"}])
    with pytest.raises(ActionRefused, match=r"we have no size 4XL for the .*jeans.*; the sizes are XS-XXL"):
        s.apply_all([{"type": "set_size", "size": "4xl"}])
    with pytest.raises(ValidationError, match="size must be"):  # not a size at all: the schema says so, once
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


def test_without_a_garment_any_plausible_size_is_kept_for_the_next(demo_catalog):
    s = SessionState(views=("front",), layout="mosaic", view_size=(64, 64), catalog=demo_catalog)
    s.apply_all([{"type": "set_size", "size": "38"}])
    assert s.size == "38"
    with pytest.raises(ActionRefused, match="we have no size 99"):
        s.apply_all([{"type": "set_size", "size": "99"}])


def test_the_state_takes_typed_actions(demo_catalog):
    s = state(demo_catalog)
    assert s.apply(Select(category="jacket", color="black"))
    assert s.apply(SetSize(size="l")) and s.size == "L"
    assert s.apply(Adjust(attribute="length", direction=-1)) and s.outfit[-1]["adjust"] == {"length": -1}
    assert s.apply(View(view="back")) and s.view == "back"
    assert s.apply(SetMeasurement(name="weight", value=70)) and s.measurements == {"weight_kg": 70.0}
    assert s.apply(Undo()) and s.size == "L" and "adjust" not in s.outfit[-1]
    with pytest.raises(TypeError, match="not an action model"):
        s.apply({"type": "undo"})  # type: ignore[arg-type]
    applied = s.apply_all([SetColor(color="blue"), {"type": "set_size", "size": "-1"}, Remove(category="jacket")])
    assert applied == [SetColor(color="blue"), SetSize(size="-1"), Remove(category="jacket")]
    assert s.size == "M" and [i["category"] for i in s.outfit] == ["tshirt", "jeans"]
    with pytest.raises(ValidationError):  # one bad action: nothing of the batch is applied
        s.apply_all([{"type": "reset"}, {"type": "view", "view": "top"}])
    assert [i["category"] for i in s.outfit] == ["tshirt", "jeans"]


def _big(product: Product) -> Product:
    """The product with its chart extended to 3XL and 4XL (graded on from XXL)."""
    d = product.model_dump()
    xxl = d["size_chart"]["XXL"]
    for n, size in enumerate(("3XL", "4XL"), 1):
        d["size_chart"][size] = {k: (v + 6 * n if k.endswith(("chest_cm", "waist_cm", "hips_cm")) and v else v)
                                 for k, v in xxl.items()}  # fmt: skip
    return Product.model_validate({**d, "id": f"{product.id}-big"})


def test_one_size_up_from_3xl_is_4xl(demo_catalog):
    s = SessionState(views=("front",), layout="mosaic", view_size=(64, 64))  # no garment: the vocabulary's sizes
    s.apply_all([SetSize(size="3XL")])
    s.apply_all([SetSize(size="+1")])
    assert s.size == "4XL"
    with pytest.raises(ActionRefused, match="4XL is the largest size"):
        s.apply_all([SetSize(size="+1")])
    big = _big(demo_product("jeans-straight"))
    s = SessionState(views=("front",), layout="mosaic", view_size=(64, 64),
                     catalog=CatalogIndex([*demo_catalog.products, big]))  # fmt: skip
    s.apply_all([Select(product_id=big.id), SetSize(size="3XL"), SetSize(size="+1")])
    assert s.size == "4XL"
    # 3XL kept from that garment, then one whose chart ends at XXL: a step goes from 3XL, not from M
    s.apply_all([Select(product_id=big.id), SetSize(size="3XL"), Select(product_id="jeans-straight")])
    with pytest.raises(ActionRefused, match="XXL is the largest size of the"):
        s.apply_all([SetSize(size="+1")])
    s.apply_all([SetSize(size="-1")])
    assert s.size == "XXL"
