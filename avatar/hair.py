"""Hair mask for AR occlusion: hair that falls over a collar or the shoulders must stay in front of a virtual
garment, and MediaPipe's person segmentation does not separate hair from clothes.

Method (head-and-shoulders region only, at a reduced working scale so the cost does not grow with the frame):
the pose landmarks place the face (an ellipse from eyes, mouth and ears) and the shoulders; hair colour is
sampled on person-mask pixels above the forehead, skin colour on the cheeks and garment colour on the upper
chest, each as a robust (median / MAD) model in YCrCb. A pixel is hair when it is near the hair model and
nearer to it than to skin and garment; only hair connected to the sampled head hair is kept, the face is
cleared, and the result is feathered and upsampled. When the hair cannot be sampled (bald, head cut off by the
frame, hair the colour of skin) the mask is all zeros: a missed strand is better than a hole in the garment.

Inputs are exactly `avatar.tracking`'s `Tracking` fields: `landmarks_px` (33x2 pixels, x right, y down, MediaPipe
pose order), `mask` (HxW float 0..1) and `visibility` (33,)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.types import LM
from fitmirror.errors import InputError

WORK_EYE_MOUTH_PX = 12.0  # working scale: eye-to-mouth distance in pixels (never upscales)
MIN_SAMPLE_PX = 40  # fewer hair samples than this (at working scale): no hair model, zeros
HAIR_MAX_DIST = 3.0  # distance (robust sigmas) to the hair colour still counted as hair
HAIR_MIN_SEPARATION = 2.5  # hair median must be this far (in skin MADs) from the skin median
CLASS_MARGIN = 0.5  # a hair pixel must be this much nearer (MADs) to hair than to skin / garment
WEAK_REACH_EM = 0.75  # loose hair pixels must lie this close (eye-to-mouth units) to confident hair
HAIR_WEAK_DIST = 5.0  # looser bound for hair connected to confident hair (lighter ends, shadowed strands)
SIGMA_FLOOR_YCC = np.array([6.0, 2.0, 2.0], np.float32)  # 8-bit Y, Cr, Cb; keeps flat samples from being too strict
SIGMA_FLOOR_OTHER_YCC = np.array([12.0, 2.5, 2.5], np.float32)  # skin and cloth: shading spreads their luma
SIGMA_CEIL_YCC = np.array([30.0, 10.0, 10.0], np.float32)  # a wildly mixed sample must not accept everything
LUMA_CHROMA_WEIGHT = np.array([0.6, 1.0, 1.0], np.float32)
FACE_CORE_R2 = 0.8  # squared ellipse radius never called hair: the ellipse is rough, hair by the temples survives
NECK_HALF_W = 0.6  # half-width of the neck column never called hair, in face half-widths
VIS_MIN = 0.5  # landmark visibility needed for the face and shoulders


@dataclass
class HairSegmentation:
    """Result of `segment_hair`. `mask` is always full-frame; when `ok` is False it is zeros and `reason` says why."""

    mask: np.ndarray  # (H, W) float32 0..1, hair in front of anything worn
    ok: bool
    reason: str  # "" when ok
    roi_px: tuple[int, int, int, int]  # x0, y0, x1, y1 of the processed region (full-frame pixels)
    hair_ycc: tuple[float, float, float] | None = None  # median hair colour, OpenCV 8-bit YCrCb
    samples: int = 0  # hair sample pixels (working scale)


def hair_mask(
    frame_rgb: np.ndarray,
    landmarks_px: np.ndarray,
    person_mask: np.ndarray | None,
    visibility: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W) float32 0..1 hair mask for `Renderer.composite_ar(occluder_mask=...)`; zeros when unsure.

    With a `Tracking` t: `hair_mask(frame, t.landmarks_px, t.mask, t.visibility)`."""
    return segment_hair(frame_rgb, landmarks_px, person_mask, visibility).mask


