"""The anny body with a red stand-in shirt: what a user sees in the stream (front is red on the torso, back differs)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fitmirror.config import get_settings
from render.cameras import CameraRig
from render.renderer import Renderer
from render.scene import Scene


@pytest.fixture(scope="module")
def anny_body_and_shirt():
    if not (get_settings().anny_cache_dir).is_dir():
        pytest.skip("anny cache missing: run `fitmirror setup` (builds it once, ~75 s)")
    from render.demo_scene import anny_scene

    scene, _, _ = anny_scene()
    body, shirt, _jacket = scene.meshes
    return Scene([body, shirt])


def test_front_view_of_red_shirt_is_red_on_the_torso(anny_body_and_shirt, artifacts):
    scene = anny_body_and_shirt
    body, shirt = scene.meshes
    r = Renderer()
    try:
        out = r.render_views(scene, ["front", "back", "left", "three_quarter", "right"], "tracks", 256)
        mosaic = r.render_views(scene, ["front", "three_quarter", "left", "back", "right"], "mosaic", 256)
    finally:
        r.close()
    Image.fromarray(mosaic.image).save(artifacts / "render_anny_mosaic.png")
    front, back = out.views[0], out.views[1]
    cam = CameraRig.framing(*scene.bounds()).camera("front", 256)
    h = body.vertices[:, 1].max()
    # chest and belly: the front-most shirt vertices around x = 0 at 70 % and 58 % of the height
    pts = []
    for frac in (0.70, 0.58):
        sel = (np.abs(shirt.vertices[:, 0]) < 0.03) & (np.abs(shirt.vertices[:, 1] - frac * h) < 0.02)
        pts.append(shirt.vertices[sel][np.argmax(shirt.vertices[sel, 2])])
    u, v = cam.project_px(np.array(pts)).astype(int).T
    px = front[v, u].astype(int)
    assert ((px[:, 0] > 110) & (px[:, 1] < 70) & (px[:, 2] < 70)).all(), px
    # the legs below the shirt are skin, not red
    legs = front[int(0.85 * 256), 96:160].astype(int)
    assert not ((legs[:, 0] > 110) & (legs[:, 1] < 70)).any()
    # back and front differ (face vs back of the head, chest vs back), but both show the red shirt
    assert np.abs(front.astype(int) - back.astype(int)).mean() > 3
    assert ((back[..., 0] > 110) & (back[..., 1] < 70)).sum() > 2000
