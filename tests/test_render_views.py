"""Display renderer: views, layouts, AR compositing, on real moderngl/EGL (llvmpipe here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from render.cameras import CameraRig, PinholeCamera, cv_to_gl_points
from render.renderer import Renderer
from render.scene import Mesh, Scene, cylinder_mesh, fit_map_colors

RED = (0.85, 0.08, 0.08)


def _figure() -> Scene:
    """A stand-in person: red shirt (with a white chest patch at the front), blue legs, a head, and a green
    marker on the subject's left (+x) shoulder so that left/right and front/back are distinguishable."""
    shirt = cylinder_mesh("shirt", radius_m=0.17, height_m=0.6, center=(0, 1.2, 0), color=RED)
    front = (shirt.vertices[:, 2] > 0.12) & (np.abs(shirt.vertices[:, 1] - 1.3) < 0.08)
    shirt.colors[front] = (0.95, 0.95, 0.95)
    legs = cylinder_mesh("legs", radius_m=0.13, height_m=0.9, center=(0, 0.45, 0), color=(0.15, 0.2, 0.5))
    head = cylinder_mesh("head", radius_m=0.1, height_m=0.24, center=(0, 1.65, 0), color=(0.9, 0.72, 0.6))
    marker = cylinder_mesh("marker", radius_m=0.06, height_m=0.12, center=(0.2, 1.45, 0), color=(0.1, 0.8, 0.1))
    return Scene([shirt, legs, head, marker])


@pytest.fixture(scope="module")
def renderer():
    r = Renderer()
    yield r
    r.close()


def _is_red(px: np.ndarray) -> np.ndarray:
    px = px.astype(int)
    return (px[..., 0] > 120) & (px[..., 1] < 80) & (px[..., 2] < 80)


