"""The "silhouette" method of shape from a photo: a differentiable silhouette fit through render/diff.py. The
posed vertices are linearised in the phenotypes, and Adam matches the model's soft torso silhouette to the mask
(arms cut out) while keeping the landmarks and the height. On synthetic bodies it was less accurate than
"widths" (the waist especially: a frontal silhouette does not fix the body's depth, and pose errors leak into
the shape), so it is not the default."""

from __future__ import annotations

import numpy as np

from avatar.body import get_body_model, measure_mesh
from avatar.shape.silhouette import _body_and_arm_faces, rasterize_silhouette
from avatar.shape.solver import BOUNDS, PRIOR_CENTRE, _fd_batch
from avatar.types import LM, PHENOTYPE_KEYS, BodyShape, PinholeCamera, Tracking

SIL_SIDE_PX = 256  # the silhouette fit renders the person's box at this longest side
SIL_STEPS = 40  # Adam steps per round
SIL_SIGMA_PX = 1.5  # blur of both silhouettes: widens the loss's basin by a few pixels
SIL_ARM_BAND = 0.45  # the tracked arms are cut out of the person mask this thick (x shoulder width)
SIL_BELOW_HIPS = 0.3  # rows counted: shoulders down to the hips + this x the shoulder-hip distance
SIL_LANDMARKS = [
    LM[n]
    for n in (
        "nose",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    )
]


