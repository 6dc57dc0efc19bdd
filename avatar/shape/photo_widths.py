"""The "widths" method of shape from a photo (the default). With the whole body in the picture, the person's
width is measured in the soft mask at 13 torso rows (crotch to armpits; rows that end at an arm are left out),
3 shoulder rows (arms included) and two rows per thigh, at fractions of the body's image height, and
Gauss-Newton moves the phenotypes until the posed model's widths at the same fractions of its own image height
match, with the typed height as a target and a population prior (avatar/shape/prior.py) for what a front view
cannot see. Scaling by image height rather than by landmarks keeps the placement's depth error out. Without the
whole body (a desk, a close-up), the girths are rescaled by person/model width ratios at the three girth rows
instead."""

from __future__ import annotations

import functools

import numpy as np

from avatar.body import BodyModel, get_body_model, measure_mesh
from avatar.shape.prior import PRIOR_KEYS, population_prior
from avatar.shape.silhouette import _body_and_arm_faces, rasterize_silhouette, silhouette_ratios
from avatar.shape.solver import BOUNDS, PRIOR_CENTRE, _fd_batch, solve_phenotype
from avatar.types import LM, PHENOTYPE_KEYS, BodyShape, Tracking


def _widths_fit(shape, tracking, height_cm, weight_kg, fixed, rounds) -> tuple[BodyShape, dict]:
    """The row-width method. With the whole body in the picture, `_rows_fit` (widths at fractions of the body's
    image height, matched directly); with part of it (a desk, a close-up) there is no image height to scale by, so
    the girths are rescaled by person/model width ratios at the three girth rows (`_ratios_fit`). The variant used
    is named in the result."""
    if _full_body_in_view(tracking):
        shape, rows = _rows_fit(shape, tracking, height_cm, weight_kg, fixed, rounds)
        return shape, {"variant": "rows", **rows}
    shape, ratios = _ratios_fit(shape, tracking, height_cm, weight_kg, fixed, rounds)
    return shape, {"variant": "ratios", "ratios": ratios}


def _full_body_in_view(tracking: Tracking) -> bool:
    assert tracking.mask is not None
    rows = np.nonzero((tracking.mask > 0.5).any(1))[0]
    return bool(tracking.lower_body_visible and len(rows) and rows[0] > 1 and rows[-1] < tracking.mask.shape[0] - 2)


# Rows where the torso's width is measured: fractions of the body's height in the image, from just above the
# crotch (0.51; lower rows cut across both thighs, which the person's mask run does not) up to the armpits
# (0.745; higher rows run into the arms). Scaling by the body's image height instead of the landmarks makes the
# widths independent of the placement's depth: MediaPipe's shoulder-hip distance is ~5 % shorter than the model's,
# which put the model ~5 % too far away and every width ~5 % short (measured on rendered bodies).
ROW_FRACS = np.linspace(0.51, 0.745, 13)
# ... and across the shoulders and arms, where the arms always touch the torso: these rows are measured on the
# whole body (arms included) as the run of the silhouette through the body's centre, for person and model alike
FULL_ROW_FRACS = np.array([0.77, 0.79, 0.81])
# ... and each thigh on its own (the run through the middle of the thigh), below the crotch
THIGH_FRACS = np.array([0.40, 0.43])
ROW_SIGMA_PX = 2.5  # width error at the true shape, ~2 px median (pose error 1-2 px, mask ~1 px; rendered bodies)
ROW_HUBER_PX = 3.0  # rows off by more (an arm, a hand, a fold the model cannot make) count less
ROW_ITERATIONS = 8
# extra starting points of the first round (the typed-height solution is always one): bodies whose proportions
# sit at either end of anny's range are otherwise missed from the middle
ROW_STARTS = ({"proportions": 0.0}, {"proportions": 1.0})


@functools.lru_cache(maxsize=1)
def _torso_edges(body: BodyModel) -> np.ndarray:
    """Unique edges of the mesh without the arms (their row crossings give the torso's width in the image)."""
    f = _body_and_arm_faces(body)[0]
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    return np.unique(np.sort(e, 1), axis=0)


def model_row_widths(uv: np.ndarray, edges: np.ndarray, fracs: np.ndarray) -> tuple[float, np.ndarray]:
    """(image height of the body, torso width at each fraction of it), in pixels, from the projected vertices:
    edge crossings give widths that change smoothly with the shape (a Gauss-Newton Jacobian needs that)."""
    top, bottom = float(uv[:, 1].min()), float(uv[:, 1].max())
    a0, a1 = uv[edges[:, 0]], uv[edges[:, 1]]
    out = np.zeros(len(fracs))
    for i, f in enumerate(fracs):
        y = bottom - f * (bottom - top)
        c = (a0[:, 1] - y) * (a1[:, 1] - y) < 0
        if c.any():
            t = (y - a0[c, 1]) / (a1[c, 1] - a0[c, 1])
            u = a0[c, 0] + t * (a1[c, 0] - a0[c, 0])
            out[i] = float(u.max() - u.min())
    return bottom - top, out