def test_front_view_red_shirt_and_layouts(renderer, artifacts):
    scene = _figure()
    out = renderer.render_views(scene, ["front", "three_quarter", "left", "back", "right"], "mosaic", 256)
    img = out.image
    assert img.shape == (512, 768, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
    Image.fromarray(img).save(artifacts / "render_mosaic5.png")
    rig = CameraRig.framing(*scene.bounds())
    cam = rig.camera("front", 256)
    # the torso (below the chest patch) projects to red pixels in the front tile
    u, v = cam.project_px(np.array([[0.0, 1.05, 0.17], [0.1, 1.1, 0.14]])).astype(int).T
    assert _is_red(img[v, u]).all(), img[v, u]
    # the background is neutral grey, the label box is dark
    assert np.abs(img[250, 10].astype(int) - 237).max() < 8
    assert img[8:20, 8:40].mean() < 150


def test_back_differs_from_front(renderer):
    scene = _figure()
    scene.background = (0.2, 0.2, 0.2)
    out = renderer.render_views(scene, ["front", "back"], "tracks", 192)
    front, back = out.views
    assert front.shape == back.shape == (192, 192, 3) and front.flags.c_contiguous and back.flags.c_contiguous
    assert front.base is back.base  # one readback, views are slices
    # the white chest patch shows only from the front; the green marker is on the image's right from the front
    # (the subject's left) and on the image's left from the back
    white = lambda im: (im.astype(int).min(-1) > 200) & (im.astype(int).max(-1) < 250)
    green = lambda im: (im[..., 1].astype(int) > 120) & (im[..., 0] < 100)
    assert white(front[:, 60:130]).sum() > 50 and white(back[:, 60:130]).sum() < 5
    assert np.nonzero(green(front))[1].mean() > 96 > np.nonzero(green(back))[1].mean()
    assert np.abs(front.astype(int) - back.astype(int)).mean() > 2


def test_stereo_parallax_matches_ipd(renderer, artifacts):
    scene = _figure()
    s, ipd = 256, 0.063
    out = renderer.render_views(scene, ["front"], "stereo", s, ipd_m=ipd)
    assert out.image.shape == (s, 2 * s, 3)
    Image.fromarray(out.image).save(artifacts / "render_stereo.png")
    left, right = out.image[:, :s], out.image[:, s:]
    cols_l, cols_r = np.nonzero(_is_red(left))[1], np.nonzero(_is_red(right))[1]
    disparity = cols_l.mean() - cols_r.mean()
    rig = CameraRig.framing(*scene.bounds())
    f_px = s / 2 / math.tan(math.radians(rig.fov_y_deg) / 2)
    expected = f_px * ipd / (rig.distance_m - 0.17)  # the shirt's front surface
    assert disparity > 0  # the left eye sees the subject further right
    assert abs(disparity - expected) < 0.25 * expected, (disparity, expected)
    # rows agree: purely horizontal parallax
    assert abs(np.nonzero(_is_red(left))[0].mean() - np.nonzero(_is_red(right))[0].mean()) < 0.5


def test_mirror_is_flipped_front(renderer):
    scene = _figure()
    front = renderer.render_views(scene, ["front"], "mosaic", 200, labels=False).image
    mirror = renderer.render_views(scene, ["front"], "mirror", 200).image
    assert np.abs(mirror.astype(int) - front[:, ::-1].astype(int)).mean() < 1.0
    assert np.abs(mirror.astype(int) - front.astype(int)).mean() > 2.0


def test_transparent_background_and_fit_map(renderer):
    shirt = cylinder_mesh("shirt", color=RED)
    ease = shirt.vertices[:, 1] - shirt.vertices[:, 1].mean()  # tight at the bottom, loose at the top
    shirt.overlay = fit_map_colors(ease, tight_at=-0.2, loose_at=0.2)
    out = renderer.render_views(Scene([shirt], background=None), ["front"], "mosaic", 128, labels=False)
    img = out.image
    assert img.shape == (128, 128, 4)
    assert img[0, 0, 3] == 0 and img[64, 64, 3] == 255
    col = img[:, 64]
    covered = np.nonzero(col[:, 3] == 255)[0]
    top, bottom = col[covered[3]], col[covered[-4]]
    assert top[2] > top[0] and bottom[0] > bottom[2]  # blue (loose) at the top, red (tight) at the bottom


def test_texture_pattern(renderer):
    tex = np.zeros((64, 64, 3), np.uint8)
    tex[:, ::16] = 255  # vertical white stripes on black
    tex[:, 1::16] = 255
    shirt = cylinder_mesh("striped", color=(1, 1, 1), texture=tex, caps=False)
    img = renderer.render_views(Scene([shirt]), ["front"], "mosaic", 256, labels=False).image
    row = img[128, :, 0].astype(int)
    inside = row[90:166]
    assert inside.max() > 200 and inside.min() < 60  # stripes visible


def test_composite_keeps_webcam_outside_garment(renderer, artifacts):
    w, h = 320, 240
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cam = PinholeCamera.from_fov(w, h, 60)
    # person 2 m in front of the webcam (OpenCV space: z forward), shirt around the torso
    shirt = cylinder_mesh("shirt", radius_m=0.2, height_m=0.5, center=(0, 0, 0), color=RED)
    shirt.vertices = cv_to_gl_points(shirt.vertices + np.float32([0, 0, 2.0]))
    body = cylinder_mesh("body", radius_m=0.18, height_m=0.5, center=(0, 0, 0))
    body.vertices = cv_to_gl_points(body.vertices + np.float32([0, 0, 2.0]))
    body.visible = False
    # an arm across the chest, in front of the shirt (part of the invisible body)
    arm = Mesh("arm", *_box((-0.25, -0.05, 1.6), (0.25, 0.05, 1.7)), visible=False)
    out = renderer.composite_ar(frame, Scene([shirt, body, arm]), cam)
    Image.fromarray(np.concatenate([frame, out], 1)).save(artifacts / "render_composite.png")
    assert out.shape == frame.shape and out.dtype == np.uint8
    # garment extent: |x| <= 0.2 at depth >= 1.8 (the arm is invisible); everything outside is untouched
    (x0, y0), (x1, y1) = cam.project_cv(np.array([[-0.2, -0.25, 1.8], [0.2, 0.25, 1.8]]))
    changed = np.any(out != frame, -1)
    outside = np.ones((h, w), bool)
    outside[int(y0) - 2 : int(y1) + 3, int(x0) - 2 : int(x1) + 3] = False
    assert changed.any() and not changed[outside].any()
    # the shirt is red below the arm; the arm (invisible body part in front) shows the webcam through
    c = cam.project_cv(np.array([[0.0, 0.15, 1.8]]))[0].astype(int)
    assert _is_red(out[c[1], c[0]])
    a = cam.project_cv(np.array([[0.0, 0.0, 1.6]]))[0].astype(int)
    assert (out[a[1], a[0]] == frame[a[1], a[0]]).all()
    # the person mask says nobody is there: a body cut is not trusted, the garment stays drawn
    out2 = renderer.composite_ar(frame, Scene([shirt, body, arm]), cam, person_mask=np.zeros((h, w), np.float32))
    assert _is_red(out2[a[1], a[0]])
    # an occluder mask (hair, hands) clears the garment
    occ = np.zeros((h, w), np.float32)
    occ[c[1] - 3 : c[1] + 4, c[0] - 3 : c[0] + 4] = 1
    out3 = renderer.composite_ar(frame, Scene([shirt, body, arm]), cam, occluder_mask=occ, feather_px=0)
    assert (out3[c[1], c[0]] == frame[c[1], c[0]]).all()


def _box(lo, hi):
    """Axis-aligned box (OpenCV camera coordinates in, OpenGL out) as (vertices, faces)."""
    lo, hi = np.float32(lo), np.float32(hi)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int32)
    return cv_to_gl_points(corners.astype(np.float32)), faces


