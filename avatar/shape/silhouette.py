"""Silhouettes in the image, shared by the photo fits and the live refinement: the model's silhouette drawn
with or without its arms, and person/model width ratios at the chest, waist and hip rows."""

from __future__ import annotations

import functools

import numpy as np

from avatar.body import CHEST_HEIGHT_FRAC, HIPS_HEIGHT_FRAC, WAIST_HEIGHT_FRAC, BodyModel, get_body_model
from avatar.types import LM, Tracking


def _row_width(mask: np.ndarray, y: float, x_lo: float, x_hi: float) -> float:
    """Width in pixels of the mask's run containing the body centre on row y (clipped to [x_lo, x_hi])."""
    h, w = mask.shape
    yi = int(np.clip(round(y), 0, h - 1))
    rows = mask[max(0, yi - 2) : min(h, yi + 3)].mean(0) > 0.5
    c = int(np.clip(round((x_lo + x_hi) / 2), 0, w - 1))
    if not rows[c]:
        return 0.0
    left = c
    while left > max(0, int(x_lo)) and rows[left - 1]:
        left -= 1
    right = c
    while right < min(w - 1, int(x_hi)) and rows[right + 1]:
        right += 1
    return float(right - left + 1)


@functools.lru_cache(maxsize=1)
def _body_and_arm_faces(body: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    """(faces with no arm vertex: torso, legs, head; faces with only arm vertices): the silhouette methods draw,
    measure or cut out the two separately."""
    arm = body.vertex_is_arm[body.faces]
    return body.faces[(~arm).all(1)], body.faces[arm.all(1)]


def rasterize_silhouette(uv: np.ndarray, faces: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Binary silhouette (H, W) float32 of triangles given in pixel coordinates."""
    import cv2

    w, h = size
    im = np.zeros((h, w), np.uint8)
    tri = np.round(np.clip(uv[faces], -4 * max(w, h), 4 * max(w, h)) * 16).astype(np.int32)  # 4 bits subpixel
    for t in tri:  # fillConvexPoly per triangle: fillPoly on many would apply an even-odd rule across them
        cv2.fillConvexPoly(im, t, 255, lineType=cv2.LINE_8, shift=4)
    return im.astype(np.float32) / 255.0


def silhouette_ratios(posed, tracking: Tracking, arm_free: bool = True) -> dict[str, float]:
    """Person width / model width in the image at the chest, waist and hip rows (1.0 = the model matches).
    The model silhouette is drawn without the arms so that arms hanging at the sides are not counted; the
    person's run is clipped at the tracked elbows/wrists for the same reason."""
    body = get_body_model()
    cam = posed.camera
    assert cam is not None and tracking.mask is not None
    faces, arm_faces = _body_and_arm_faces(body)
    uv = cam.project(posed.vertices)
    sil = rasterize_silhouette(uv, faces, (cam.width, cam.height))
    # the person's mask without where the fitted arms are (dilated): arms hanging beside the torso merge with it
    import cv2

    arms = rasterize_silhouette(uv, arm_faces, (cam.width, cam.height)) > 0.5
    k = max(3, int(0.005 * cam.height))
    arms = cv2.dilate(arms.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    person = np.where(arms & (sil < 0.5), 0.0, tracking.mask)
    rest = body.rest(posed.shape)
    v = rest.vertices
    floor, height = float(v[:, 1].min()), float(np.ptp(v[:, 1]))
    # the body-frame rest heights of the three girths, mapped through the pelvis/spine: use landmarks instead
    lm = posed.landmarks_cam
    sh = (lm[LM["left_shoulder"]] + lm[LM["right_shoulder"]]) / 2
    hp = (lm[LM["left_hip"]] + lm[LM["right_hip"]]) / 2
    rest_lm = body.landmarks(v)
    y_sh = float((rest_lm[LM["left_shoulder"], 1] - floor) / height)
    y_hp = float((rest_lm[LM["left_hip"], 1] - floor) / height)
    out = {}
    px = tracking.landmarks_px
    for key, frac in (("chest_cm", CHEST_HEIGHT_FRAC), ("waist_cm", WAIST_HEIGHT_FRAC), ("hips_cm", HIPS_HEIGHT_FRAC)):
        a = (frac - y_hp) / (y_sh - y_hp)
        p3 = hp + a * (sh - hp)
        u, vv = cam.project(p3[None])[0]
        # limits: between the arms when they hang down (elbow/wrist x), else the frame
        xs = [px[i, 0] for i in (LM["left_elbow"], LM["right_elbow"], LM["left_wrist"], LM["right_wrist"])]
        lo = max([x for x in xs if x < u] or [0.0])
        hi = min([x for x in xs if x > u] or [cam.width - 1.0])
        wp = _row_width(person, vv, lo, hi)
        wm = _row_width(sil, vv, 0, cam.width - 1)
        if wp > 4 and wm > 4:
            out[key] = wp / wm
    return out