def model_run_widths(uv: np.ndarray, faces: np.ndarray, fracs: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Width of the model's silhouette run through column cols[i] at each fraction fracs[i] of its image height:
    the union of the row spans of the triangles crossing the row, merged, and the interval containing the column."""
    top, bottom = float(uv[:, 1].min()), float(uv[:, 1].max())
    tri = uv[faces]  # (F, 3, 2)
    ty = tri[:, :, 1]
    out = np.zeros(len(fracs))
    for i, (f, cx) in enumerate(zip(fracs, cols, strict=True)):
        y = bottom - f * (bottom - top)
        hit = (ty.min(1) < y) & (ty.max(1) > y)
        t = tri[hit]
        if not len(t):
            continue
        # the triangle's span on the row: crossings of its three edges
        a, b = t, np.roll(t, -1, axis=1)
        c = (a[:, :, 1] - y) * (b[:, :, 1] - y) < 0
        w = np.where(c, (y - a[:, :, 1]) / np.where(c, b[:, :, 1] - a[:, :, 1], 1.0), np.nan)
        u = a[:, :, 0] + w * (b[:, :, 0] - a[:, :, 0])
        lo, hi = np.nanmin(u, 1), np.nanmax(u, 1)
        order = np.argsort(lo)
        lo, hi = lo[order], hi[order]
        reach = np.maximum.accumulate(hi)
        starts = np.r_[True, lo[1:] > reach[:-1]]  # a new interval where a span starts past all before it
        g_lo = lo[starts]
        g_hi = np.maximum.reduceat(hi, np.nonzero(starts)[0])
        k = np.nonzero((g_lo <= cx) & (g_hi >= cx))[0]
        if len(k):
            out[i] = float(g_hi[k[0]] - g_lo[k[0]])
    return out


def _mask_run(inside: np.ndarray, soft: np.ndarray, col: int, blocked: np.ndarray | None) -> float:
    """Soft width of the run of `inside` through column `col` of one row; NaN when `col` is outside the mask or
    the run ends at the frame edge or (within 3 px) at a `blocked` pixel: then it is not the body part's own width."""
    n = len(inside)
    if not 0 <= col < n or not inside[col]:
        return float("nan")
    left = col
    while left > 0 and inside[left - 1]:
        left -= 1
    right = col
    while right < n - 1 and inside[right + 1]:
        right += 1
    if left == 0 or right == n - 1:
        return float("nan")
    if blocked is not None and (blocked[max(0, left - 3) : left].any() or blocked[right + 1 : right + 4].any()):
        return float("nan")
    return float(soft[max(0, left - 3) : right + 4].sum())


def person_row_widths(posed, tracking: Tracking) -> tuple[float, np.ndarray, tuple[float, float]]:
    """(image height of the person, widths at ROW_FRACS + FULL_ROW_FRACS + THIGH_FRACS (left, right) with NaN where
    they cannot be seen, the thighs' columns). For the torso and thigh rows, the arms of the posed model (dilated)
    are cut out of the mask, and a run that ends at an arm is left out; the shoulder rows keep the arms. Widths are
    sums of the soft mask over the run (sub-pixel)."""
    import cv2

    body = get_body_model()
    cam = posed.camera
    assert cam is not None and tracking.mask is not None
    uv = cam.project(posed.vertices)
    size = (cam.width, cam.height)
    torso_faces, arm_faces = _body_and_arm_faces(body)
    arms = rasterize_silhouette(uv, arm_faces, size) > 0.5
    torso = rasterize_silhouette(uv, torso_faces, size) > 0.5
    k = max(3, int(0.006 * cam.height))
    arms = cv2.dilate((arms & ~torso).astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    mask = tracking.mask.astype(np.float32)
    soft = np.where(arms, 0.0, mask)
    person, whole = soft > 0.5, mask > 0.5
    rows = np.nonzero(whole.any(1))[0]
    top, bottom = float(rows[0]), float(rows[-1]) + 1.0

    def row(f: float) -> int:
        return int(np.clip(round(bottom - f * (bottom - top)), 0, cam.height - 1))

    cx = round(float(uv[:, 0].mean()))
    thighs = _thigh_columns(cam.project(posed.landmarks_cam))
    out = [_mask_run(person[row(f)], soft[row(f)], cx, arms[row(f)]) for f in ROW_FRACS]
    out += [_mask_run(whole[row(f)], mask[row(f)], cx, None) for f in FULL_ROW_FRACS]
    out += [_mask_run(person[row(f)], soft[row(f)], round(c), arms[row(f)]) for f in THIGH_FRACS for c in thighs]
    return bottom - top, np.array(out), thighs


def _thigh_columns(lm_px: np.ndarray) -> tuple[float, float]:
    """Image columns through the middle of the left and right thigh (hip and knee landmarks, averaged)."""
    return tuple(float((lm_px[LM[f"{s}_hip"], 0] + lm_px[LM[f"{s}_knee"], 0]) / 2) for s in ("left", "right"))


@functools.lru_cache(maxsize=1)
def _unpitched_bones(body: BodyModel) -> np.ndarray:
    """Bones whose pitch the photo fit takes out: all but the forearms and hands (elbows down)."""
    parents = body.parents
    arm_roots = {body.bone_index["lowerarm01.L"], body.bone_index["lowerarm01.R"]}
    keep = []
    for j in range(len(parents)):
        k = j
        while k >= 0 and k not in arm_roots:
            k = int(parents[k])
        if k < 0:
            keep.append(j)
    return np.array(keep, np.int64)


def _without_pitch(body: BodyModel, G: np.ndarray, R_p: np.ndarray, dR: np.ndarray) -> np.ndarray:
    """The pose G (anny world-orient, posed as pose_world_orient(rest, G, 0, R_p) @ dR.T) with the pitch taken out
    of every bone above the elbows: each bone's rotation from rest is turned, by the smallest rotation of its up
    axis into the image plane (the camera's x-y plane), so that head, torso, legs and upper arms keep their yaw
    and their tilt in the image and lose their lean towards or away from the camera (the rest posture's own
    curves stay). That lean comes from MediaPipe's depth: on rendered bodies it put the pelvis and torso ~8
    degrees forward (the truth: pelvis 0, chest -5 to +8), the head ~12 back and, through the 2D leg refinement's ray-sphere
    intersections (the model is placed ~4 % too far: MediaPipe's shoulder-hip distance is short), the thighs ~18
    forward. A front view cannot see it, but it changes the model's image height (the fit's scale) and where its
    rows fall: the hips came out ~2 cm wide. Forearms and hands keep theirs (bent elbows point at the camera)."""
    from avatar.pose import min_rotation

    A = (dR @ R_p).astype(np.float64)
    out = G.copy()
    for j in _unpitched_bones(body):
        R = A @ G[j].astype(np.float64)
        u = R[:, 1]
        f = np.array([u[0], u[1], 0.0])
        if np.linalg.norm(f) < 0.5:  # pointing at the camera: leave it
            continue
        out[j] = (A.T @ min_rotation(u, f) @ R).astype(G.dtype)
    return out


def _rows_fit(shape, tracking, height_cm, weight_kg, fixed, rounds) -> tuple[BodyShape, dict]:
    """Gauss-Newton on the phenotypes so that the posed model's torso widths, at the same fractions of its image
    height, match the person's (scaled by the two image heights), with the typed height (and weight) as targets.
    The pose of each round is solved for the current shape and held while the shape moves. The widths are not
    convex in the phenotypes (proportions against muscle and weight), so the first round starts from several
    points (ROW_STARTS) and keeps the best."""
    from avatar.pose import PoseSolver

    body = get_body_model()
    edges = _torso_edges(body)
    no_arm_faces = _body_and_arm_faces(body)[0]
    free = [k for k in PHENOTYPE_KEYS if k not in fixed]
    zero = np.zeros(3, np.float32)
    g = fixed.get("gender")
    prior_mu, prior_w = population_prior()["any" if g is None else "female" if g > 0.5 else "male"]

    def residuals(batch, pose, h_person, w_person, ok) -> list[np.ndarray]:
        G, R_p, dR, t, cam, thighs = pose
        thigh_fracs, thigh_cols = np.repeat(THIGH_FRACS, len(thighs)), np.tile(thighs, len(THIGH_FRACS))
        out = []
        for q, rest in zip(batch, body.rest_batch(batch), strict=True):
            m = measure_mesh(rest, body)
            v = body.pose_world_orient(rest, G, zero, R_p)[0] @ dR.T + t
            uv = cam.project(v.astype(np.float32))
            h_model, w_model = model_row_widths(uv, edges, ROW_FRACS)
            centre = np.full(len(FULL_ROW_FRACS), float(uv[:, 0].mean()))
            w_model = np.r_[
                w_model,
                model_run_widths(uv, body.faces, FULL_ROW_FRACS, centre),
                model_run_widths(uv, no_arm_faces, thigh_fracs, thigh_cols),
            ]
            r = list((w_model[ok] * h_person / h_model - w_person[ok]) / ROW_SIGMA_PX)
            r.append((m.height_cm - height_cm) / 0.2)
            if weight_kg is not None:
                r.append((float(m.weight_kg or 0.0) - weight_kg) / 3.0)
            r += [(q[k] - PRIOR_CENTRE[k]) / 0.6 for k in free if k not in PRIOR_KEYS]
            r += list(prior_w @ (np.array([q[k] for k in PRIOR_KEYS]) - prior_mu))
            out.append(np.array(r))
        return out

    def gauss_newton(p, iterations, *meas) -> tuple[dict, float, np.ndarray]:
        n = int(meas[-1].sum())
        best: tuple[float, dict, np.ndarray] | None = None
        for it in range(iterations + 1):
            batch = _fd_batch(p, free, 0.02) if it < iterations else [p]
            res = residuals(batch, *meas)
            a = np.abs(res[0][:n]) * ROW_SIGMA_PX  # Huber weights on the width rows
            wts = np.ones(len(res[0]))
            wts[:n] = np.where(a > ROW_HUBER_PX, np.sqrt(ROW_HUBER_PX / np.maximum(a, 1e-9)), 1.0)
            r0 = res[0] * wts
            if best is None or r0 @ r0 < best[0]:
                best = (float(r0 @ r0), dict(p), a)
            if it == iterations:
                break
            J = np.stack([(res[j + 1] * wts - r0) / (batch[j + 1][k] - p[k]) for j, k in enumerate(free)], 1)
            H = J.T @ J
            step = -np.linalg.solve(H + 1e-2 * np.diag(np.diag(H)) + 1e-6 * np.eye(len(free)), J.T @ r0)
            step = np.clip(step, -0.25, 0.25)
            p = dict(p)
            for j, k in enumerate(free):
                p[k] = float(np.clip(p[k] + step[j], *BOUNDS[k]))
            if np.abs(step).max() < 2e-3:
                iterations = it + 1  # converged: one more evaluation of the final point
        assert best is not None
        return best[1], best[0], best[2]

    p = dict(shape.phenotype) | fixed
    info: dict = {}
    for rnd in range(rounds):
        solver = PoseSolver(BodyShape(dict(p)), smoothing=0.0)
        posed = solver.solve(tracking)
        G, R_p, dR, t = solver.last_pose
        G = _without_pitch(body, G, R_p, dR)  # the model's widths are taken from this pose; the person's mask
        # (arm cut-out, thigh columns) from the solved one, whose limbs were refined onto the 2D landmarks
        h_person, w_person, thighs = person_row_widths(posed, tracking)
        ok = np.isfinite(w_person)
        info["rows_used"] = int(ok.sum())
        if ok.sum() < 3:  # arms over the whole torso: nothing to measure
            break
        meas = ((G, R_p, dR, t, posed.camera, thighs), h_person, w_person, ok)
        starts = [p] + ([p | {k: v for k, v in s.items() if k not in fixed} for s in ROW_STARTS] if rnd == 0 else [])
        fits = [gauss_newton(s, ROW_ITERATIONS, *meas) for s in starts]
        p, cost, a = min(fits, key=lambda f: f[1])
        info["row_residual_px_median"] = round(float(np.median(a)), 2)
        info["fit_pose"] = "pitch removed above the elbows"
        info["cost"] = round(cost, 1)
    m = measure_mesh(body.rest_batch([p])[0], body)
    return BodyShape(p, measurements=m, source="photo"), info


def _ratios_fit(shape, tracking, height_cm, weight_kg, fixed, rounds) -> tuple[BodyShape, dict[str, float]]:
    """Girths rescaled by person/model silhouette widths at the three girth rows (needs no image height)."""
    from avatar.pose import PoseSolver

    ratios_seen: dict[str, float] = {}
    for _ in range(rounds):
        solver = PoseSolver(shape, smoothing=0.0)
        posed = solver.solve(tracking)
        ratios = silhouette_ratios(posed, tracking)
        if not ratios:
            break
        ratios_seen = ratios
        m = shape.measurements or measure_mesh(get_body_model().rest(shape))
        targets = {"height_cm": float(height_cm)}
        sigmas = {"height_cm": 0.2}
        for k, r in ratios.items():
            if k == "hips_cm" and not tracking.lower_body_visible and tracking.visibility[LM["left_hip"]] < 0.5:
                continue
            targets[k] = float(getattr(m, k)) * float(np.clip(r, 0.7, 1.4))
            sigmas[k] = 1.0
        if weight_kg is not None:
            targets["weight_kg"], sigmas["weight_kg"] = float(weight_kg), 3.0
        ph, m = solve_phenotype(targets, sigmas, fixed=fixed, init=shape.phenotype, iterations=5)
        shape = BodyShape(ph, measurements=m, source="photo")
    return shape, ratios_seen
