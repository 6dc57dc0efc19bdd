"""The demo's session-level pieces without a browser: the default demo outfit of an avatar session, a dress
replacing the top and bottoms, and size questions answered from the size module and the size chart."""

from __future__ import annotations

import asyncio

import pytest

from fitmirror.config import Settings
from fitmirror.errors import ConfigError
from nlu.schema import Select, Undo
from server.manager import SessionManager
from server.metrics import Metrics
from server.protocol import SessionOptions
from server.session import Session
from server.size_reply import size_reply
from server.state import SessionState, demo_outfit_items


def test_demo_outfit_setting_names_catalogue_products():
    items = demo_outfit_items(Settings().demo_outfit)
    assert [(i["category"], i["color"]) for i in items] == [("tshirt", "white"), ("jeans", "blue")]
    assert demo_outfit_items("") == []
    with pytest.raises(ConfigError, match="unknown demo product"):
        demo_outfit_items("no-such-thing:red")
    with pytest.raises(ConfigError, match="comes in"):
        demo_outfit_items("tee-classic:purple")


async def test_avatar_session_starts_dressed_preview_does_not(catalog_db):
    mgr = SessionManager(Settings(ice_loopback=True), Metrics(), catalog_db)
    avatar = Session(mgr, SessionOptions(pipeline="avatar"))
    preview = Session(mgr, SessionOptions())
    off = Session(SessionManager(Settings(demo_outfit=""), Metrics(), catalog_db), SessionOptions(pipeline="avatar"))
    try:
        assert {i["category"] for i in avatar.state.to_msg().outfit} == {"tshirt", "jeans"}
        assert preview.state.outfit == [] and off.state.outfit == []
    finally:
        for s in (avatar, preview, off):
            await s.close("test")


def test_a_dress_replaces_top_and_bottoms_but_not_a_jacket():
    s = SessionState(views=("front",), layout="mosaic", view_size=(64, 64))
    s.outfit = demo_outfit_items("tee-classic:white,jeans-straight:blue")
    s.apply(Select(category="jacket", color="black"))
    s.apply(Select(category="dress", color="blue"))
    assert [i["category"] for i in s.outfit] == ["jacket", "dress"]
    s.apply(Select(category="skirt"))
    assert [i["category"] for i in s.outfit] == ["jacket", "skirt"]
    s.apply(Undo())
    assert [i["category"] for i in s.outfit] == ["jacket", "dress"]


def test_size_answers_are_grounded(demo_catalog):
    dress = [{"category": "dress", "color": "blue"}]
    fit = {"status": "ok", "size": "M", "overall": "M: waist loose", "details": {"waist": "loose", "chest": "good"}}
    assert size_reply([{"type": "select", "category": "dress"}], dress, None, {}, fit, "en", demo_catalog) is None
    # measurements: the size module picks the size
    body = {"height_cm": 168.0, "chest_cm": 88.0, "waist_cm": 72.0, "hips_cm": 96.0}
    small = size_reply([{"type": "size_advice"}], dress, "M", body, {}, "en", demo_catalog)
    big = size_reply([{"type": "size_advice"}], dress, "M", {**body, "chest_cm": 108, "waist_cm": 96, "hips_cm": 114},
                     {}, "en", demo_catalog)  # fmt: skip
    assert "fits you best" in small and "fits you best" in big
    sizes = ("XS", "S", "M", "L", "XL", "XXL")
    pick = [next(z for z in sizes if f"size {z} fits" in t) for t in (small, big)]
    assert sizes.index(pick[0]) < sizes.index(pick[1]), pick
    # no measurements: the fit of the size on the avatar body, with the loose region named
    t = size_reply([{"type": "size_advice"}], dress, "M", {}, fit, "en", demo_catalog)
    assert "Size M" in t and "waist" in t and "size down" in t
    # compare: the chart's numbers
    t = size_reply([{"type": "compare_sizes", "sizes": ["M", "L"]}], dress, "M", {}, fit, "zh", demo_catalog)
    assert "M 对比 L" in t and "胸围" in t and "cm" in t
    assert "Pick a garment" in size_reply([{"type": "size_advice"}], [], None, {}, {}, "en", demo_catalog)


async def test_serve_preloads_pipelines_in_the_background():
    from server.app import PRELOAD, create_app, start_site

    app = create_app(Settings(preload_pipelines="preview,echo"), preload=True)
    runner, _port = await start_site(app, "127.0.0.1", 0)
    try:
        task = app[PRELOAD]["task"]
        await asyncio.wait_for(task, 30)
        assert task.exception() is None
    finally:
        await runner.cleanup()
    assert PRELOAD not in create_app(Settings()) or "task" not in create_app(Settings())[PRELOAD]
