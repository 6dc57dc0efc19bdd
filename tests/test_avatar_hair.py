"""Hair mask for AR occlusion (avatar/hair.py): a drawn head with hair strands over a shirt (exact pixels), the
cases that must give an empty mask, and real photos tracked end to end with hand-marked hair / face / garment
boxes. Overlays for a person to look at: tests/artifacts/avatar_hair_*.png."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.hair import hair_mask, segment_hair
from avatar.types import LM
from fitmirror.errors import InputError

HAIR_RGB = (92, 58, 38)
SKIN_RGB = (226, 176, 146)
SHIRT_RGB = (40, 70, 165)
BACKGROUND_RGB = (205, 205, 200)


def _synthetic(scale: float = 1.0, hair_rgb=HAIR_RGB, shirt_rgb=SHIRT_RGB, seed: int = 0):
    """A frontal head-and-shoulders figure at 640x480 (x `scale`): hair cap, face, neck, shirt, and two hair
    strands falling from the temples over the shirt. Returns frame, landmarks (33x2 px), person mask, strands."""
    k = scale
    h, w = round(480 * k), round(640 * k)

    def P(x, y):
        return round(x * k), round(y * k)

    img = np.empty((h, w, 3), np.uint8)
    img[:] = BACKGROUND_RGB
    person = np.zeros((h, w), np.uint8)
    strands = np.zeros((h, w), np.uint8)

    def draw(fn, *args, color, layer=None):
        fn(img, *args, color, -1)
        fn(person, *args, 1, -1)
        if layer is not None:
            fn(layer, *args, 1, -1)

    # shirt from the shoulders down, neck above it
    draw(cv2.rectangle, P(268, 186), P(372, 479), color=shirt_rgb)
    draw(cv2.rectangle, P(311, 165), P(329, 186), color=SKIN_RGB)
    # hair cap, face over it, strands beside the face down over the shirt
    draw(cv2.ellipse, P(320, 146), P(21, 24), 0, 0, 360, color=hair_rgb)
    draw(cv2.ellipse, P(320, 156), P(14, 18), 0, 0, 360, color=SKIN_RGB)
    draw(cv2.rectangle, P(300, 150), P(306, 215), color=hair_rgb, layer=strands)
    draw(cv2.rectangle, P(334, 150), P(340, 215), color=hair_rgb, layer=strands)
    rng = np.random.default_rng(seed)  # a little sensor noise, so the colour spreads are real
    img = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)

    lm = np.zeros((33, 2), np.float32)
    points = {
        "nose": (320, 156),
        "left_eye": (328, 150),  # the person's left is on the image right
        "right_eye": (312, 150),
        "left_eye_inner": (324, 150),
        "right_eye_inner": (316, 150),
        "left_eye_outer": (332, 150),
        "right_eye_outer": (308, 150),
        "left_ear": (333, 154),
        "right_ear": (307, 154),
        "mouth_left": (325, 162),
        "mouth_right": (315, 162),
        "left_shoulder": (360, 190),
        "right_shoulder": (280, 190),
    }
    for name, (x, y) in points.items():
        lm[LM[name]] = (x * k, y * k)
    for name in ("left_hip", "right_hip", "left_elbow", "right_elbow"):
        lm[LM[name]] = (320 * k, 400 * k)
    return img, lm, person.astype(np.float32), strands.astype(bool)


def test_synthetic_strands_over_shirt_exact_pixels():
    img, lm, person, strands = _synthetic()
    r = segment_hair(img, lm, person, np.ones(33, np.float32))
    assert r.ok, r.reason
    m = r.mask
    assert m.shape == (480, 640) and m.dtype == np.float32
    assert 0.0 <= m.min() and m.max() <= 1.0
    # at this size the working scale is 1:1 (eye-to-mouth 12 px), so only the 1-px feather is soft
    over_shirt = np.zeros_like(strands)
    over_shirt[186:216] = strands[186:216]
    core = cv2.erode(over_shirt.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert core.sum() == 2 * 5 * 28
    assert m[core].min() > 0.99  # strand interiors over the shirt: hair in front of the garment
    assert m[over_shirt].min() > 0.5  # whole strands, edges included
    near = cv2.dilate(strands.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    shirt = np.zeros_like(strands)
    shirt[186:480, 268:373] = True
    assert m[shirt & ~near].max() == 0.0  # the shirt itself is never hair
    assert m[150:175, 312:329].max() == 0.0  # face centre, mouth, chin
    assert m[165:186, 312:329].max() == 0.0  # neck
    assert m[person == 0].max() == 0.0  # background
    assert m[130:137, 310:331].min() > 0.99  # the top of the head is hair too
    assert hair_mask(img, lm, person, np.ones(33, np.float32)).tobytes() == m.tobytes()


def test_synthetic_large_frame_goes_through_the_working_scale():
    img, lm, person, strands = _synthetic(scale=2.5)
    r = segment_hair(img, lm, person)
    assert r.ok, r.reason
    m = r.mask
    assert m.shape == (1200, 1600)
    # strand centre columns over the shirt (x 300-306 and 334-340 at scale 1, y 186-215)
    for x0 in (300, 334):
        centre = m[round(190 * 2.5) : round(212 * 2.5), round((x0 + 2) * 2.5) : round((x0 + 5) * 2.5)]
        assert centre.min() > 0.8, x0
    far = cv2.dilate(strands.astype(np.uint8), np.ones((13, 13), np.uint8)).astype(bool)
    shirt = np.zeros_like(strands)
    shirt[round(186 * 2.5) :, round(268 * 2.5) : round(373 * 2.5)] = True
    assert m[shirt & ~far].max() == 0.0
    assert m[round(150 * 2.5) : round(172 * 2.5), round(312 * 2.5) : round(329 * 2.5)].max() == 0.0


def test_hair_the_colour_of_the_shirt_is_left_alone():
    """Dark hair on a dark shirt cannot be told apart by colour: no holes may be cut in the garment."""
    img, lm, person, _ = _synthetic(hair_rgb=(30, 28, 30), shirt_rgb=(34, 30, 32))
    m = hair_mask(img, lm, person)
    assert m[186:].max() == 0.0


def test_empty_mask_when_hair_cannot_be_sampled():
    img, lm, person, _ = _synthetic(hair_rgb=SKIN_RGB)  # bald: the top of the head is skin
    r = segment_hair(img, lm, person)
    assert not r.ok and r.reason == "hair colour too close to skin" and r.mask.max() == 0.0

    img, lm, person, _ = _synthetic()
    assert segment_hair(img, lm, None).reason == "no person mask"
    vis = np.ones(33, np.float32)
    vis[LM["nose"]] = 0.1  # turned away / face hidden
    r = segment_hair(img, lm, person, vis)
    assert not r.ok and r.reason == "face not visible" and r.mask.shape == (480, 640) and r.mask.max() == 0.0
    off = lm.copy()
    off[:, 1] -= 200  # head above the top of the frame
    assert segment_hair(img, off, person).reason == "face outside the frame"
    cut = person.copy()
    cut[:140] = 0  # top of the head cut off by the frame (or a mask that misses it): nothing to sample
    r = segment_hair(img, lm, cut)
    assert not r.ok and r.reason == "too little hair above the face to sample"


def test_bad_inputs_raise():
    img, lm, person, _ = _synthetic()
    with pytest.raises(InputError):
        hair_mask(img[..., 0], lm, person)
    with pytest.raises(InputError):
        hair_mask(img, lm[:17], person)
    with pytest.raises(InputError):
        hair_mask(img, lm, person[:100])
    # uint8 and bool masks are accepted as well as float 0..1
    a = hair_mask(img, lm, person)
    assert np.abs(hair_mask(img, lm, (person * 255).astype(np.uint8)) - a).max() < 1e-6
    assert np.abs(hair_mask(img, lm, person > 0.5) - a).max() < 1e-6


# Hand-marked boxes (x0, y0, x1, y1) in the 768x1024 photos: hair beside the neck down to the shoulders, the
# face, and garment / bare shoulders next to the hair (where a wrong mask would cut a hole in a virtual garment).
BOXES = {
    "ootd__07966_00.jpg": {  # long black hair falling over a grey shirt
        "hair": [(262, 200, 290, 250), (447, 200, 465, 255)],
        "face": [(335, 110, 410, 200)],
        "clear": [(200, 320, 260, 370), (470, 320, 520, 370), (330, 330, 400, 380)],
    },
    "idmvton__00034_00.jpg": {  # blonde hair to the collar of a pink shirt; its lit right side (image right,
        # x 432-458, y 120-200) has the chroma of the skin and is mostly missed (~20 %): not asserted
        "hair": [(288, 120, 312, 200)],
        "face": [(355, 80, 415, 180)],
        "clear": [(260, 320, 310, 370), (380, 320, 440, 380)],
    },
    "ootd__02849_00.jpg": {  # brown bob over a white top
        "hair": [(255, 180, 285, 235), (420, 180, 455, 230)],
        "face": [(320, 80, 400, 180)],
        "clear": [(180, 330, 240, 380)],
    },
    "ootd__05997_00.jpg": {  # brown bob above bare shoulders and a black top
        "hair": [(288, 170, 312, 225), (452, 170, 488, 215)],
        "face": [(330, 60, 420, 170)],
        "clear": [(230, 290, 270, 330), (480, 290, 520, 330), (300, 400, 360, 440)],
    },
}


@pytest.fixture(scope="module")
def tracked_photos(shared_data):
    from avatar.tracking import Tracker, load_image

    out = {}
    with Tracker(video=False) as t:
        for p in sorted((shared_data / "tryon-photos" / "persons").iterdir()):
            rgb = load_image(p)
            out[p.name] = (rgb, t.track(rgb))
    return out


def _box_mean(m: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    return float(m[y0:y1, x0:x1].mean())


def _overlay(rgb: np.ndarray, r, boxes=None) -> np.ndarray:
    a = (0.6 * r.mask)[..., None]
    o = (rgb * (1 - a) + np.array([255, 0, 255], np.float32) * a).astype(np.uint8)
    x0, y0, x1, y1 = r.roi_px
    cv2.rectangle(o, (x0, y0), (x1 - 1, y1 - 1), (0, 200, 0), 2)
    for kind, color in (("hair", (255, 255, 0)), ("face", (0, 160, 255)), ("clear", (255, 60, 0))):
        for b in (boxes or {}).get(kind, []):
            cv2.rectangle(o, b[:2], b[2:], color, 2)
    return o


def test_real_photos_end_to_end(tracked_photos, artifacts):
    from avatar.overlay import save_png

    tiles, failed = [], []
    for name, (rgb, tr) in tracked_photos.items():
        assert tr.present, name
        r = segment_hair(rgb, tr.landmarks_px, tr.mask, tr.visibility)
        if not r.ok:
            failed.append((name, r.reason))
        boxes = BOXES.get(name)
        if boxes:
            assert r.ok, (name, r.reason)
            for b in boxes["hair"]:
                assert _box_mean(r.mask, b) > 0.5, (name, "hair", b, _box_mean(r.mask, b))
            for b in boxes["face"] + boxes["clear"]:
                assert _box_mean(r.mask, b) < 0.02, (name, b, _box_mean(r.mask, b))
        # everywhere: nothing on the face centre or on the chest below the shoulders
        lm = tr.landmarks_px
        eye = (lm[LM["left_eye"]] + lm[LM["right_eye"]]) / 2
        mouth = (lm[LM["mouth_left"]] + lm[LM["mouth_right"]]) / 2
        # face core, in the face's own axes (heads tilt): eyes to just below the mouth, +-0.4 eye-to-mouth
        down = mouth - eye
        side = np.array([-down[1], down[0]])
        pts = [eye + a * down + b * side for a in np.linspace(0, 1.2, 13) for b in np.linspace(-0.4, 0.4, 9)]
        pts = np.round(pts).astype(int)
        assert r.mask[pts[:, 1], pts[:, 0]].max() < 0.05, name
        sh = (lm[LM["left_shoulder"]] + lm[LM["right_shoulder"]]) / 2
        sw = float(np.linalg.norm(lm[LM["left_shoulder"]] - lm[LM["right_shoulder"]]))
        y, x = int(sh[1] + 0.3 * sw), int(sh[0])
        assert r.mask[y : y + int(0.2 * sw), x - int(0.15 * sw) : x + int(0.15 * sw)].max() == 0.0, name
        tile = _overlay(rgb, r, boxes)[:640]
        tile = cv2.resize(tile, (288, 240), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, name[:22], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 255), 1)
        tiles.append(tile)
    while len(tiles) % 6:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[i : i + 6]) for i in range(0, len(tiles), 6)])
    save_png(sheet, artifacts / "avatar_hair_photos.png")
    # the one expected miss: very short bleached hair on idmvton__00121_00 (colour of skin, almost no hair above)
    assert [n for n, _ in failed] == ["idmvton__00121_00.jpg"], failed


def test_webcam_sized_frame_from_a_real_photo(tracked_photos, artifacts):
    """640x480 head-and-shoulders frame (the AR mirror's size), tracked by the real tracker: the mask plugs into
    the composite as is (same size, float 0..1) and covers the hair falling onto the shirt."""
    from avatar.overlay import save_png
    from avatar.tracking import Tracker

    rgb = tracked_photos["ootd__07966_00.jpg"][0]
    frame = cv2.resize(rgb[:576], (640, 480), interpolation=cv2.INTER_AREA)
    with Tracker(video=True) as t:
        tr = t.track(frame, 0.0)
    assert tr.present and tr.mask is not None
    r = segment_hair(frame, tr.landmarks_px, tr.mask, tr.visibility)
    assert r.ok, r.reason
    assert r.mask.shape == (480, 640) and r.mask.dtype == np.float32
    k = 640 / 768  # photo -> frame
    for b in BOXES["ootd__07966_00.jpg"]["hair"]:
        bb = tuple(round(v * k) for v in b)
        assert _box_mean(r.mask, bb) > 0.75, bb
    save_png(_overlay(frame, r), artifacts / "avatar_hair_webcam_07966.png")


def test_ar_composite_keeps_hair_in_front_of_the_garment(artifacts):
    """The wiring the AR mirror uses: `composite_ar(..., occluder_mask=hair_mask(...))` on the real renderer."""
    from avatar.overlay import save_png
    from render.cameras import PinholeCamera, cv_to_gl_points
    from render.renderer import Renderer
    from render.scene import Mesh, Scene

    img, lm, person, strands = _synthetic()
    cam = PinholeCamera(500.0, 500.0, 320.0, 240.0, 640, 480)
    z = 2.0  # a flat green garment over the shirt, from the shoulders (y 186) to y 300
    px = np.array([[262, 186], [378, 186], [378, 300], [262, 300]], np.float32)
    corners = np.c_[(px - (320, 240)) * z / 500.0, np.full(4, z)].astype(np.float32)
    garment = Mesh(
        "garment", cv_to_gl_points(corners), np.array([[0, 1, 2], [0, 2, 3]], np.int32), base_color=(0, 1, 0)
    )
    r = Renderer()
    try:
        hair = hair_mask(img, lm, person)
        plain = r.composite_ar(img, Scene([garment]), cam, person_mask=person)
        out = r.composite_ar(img, Scene([garment]), cam, person_mask=person, occluder_mask=hair)
    finally:
        r.close()
    save_png(np.concatenate([img, plain, out], 1), artifacts / "avatar_hair_composite.png")
    core = np.zeros_like(strands)
    core[189:213] = cv2.erode(strands.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)[189:213]
    assert (plain[core] != img[core]).any(-1).all()  # without the hair mask the garment covers the strands
    assert (out[core] == img[core]).all()  # with it, the real hair stays in front
    shirt_only = np.zeros_like(strands)
    shirt_only[195:290, 275:295] = True
    assert (out[shirt_only] == plain[shirt_only]).all()  # the garment itself is untouched
    assert (out[shirt_only][:, 1] > 200).all()