def test_renderer_is_thread_bound(renderer):
    import threading

    from fitmirror.errors import RenderError

    err = []

    def other():
        try:
            renderer.render_views(_figure(), ["front"], "mosaic", 64)
        except RenderError as e:
            err.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert err


def test_composite_lands_on_the_projected_pixels(renderer):
    """Alignment: a garment square fitted in webcam space covers exactly the pixels its corners project to."""
    w, h = 320, 240
    cam = PinholeCamera(500.0, 500.0, 160.0, 120.0, w, h)
    corners = np.array([[-0.1, -0.1, 2.0], [0.1, -0.1, 2.0], [0.1, 0.1, 2.0], [-0.1, 0.1, 2.0]], np.float32)
    quad = Mesh("quad", cv_to_gl_points(corners), np.array([[0, 1, 2], [0, 2, 3]], np.int32), base_color=(1, 0, 0))
    frame = np.zeros((h, w, 3), np.uint8)
    out = renderer.composite_ar(frame, Scene([quad]), cam, feather_px=0)
    ys, xs = np.nonzero(out.any(-1))
    (u0, v0), (u1, v1) = cam.project_cv(corners[[0, 2]])  # 135..185, 95..145: pixel centres inside are 135..184
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (round(u0), round(u1) - 1, round(v0), round(v1) - 1)


def test_two_renderers_in_one_thread_do_not_mix_contexts(renderer):
    """E.g. the stream renderer and render.diff's rasteriser in one worker thread."""
    second = Renderer()
    try:
        scene = _figure()
        for _ in range(2):
            a = renderer.render_views(scene, ["front"], "mosaic", 96, labels=False).image
            b = second.render_views(scene, ["back"], "mosaic", 96, labels=False).image
            ids = second.triangle_ids(scene.meshes[0].vertices, scene.meshes[0].faces, CameraRig().camera("front", 64))
            a2 = renderer.render_views(scene, ["front"], "mosaic", 96, labels=False).image
            assert np.array_equal(a, a2) and not np.array_equal(a, b) and (ids >= 0).any()
    finally:
        second.close()
    assert renderer.render_views(_figure(), ["front"], "mosaic", 96).image.shape == (96, 96, 3)