def silhouette_fit(
    shape: BodyShape,
    tracking: Tracking,
    height_cm: float,
    fixed: dict[str, float] | None = None,
    steps: int = SIL_STEPS,
    side_px: int = SIL_SIDE_PX,
    weight_kg: float | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """One round of the differentiable silhouette fit (render/diff.py): pose `shape` on the photo, linearise the
    posed vertices in the free phenotypes (one batched anny call, finite differences, the pose held fixed), then
    Adam on (phenotype step, translation) so that the soft silhouette of the model without its arms matches the
    person mask (arms cut out of both), its projected landmarks stay on the 2D landmarks and its height stays
    `height_cm`. Returns (phenotype, diagnostics)."""
    import cv2
    import torch

    from avatar.pose import PoseSolver
    from render import diff

    body = get_body_model()
    fixed = fixed or {}
    solver = PoseSolver(shape, smoothing=0.0)
    posed = solver.solve(tracking)
    assert posed is not None and solver.last_pose is not None and tracking.mask is not None
    G, R_p, dR, t_place = solver.last_pose
    p0 = {k: float(shape.phenotype.get(k, PRIOR_CENTRE[k])) for k in PHENOTYPE_KEYS} | fixed
    free = [k for k in PHENOTYPE_KEYS if k not in fixed]
    eps = 0.02
    batch = _fd_batch(p0, free, eps)
    rests = body.rest_batch(batch)
    zero = np.zeros(3, np.float32)
    verts = [body.pose_world_orient(r, G, zero, R_p)[0] @ dR.T + t_place for r in rests]
    ms = [measure_mesh(r, body) for r in rests]
    steps_k = np.array([batch[i + 1][k] - p0[k] for i, k in enumerate(free)])
    Jv = np.stack([(verts[i + 1] - verts[0]) / steps_k[i] for i in range(len(free))])  # (K, N, 3)
    keys = ["height_cm", "chest_cm", "waist_cm", "hips_cm", "weight_kg"]
    m0 = np.array([float(getattr(ms[0], k) or 0.0) for k in keys])
    Jm = np.stack(
        [(np.array([float(getattr(ms[i + 1], k) or 0.0) for k in keys]) - m0) / steps_k[i] for i in range(len(free))], 1
    )

    # a low-resolution camera on the person's box (person and model, plus a margin) and the mask cut to it
    cam = posed.camera
    assert cam is not None
    ys, xs = np.nonzero(tracking.mask > 0.5)
    uv_full = cam.project(verts[0])
    x0 = min(float(xs.min()), float(uv_full[:, 0].min())) if len(xs) else float(uv_full[:, 0].min())
    x1 = max(float(xs.max()), float(uv_full[:, 0].max())) if len(xs) else float(uv_full[:, 0].max())
    y0 = min(float(ys.min()), float(uv_full[:, 1].min())) if len(ys) else float(uv_full[:, 1].min())
    y1 = max(float(ys.max()), float(uv_full[:, 1].max())) if len(ys) else float(uv_full[:, 1].max())
    pad = 0.06 * max(x1 - x0, y1 - y0)
    x0, y0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
    x1, y1 = int(min(cam.width, x1 + pad + 1)), int(min(cam.height, y1 + pad + 1))
    s = side_px / max(x1 - x0, y1 - y0)
    w, h = max(8, round((x1 - x0) * s)), max(8, round((y1 - y0) * s))
    sx, sy = w / (x1 - x0), h / (y1 - y0)
    small = PinholeCamera(cam.fx * sx, cam.fy * sy, (cam.cx - x0) * sx, (cam.cy - y0) * sy, w, h)
    crop = tracking.mask[y0:y1, x0:x1].astype(np.float32)
    person = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)

    def to_small(p: np.ndarray) -> np.ndarray:
        return (p - np.array([x0, y0])) * np.array([sx, sy])

    torso_faces, arm_faces = _body_and_arm_faces(body)
    uv = small.project(verts[0])
    arms = rasterize_silhouette(uv, arm_faces, (w, h)) > 0.5
    torso = rasterize_silhouette(uv, torso_faces, (w, h)) > 0.5
    k = max(3, int(0.02 * h) | 1)
    arms = cv2.dilate(arms.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    # where the fitted arms are (and the torso is not), neither silhouette counts: arms are posed, not shaped
    skip = arms & ~torso
    # the tracked arms drawn thick (SIL_ARM_BAND x shoulder width): arms touching the torso are not torso
    px = to_small(tracking.landmarks_px)
    band = np.zeros((h, w), np.uint8)
    th = max(2, int(SIL_ARM_BAND * float(np.linalg.norm(px[LM["left_shoulder"]] - px[LM["right_shoulder"]]))))
    for side in ("left", "right"):
        a, b, c = (LM[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist"))
        if min(tracking.visibility[[a, b, c]]) > 0.5:
            mid = px[a] + 0.25 * (px[b] - px[a])
            cv2.line(band, tuple(int(v) for v in mid), tuple(int(v) for v in px[b]), 1, th)
            cv2.line(band, tuple(int(v) for v in px[b]), tuple(int(v) for v in px[c]), 1, th)
    skip |= (band > 0) & ~torso
    # only the torso's rows count, shoulders to below the hips: legs and head carry pose errors, not girths
    ys = (px[LM["left_shoulder"], 1] + px[LM["right_shoulder"], 1]) / 2
    yh = (px[LM["left_hip"], 1] + px[LM["right_hip"], 1]) / 2
    rows = np.zeros((h, w), bool)
    rows[int(np.clip(ys, 0, h)) : int(np.clip(yh + SIL_BELOW_HIPS * (yh - ys), 0, h))] = True
    skip |= ~rows
    care = torch.from_numpy((~skip).astype(np.float32))
    target = diff.blur(np.where(skip, 0.0, person).astype(np.float32), SIL_SIGMA_PX)
    norm = float(target.sum()) + 1.0

    lm_idx, lm_w = body._landmark_matrix
    sel = [i for i in SIL_LANDMARKS if tracking.visibility[i] > 0.5]
    if not tracking.lower_body_visible:
        sel = [i for i in sel if i < LM["left_knee"]]
    lm_target = torch.tensor(to_small(tracking.landmarks_px[sel]), dtype=torch.float32)
    lm_i = torch.from_numpy(lm_idx[sel])
    lm_wt = torch.from_numpy(lm_w[sel])
    lm_scale = 0.02 * h  # landmark misses in units of 2 % of the box height

    V0 = torch.from_numpy(verts[0].astype(np.float32))
    J = torch.from_numpy(Jv.astype(np.float32))
    Jm_t = torch.from_numpy(Jm.astype(np.float32))
    m0_t = torch.from_numpy(m0.astype(np.float32))
    lo = torch.tensor([BOUNDS[k][0] - p0[k] for k in free])
    hi = torch.tensor([BOUNDS[k][1] - p0[k] for k in free])
    centre = torch.tensor([PRIOR_CENTRE[k] - p0[k] for k in free])
    dp = torch.zeros(len(free), requires_grad=True)
    dt = torch.zeros(3, requires_grad=True)
    tmask = torch.tensor([1.0, 1.0, 0.0])  # in-plane shift only: the distance trades off against girths
    params, lrs = [dp, dt], [0.02, 0.004]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    faces_t = torch.from_numpy(torso_faces.astype(np.int64))
    fx, fy, cx, cy = small.fx, small.fy, small.cx, small.cy
    # small tensors: one intra-op thread is several times faster than two on a busy 2-core machine (render tests)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hist = []
        for it in range(steps):
            V = V0 + torch.einsum("k,knc->nc", dp, J) + dt * tmask
            sil = diff.soft_silhouette(V, faces_t, small, sigma_px=SIL_SIGMA_PX)
            l_sil = (((sil - target) ** 2) * care).sum() / norm
            L = (V[lm_i] * lm_wt[..., None]).sum(1)
            uvl = torch.stack([cx + fx * L[:, 0] / -L[:, 2], cy - fy * L[:, 1] / -L[:, 2]], -1)
            l_lm = (((uvl - lm_target) / lm_scale) ** 2).sum(-1).mean() * 0.05 if sel else torch.zeros(())
            m = m0_t + Jm_t @ dp
            l_h = ((m[0] - height_cm) / 0.3) ** 2 * 0.01
            l_w = ((m[4] - weight_kg) / 4.0) ** 2 * 0.01 if weight_kg is not None else torch.zeros(())
            l_prior = (((dp - centre) / 0.6) ** 2).sum() * 0.002
            loss = l_sil + l_lm + l_h + l_w + l_prior
            for p in params:
                p.grad = None
            loss.backward()
            _adam_step(params, moments, it + 1, lrs)
            with torch.no_grad():
                dp.copy_(torch.maximum(torch.minimum(dp, hi), lo))
            hist.append((round(l_sil.item(), 5), round(l_lm.item(), 5), round(l_h.item(), 5)))
    finally:
        torch.set_num_threads(threads)
    ph = dict(p0)
    step = dp.detach().numpy()
    for i, k in enumerate(free):
        ph[k] = float(np.clip(p0[k] + float(step[i]), *BOUNDS[k]))
    # loss terms (silhouette, landmarks, height) at the first and last step
    return ph, {"loss_first": hist[0], "loss_last": hist[-1], "translation_m": dt.detach().tolist()}


def _adam_step(params, moments, step: int, lrs, b1: float = 0.9, b2: float = 0.999) -> None:
    """Adam by hand (torch.optim's first import pulls in torch._dynamo: seconds)."""
    import torch

    with torch.no_grad():
        for p, (m, v), lr in zip(params, moments, lrs, strict=True):
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p -= lr * (m / (1 - b1**step)) / ((v / (1 - b2**step)).sqrt() + 1e-8)
