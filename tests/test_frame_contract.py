"""The frame contract without any model: layouts turn a stage's views into the output tracks, the preview stage
fills what a layout reads, and an outfit item resolves to the catalogue product the garment stage dresses."""

from __future__ import annotations

import numpy as np
import pytest

from fitmirror.errors import NotFoundError
from fitmirror.frame import FrameContext, FrameIn, RenderState
from render.layout import compose, fit_image, mosaic_grid, n_tracks, output_sizes
from render.stage import EchoStage, PreviewStage


def _ctx(layout: str, views=("front", "left", "back"), size=(64, 48)) -> FrameContext:
    img = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    return FrameContext(FrameIn(img, 1, 0.0), RenderState(views=tuple(views), layout=layout, view_size=size))


@pytest.mark.parametrize(
    ("layout", "views", "sizes"),
    [
        ("mosaic", ("front", "left", "back"), [(192, 48)]),
        ("mosaic", ("front", "left", "back", "right"), [(128, 96)]),
        ("tracks", ("front", "back"), [(64, 48), (64, 48)]),
        ("stereo", ("front",), [(128, 48)]),
        ("mirror", ("front",), [(64, 48)]),
    ],
)
def test_every_layout_makes_the_tracks_it_announces(layout, views, sizes):
    """The session opens output tracks of `output_sizes` before the first frame: the composed images must match."""
    assert output_sizes(layout, views, (64, 48)) == sizes
    assert n_tracks(layout, len(views)) == len(sizes)
    ctx = _ctx(layout, views)
    PreviewStage().process(ctx)
    out = compose(ctx)
    assert [(o.shape[1], o.shape[0]) for o in out] == sizes
    assert all(o.dtype == np.uint8 and o.ndim == 3 for o in out)


def test_mosaic_places_views_in_order_and_a_missing_view_is_an_error():
    ctx = _ctx("mosaic", ("front", "left", "back", "right", "three_quarter"))
    assert mosaic_grid(5) == (3, 2)
    for i, v in enumerate(ctx.state.views):
        ctx.views[v] = np.full((48, 64, 3), 10 * (i + 1), np.uint8)
    (out,) = compose(ctx)
    assert out[0, 0, 0] == 10 and out[0, 64, 0] == 20 and out[48, 0, 0] == 40 and out[48, 64, 0] == 50
    assert out[48, 128, 0] == 16  # the empty sixth tile
    del ctx.views["back"]
    with pytest.raises(RuntimeError, match="back"):
        compose(ctx)


def test_stereo_without_eyes_uses_the_selected_view_and_echo_passes_the_frame():
    ctx = _ctx("stereo", ("front",))
    ctx.views["front"] = np.full((48, 64, 3), 7, np.uint8)
    (out,) = compose(ctx)
    assert out.shape == (48, 128, 3) and (out == 7).all()
    ctx = _ctx("mosaic")
    EchoStage().process(ctx)
    assert compose(ctx)[0] is ctx.frame.image


def test_fit_image_crops_to_the_aspect_ratio_without_bars():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 50:150] = 255  # the centre square
    out = fit_image(img, (50, 50))
    assert out.shape == (50, 50, 3) and out.min() == 255


def test_an_outfit_item_resolves_to_one_product(demo_catalog):
    cat = demo_catalog
    dress = cat.product_for({"category": "dress", "color": "blue"})
    assert dress is not None and dress.category == "dress" and "blue" in [c.name for c in dress.colors]
    # a colour the category lacks: the category's first product (the garment is shown, its colour explained)
    other = cat.product_for({"category": "dress", "color": "no-such-colour"})
    assert other is not None and other.category == "dress"
    assert cat.product_for({"product_id": "tee-classic"}).id == "tee-classic"
    assert cat.product_for({"product_id": "gone"}) is None
    with pytest.raises(NotFoundError, match="gone"):
        cat.product_for({"product_id": "gone"}, strict=True)  # the garment stage: never another product instead