def test_outputs_go_to_pyav_without_copies(renderer):
    import av

    out = renderer.render_views(_figure(), ["front", "left", "back"], "tracks", 128)
    for img in (out.image, *out.views):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        assert (frame.width, frame.height) == (img.shape[1], img.shape[0])
    assert all(v.base is out.image or v.base is out.image.base for v in out.views)


def test_gpu_caches_are_bounded(renderer):
    from render.renderer import MAX_CACHED_FRAMEBUFFERS, MAX_CACHED_MESHES

    for i in range(MAX_CACHED_MESHES + 5):
        m = cylinder_mesh(f"garment-{i}", segments=8, rings=2, color=RED)
        renderer.render_views(Scene([m]), ["front"], "mosaic", 32 + 2 * (i % (MAX_CACHED_FRAMEBUFFERS + 2)))
    assert len(renderer._meshes) <= MAX_CACHED_MESHES and len(renderer._fbos) <= MAX_CACHED_FRAMEBUFFERS
    img = renderer.render_views(Scene([m]), ["front"], "mosaic", 64, labels=False).image
    assert _is_red(img).sum() > 100


def test_attribute_changes_reach_the_gpu(renderer):
    """Colours and textures re-upload when the caller hands a new array (equal content is skipped)."""
    shirt = cylinder_mesh("recolour", color=RED)
    scene = Scene([shirt])
    assert _is_red(renderer.render_views(scene, ["front"], "mosaic", 64, labels=False).image).sum() > 100
    shirt.colors = np.tile(np.float32([0.1, 0.2, 0.9]), (len(shirt.vertices), 1))
    img = renderer.render_views(scene, ["front"], "mosaic", 64, labels=False).image
    assert _is_red(img).sum() == 0 and (img[..., 2] > 150).sum() > 100
    shirt.colors = None
    shirt.base_color = (0.9, 0.05, 0.05)
    assert _is_red(renderer.render_views(scene, ["front"], "mosaic", 64, labels=False).image).sum() > 100


def test_msaa_smooths_edges():
    # a black square facing the camera, turned 30 degrees in plane: slanted edges against white
    c, sn = math.cos(math.pi / 6), math.sin(math.pi / 6)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * 0.3
    xy = corners @ np.array([[c, sn], [-sn, c]], np.float32)
    verts = np.c_[xy[:, 0], xy[:, 1] + 1.0, np.zeros(4, np.float32)].astype(np.float32)
    quad = Mesh("quad", verts, np.array([[0, 1, 2], [0, 2, 3]], np.int32), base_color=(0, 0, 0), shininess=0.0)
    scene = Scene([quad], background=(1, 1, 1))
    rig = CameraRig(center=(0, 1.0, 0), height_m=1.0)
    with Renderer(msaa_samples=4) as aa:
        smooth = aa.render_views(scene, ["front"], "mosaic", 96, labels=False, rig=rig).image
    with Renderer() as plain:
        hard = plain.render_views(scene, ["front"], "mosaic", 96, labels=False, rig=rig).image

    def grey(im):
        return ((im[..., 0] > 30) & (im[..., 0] < 225)).sum()

    assert grey(hard) < 10 and grey(smooth) > 100
    assert np.abs(smooth.astype(int) - hard.astype(int)).mean() < 10


def test_back_face_culling_of_closed_meshes_changes_nothing_visible(renderer):
    closed = cylinder_mesh("closed", color=RED)
    culled = cylinder_mesh("culled", color=RED)
    culled.double_sided = False
    for layout in ("mosaic", "mirror", "stereo"):
        a = renderer.render_views(Scene([closed]), ["front", "three_quarter"], layout, 96, labels=False).image
        b = renderer.render_views(Scene([culled]), ["front", "three_quarter"], layout, 96, labels=False).image
        assert np.array_equal(a, b), layout
    # the id pass still sees every face after a culled display pass
    cam = CameraRig(center=(0, 1.2, 0), height_m=0.8).camera("front", 64)
    inside = cylinder_mesh("inside-out", color=RED)
    inside.faces = inside.faces[:, ::-1].copy()  # wound inwards: culling would hide it
    ids = renderer.triangle_ids(inside.vertices, inside.faces, cam)
    assert (ids >= 0).sum() > 500