def segment_hair(
    frame_rgb: np.ndarray,
    landmarks_px: np.ndarray,
    person_mask: np.ndarray | None,
    visibility: np.ndarray | None = None,
    debug: dict | None = None,
) -> HairSegmentation:
    """Like `hair_mask`, with the reason for an empty mask and the sampled colour (tests, overlays, tuning).
    `debug`, when given, receives the working-scale intermediates (zones, distances) for tuning pictures."""
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
        raise InputError("frame_rgb must be HxWx3 uint8")
    h, w = frame_rgb.shape[:2]
    out = np.zeros((h, w), np.float32)

    def empty(reason: str, roi=(0, 0, 0, 0)) -> HairSegmentation:
        return HairSegmentation(out, False, reason, roi)

    if person_mask is None:
        return empty("no person mask")
    if person_mask.shape[:2] != (h, w):
        raise InputError(f"person_mask must be {h}x{w}, got {person_mask.shape}")
    lm = np.asarray(landmarks_px, np.float32)
    if lm.shape != (33, 2) or not np.all(np.isfinite(lm)):
        raise InputError("landmarks_px must be a finite (33, 2) array of pixel coordinates")
    vis = None if visibility is None else np.asarray(visibility, np.float32)
    face_ids = [LM["left_eye"], LM["right_eye"], LM["mouth_left"], LM["mouth_right"], LM["nose"]]
    if vis is not None and float(np.min(vis[face_ids])) < VIS_MIN:
        return empty("face not visible")
    inside = (lm[face_ids, 0] >= 0) & (lm[face_ids, 0] < w) & (lm[face_ids, 1] >= 0) & (lm[face_ids, 1] < h)
    if not inside.all():
        return empty("face outside the frame")

    # face frame: origin between the eyes, `down` towards the mouth, lengths in eye-to-mouth units (em)
    eye = 0.5 * (lm[LM["left_eye"]] + lm[LM["right_eye"]])
    mouth = 0.5 * (lm[LM["mouth_left"]] + lm[LM["mouth_right"]])
    down = mouth - eye
    em = float(np.hypot(*down))
    if em < 4.0:
        return empty("face too small")
    down /= em
    side = np.array([-down[1], down[0]], np.float32)  # image-right when upright
    ear_l, ear_r = lm[LM["left_ear"]], lm[LM["right_ear"]]
    face_half_w = max(0.5 * abs(float(np.dot(ear_l - ear_r, side))) / em, 0.75)  # in em; >= for profiles
    face_half_w = min(face_half_w, 1.4)
    nose_v = float(np.dot(lm[LM["nose"]] - eye, side)) / em  # face centre shifts towards the nose when turned
    sh_l, sh_r = lm[LM["left_shoulder"]], lm[LM["right_shoulder"]]
    shoulders_ok = vis is None or float(min(vis[LM["left_shoulder"]], vis[LM["right_shoulder"]])) >= VIS_MIN
    sh_mid = 0.5 * (sh_l + sh_r)
    sh_w = float(np.hypot(*(sh_l - sh_r)))
    if not shoulders_ok or sh_w < em:  # no usable shoulders: head and neck only
        sh_mid = eye + down * 4.0 * em
        sh_w = 4.5 * em
    sh_u = float(np.dot(sh_mid - eye, down)) / em  # shoulder line, em below the eyes

    # region of interest (full-frame pixels): top of the head to the upper chest, shoulder to shoulder
    chest_u = sh_u + 0.55 * sh_w / em
    half_v = max(0.5 * sh_w / em + 0.6, 2.6)
    corners = [eye + down * u * em + side * v * em for u in (-3.0, chest_u) for v in (-half_v, half_v)]
    cx = [c[0] for c in corners]
    cy = [c[1] for c in corners]
    x0, x1 = int(max(0, np.floor(min(cx)))), int(min(w, np.ceil(max(cx))))
    y0, y1 = int(max(0, np.floor(min(cy)))), int(min(h, np.ceil(max(cy))))
    roi = (x0, y0, x1, y1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return empty("head region outside the frame", roi)

    # working scale
    s = min(1.0, WORK_EYE_MOUTH_PX / em)
    ww, wh = max(8, round((x1 - x0) * s)), max(8, round((y1 - y0) * s))
    sx, sy = ww / (x1 - x0), wh / (y1 - y0)
    crop = frame_rgb[y0:y1, x0:x1]
    pm = person_mask[y0:y1, x0:x1]
    if pm.dtype == np.bool_:
        pm = pm.astype(np.float32)
    elif pm.dtype == np.uint8:
        pm = pm.astype(np.float32) * (1 / 255)
    if (ww, wh) != (x1 - x0, y1 - y0):
        # bilinear, not area: area resampling at a fractional scale costs ~10x more, and the colour models are robust
        crop = cv2.resize(crop, (ww, wh), interpolation=cv2.INTER_LINEAR)
        pm = cv2.resize(pm.astype(np.float32), (ww, wh), interpolation=cv2.INTER_LINEAR)
    ycc = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2YCrCb).reshape(-1, 3)
    pm = pm.astype(np.float32, copy=False)

    # face coordinates (u down, v side, in em) of every working pixel centre
    gx = (np.arange(ww, dtype=np.float32) + 0.5) / sx + x0 - eye[0]
    gy = (np.arange(wh, dtype=np.float32) + 0.5) / sy + y0 - eye[1]
    u = (gy[:, None] * down[1] + gx[None, :] * down[0]) / em
    v = (gy[:, None] * side[1] + gx[None, :] * side[0]) / em
    # face ellipse: forehead hairline ~1.1 em above the eyes, chin ~1.8 em below them
    fu, fv = (u - 0.35) / 1.45, (v - 0.5 * nose_v) / face_half_w
    face_r2 = fu * fu + fv * fv
    person = pm > 0.5

    hair_zone = person & (face_r2 > 1.15**2) & (u < -0.9) & (np.abs(v) < face_half_w + 0.6)
    skin_zone = person & (np.abs(u - 1.05) < 0.35) & (np.abs(np.abs(v - nose_v) - 0.55 * face_half_w) < 0.25)
    chest_zone = (
        person
        & (np.abs(u - (sh_u + 0.32 * sh_w / em)) < 0.12 * sh_w / em)
        & (np.abs(v - float(np.dot(sh_mid - eye, side)) / em) < 0.15 * sh_w / em)
    )
    neck_zone = (
        person
        & (np.abs(u - 0.5 * (1.8 + sh_u)) < 0.25 * max(sh_u - 1.8, 0.4))
        & (np.abs(v - 0.5 * (nose_v + float(np.dot(sh_mid - eye, side)) / em)) < 0.2)
    )
    n_hair = int(hair_zone.sum())
    if n_hair < MIN_SAMPLE_PX:
        return empty("too little hair above the face to sample", roi)
    hair_med, hair_sig = _robust_model(ycc[hair_zone.ravel()])
    hair_ycc = (float(hair_med[0]), float(hair_med[1]), float(hair_med[2]))
    models = []  # what hair must not be mistaken for: face skin, neck skin (or a high collar), the garment
    for i, zone in enumerate((skin_zone, neck_zone, chest_zone)):
        if int(zone.sum()) < 8:
            continue
        med, sig = _robust_model(ycc[zone.ravel()], SIGMA_FLOOR_OTHER_YCC)
        # hair indistinguishable from face skin: bald, shaved, or the sample is forehead
        if i == 0 and float(np.sqrt(np.sum(((hair_med - med) / sig) ** 2))) < HAIR_MIN_SEPARATION:
            return HairSegmentation(out, False, "hair colour too close to skin", roi, hair_ycc, n_hair)
        models.append((med, sig))

    # classify only candidate pixels: on the person, off the face and the front of the neck, above the chest line
    # (hair beside the neck reaches the collar; a column down the neck would lead the region into V-necks)
    sh_v = float(np.dot(sh_mid - eye, side)) / em
    t = np.clip((u - 1.8) / max(sh_u - 1.8, 0.5), 0.0, 1.0)
    neck = (u > 1.5) & (np.abs(v - (0.5 * nose_v * (1 - t) + sh_v * t)) < NECK_HALF_W * face_half_w)
    cand = person & (face_r2 > FACE_CORE_R2) & (u < chest_u) & ~neck
    idx = np.flatnonzero(cand)
    chans = [ycc[idx, c] for c in range(3)]
    d_hair = _dist(chans, hair_med, hair_sig)
    nearer = np.ones(len(idx), np.bool_)
    for med, sig in models:
        nearer &= d_hair + CLASS_MARGIN < _dist(chans, med, sig)
    # hysteresis: loose hair pixels (lighter ends, shadowed strands) count when they lie close to confident hair
    # and connect through hair to confident hair on the head (top, or beside the face at eye level)
    strong = np.zeros(wh * ww, np.uint8)
    strong[idx[nearer & (d_hair < HAIR_MAX_DIST)]] = 1
    strong = strong.reshape(wh, ww)
    reach = 2 * round(WEAK_REACH_EM * em * s) + 1
    near_strong = cv2.dilate(strong, np.ones((reach, reach), np.uint8))
    weak = np.zeros(wh * ww, np.uint8)
    weak[idx[nearer & (d_hair < HAIR_WEAK_DIST)]] = 1
    weak = weak.reshape(wh, ww) & near_strong
    beside_face = (
        (u > -0.6)
        & (u < 0.8)
        & (np.abs(v - 0.5 * nose_v) > face_half_w)
        & (np.abs(v - 0.5 * nose_v) < face_half_w + 0.8)
    )
    strong_seed = (strong > 0) & (hair_zone | beside_face)
    if debug is not None:
        d_full = np.full(wh * ww, np.inf, np.float32)
        d_full[idx] = np.where(nearer, d_hair, np.inf)
        debug.update(
            models=[(hair_med, hair_sig), *models],
            neck_zone=neck_zone,
            hair_zone=hair_zone,
            skin_zone=skin_zone,
            chest_zone=chest_zone,
            d_hair=d_full.reshape(wh, ww),
            face=face_r2 < FACE_CORE_R2,
            weak=weak,
            strong=strong_seed,
            crop=crop,
        )
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    if n <= 1 or not strong_seed.any():
        return HairSegmentation(out, False, "no hair pixels", roi, hair_ycc, n_hair)
    keep = np.zeros(n, np.bool_)
    keep[labels[strong_seed]] = True
    keep[0] = False
    soft = keep[labels].astype(np.float32)
    soft = cv2.GaussianBlur(soft, (3, 3), 0.8) * np.clip(pm, 0.0, 1.0)
    soft[face_r2 < FACE_CORE_R2] = 0.0
    if (ww, wh) != (x1 - x0, y1 - y0):
        soft = cv2.resize(soft, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out[y0:y1, x0:x1] = soft
    return HairSegmentation(out, True, "", roi, hair_ycc, n_hair)


def _robust_model(samples: np.ndarray, floor: np.ndarray = SIGMA_FLOOR_YCC) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD-based sigma per channel, clamped so flat or mixed samples stay usable."""
    x = samples.astype(np.float32)
    k = len(x) // 2
    med = np.partition(x, k, axis=0)[k]
    mad = 1.4826 * np.partition(np.abs(x - med), k, axis=0)[k]
    return med, np.clip(mad, floor, SIGMA_CEIL_YCC).astype(np.float32)


def _dist(chans: list[np.ndarray], med: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """Per-pixel distance to a colour model in robust sigmas (diagonal Mahalanobis), luma down-weighted
    (shading changes hair brightness far more than its chroma); one 256-entry table per 8-bit channel."""
    levels = np.arange(256, dtype=np.float32)
    d2 = None
    for c, ch in enumerate(chans):
        table = ((levels - med[c]) * (LUMA_CHROMA_WEIGHT[c] / sig[c])) ** 2
        d2 = table[ch] if d2 is None else d2 + table[ch]
    return np.sqrt(d2)