def test_vertex_shading_looks_like_pixel_shading_and_flushes_change_nothing(renderer):
    """The default per-vertex studio lighting matches the per-pixel one (same formula, interpolated colours), with a
    texture and a fit-map overlay too; glFlush between draws leaves the image bit-identical."""
    scene = _figure()
    tex = np.zeros((32, 32, 3), np.uint8)
    tex[:, (np.arange(32) // 4) % 2 == 0] = 255  # four wide white stripes around the legs
    striped = cylinder_mesh("striped-legs", radius_m=0.13, height_m=0.9, center=(0, 0.45, 0), texture=tex)
    striped.base_color = (0.9, 0.9, 0.9)
    scene.meshes[1] = striped
    shirt = scene.meshes[0]
    shirt.overlay = fit_map_colors(shirt.vertices[:, 1] - 1.2, tight_at=-0.3, loose_at=0.3)
    shirt.overlay_alpha = 0.5
    views = ["front", "three_quarter", "left"]
    vertex = renderer.render_views(scene, views, "mosaic", 256, labels=False).image
    with Renderer(shading="pixel") as px, Renderer(flush_draws=False) as unflushed:
        pixel = px.render_views(scene, views, "mosaic", 256, labels=False).image
        same = unflushed.render_views(scene, views, "mosaic", 256, labels=False).image
    assert renderer.shading == "vertex" and px.shading == "pixel"
    d = np.abs(vertex.astype(int) - pixel.astype(int))
    assert d.mean() < 1.0 and np.percentile(d, 99) < 12, (d.mean(), np.percentile(d, 99))
    assert np.array_equal(vertex, same)
    # studio lighting, not flat colour: the key light from the upper left makes the shirt's left edge (image left,
    # the subject's right) brighter than its right edge in the front view
    cam = CameraRig.framing(*scene.bounds()).camera("front", 256)
    (ul, vl), (ur, vr) = cam.project_px(np.array([[-0.14, 1.05, 0.09], [0.14, 1.05, 0.09]])).astype(int)
    assert int(vertex[vl, ul].sum()) > int(vertex[vr, ur].sum()) + 20, (vertex[vl, ul], vertex[vr, ur])


def test_unknown_shading_is_refused():
    from fitmirror.errors import InputError

    with pytest.raises(InputError):
        Renderer(shading="flat")


def test_meshes_past_16_bit_indices_render(renderer):
    """Up to 65,536 vertices use 16-bit indices; a bigger mesh switches to 32-bit and draws the same shape."""
    small = cylinder_mesh("index16", segments=64, rings=32, color=RED)
    big = cylinder_mesh("index32", segments=300, rings=240, color=RED)
    assert len(small.vertices) <= 65536 < len(big.vertices)
    rig = CameraRig(center=(0, 1.2, 0), height_m=0.8)
    a = renderer.render_views(Scene([small]), ["front"], "mosaic", 96, labels=False, rig=rig).image
    b = renderer.render_views(Scene([big]), ["front"], "mosaic", 96, labels=False, rig=rig).image
    assert _is_red(a).sum() > 1000 and abs(int(_is_red(a).sum()) - int(_is_red(b).sum())) < 0.03 * _is_red(a).sum()


def test_empty_and_broken_meshes(renderer):
    from fitmirror.errors import InputError

    shirt = cylinder_mesh("with-empty", color=RED)
    empty = Mesh("no-faces", shirt.vertices, np.zeros((0, 3), np.int32))
    img = renderer.render_views(Scene([shirt, empty]), ["front"], "mosaic", 64, labels=False).image
    assert _is_red(img).sum() > 100
    with pytest.raises(InputError):
        renderer.render_views(Scene([Mesh("bad-index", shirt.vertices, shirt.faces + 10_000)]), ["front"], "mosaic", 64)
