"""Per-frame pose: landmarks -> a posed anny body placed over the person in the camera image.

The solver is analytic, not iterative over the mesh: MediaPipe's metric world landmarks give the directions of
the torso, head, upper/lower arms and legs and feet; each anny bone gets the smallest rotation that turns its
rest direction into the observed one (chained from its parent so twist stays continuous). The global placement
(translation plus a small rotation correction) is then a few damped Gauss-Newton steps on the reprojection of
the model's own landmarks onto the 2D landmarks, through a pinhole camera with an assumed field of view. The
body's size is known (its shape), so the distance to the camera follows from its apparent size. A One Euro
filter on the landmarks removes jitter at rest while adding little lag in motion. Cost per frame: one anny
skinning (a few ms) plus numpy on 33 points."""

from __future__ import annotations

import math
import time

import numpy as np

from avatar.body import BodyModel, RestBody, get_body_model
from avatar.types import LM, BodyShape, PinholeCamera, PosedBody, Tracking

DEFAULT_HFOV_DEG = 60.0  # typical webcam


# --- One Euro filter ------------------------------------------------------------------------------------------


class OneEuroFilter:
    """Casiez et al. 2012: a low-pass filter whose cutoff rises with speed, so still landmarks are smoothed
    strongly (no jitter at rest) and moving ones lightly (little lag). Works on arrays of any shape."""

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.0, d_cutoff_hz: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff_hz, beta, d_cutoff_hz
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or self.t is None or x.shape != self.x.shape:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t_s
            return x.astype(np.float32)
        dt = t_s - self.t
        if dt <= 0:
            dt = 1.0 / 30.0
        self.t = t_s
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        return self.x.astype(np.float32)


# --- rotation helpers -------------------------------------------------------------------------------------------


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors: np.cross costs ~25 us a call in its axis handling, this ~2 us."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _skew(v: np.ndarray) -> np.ndarray:
    """[v]x: the matrix of the cross product with v."""
    return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])


def _norm(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v


def min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation turning direction a into direction b (Rodrigues)."""
    a, b = _norm(a), _norm(b)
    v = _cross(a, b)
    c = float(np.dot(a, b))
    s = float(np.linalg.norm(v))
    if s < 1e-8:
        if c > 0:
            return np.eye(3)
        # 180 degrees: any axis orthogonal to a
        axis = _norm(_cross(a, np.array([1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])))
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = _skew(v)
    return np.eye(3) + k + k @ k * ((1 - c) / s**2)


def frame_from(x_dir: np.ndarray, up_dir: np.ndarray) -> np.ndarray:
    """Orthonormal frame (columns x=left, y=up, z=forward) from a left-pointing and an up-pointing vector."""
    x = _norm(x_dir)
    y = _norm(up_dir - np.dot(up_dir, x) * x)
    z = _cross(x, y)
    return np.stack([x, y, z], 1)


def rotvec_to_matrix(r: np.ndarray) -> np.ndarray:
    th = float(np.linalg.norm(r))
    if th < 1e-12:
        return np.eye(3)
    k = r / th
    K = _skew(k)
    return np.eye(3) + math.sin(th) * K + (1 - math.cos(th)) * K @ K


def rotvec_derivatives(r: np.ndarray, R: np.ndarray | None = None) -> list[np.ndarray]:
    """dR/dr_k of R = rotvec_to_matrix(r), k = 0..2 (Gallego & Yezzi 2015, eq. 9; [e_k]x at r = 0)."""
    basis = np.eye(3)
    th2 = float(r @ r)
    if th2 < 1e-16:
        return [_skew(e) for e in basis]
    R = rotvec_to_matrix(r) if R is None else R
    I_R = np.eye(3) - R
    return [(r[k] * _skew(r) + _skew(_cross(r, I_R[:, k]))) / th2 @ R for k in range(3)]


def matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    c = float(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))
    th = math.acos(c)
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if th < 1e-6:
        return w / 2
    if th > math.pi - 1e-4:  # near 180 degrees: axis from the symmetric part
        axis = _norm(np.sqrt(np.maximum((np.diag(R) + 1) / 2, 0)) * np.sign(w + 1e-12))
        return axis * th
    return w * (th / (2 * math.sin(th)))


def slerp_matrix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return a @ rotvec_to_matrix(matrix_to_rotvec(a.T @ b) * t)


def mp_world_to_camera(world: np.ndarray) -> np.ndarray:
    """MediaPipe world (x right, y down, z away from camera) -> camera-aligned (x right, y up, z towards camera)."""
    return world * np.array([1.0, -1.0, -1.0], np.float32)


# --- the solver -------------------------------------------------------------------------------------------------

LIMBS = [  # (bone, child bone whose head ends it, landmark from, landmark to, follower bones)
    ("upperarm01.L", "lowerarm01.L", "left_shoulder", "left_elbow"),
    ("lowerarm01.L", "wrist.L", "left_elbow", "left_wrist"),
    ("upperarm01.R", "lowerarm01.R", "right_shoulder", "right_elbow"),
    ("lowerarm01.R", "wrist.R", "right_elbow", "right_wrist"),
    ("upperleg01.L", "lowerleg01.L", "left_hip", "left_knee"),
    ("lowerleg01.L", "foot.L", "left_knee", "left_ankle"),
    ("upperleg01.R", "lowerleg01.R", "right_hip", "right_knee"),
    ("lowerleg01.R", "foot.R", "right_knee", "right_ankle"),
]
SPINE = ["spine05", "spine04", "spine03", "spine02", "spine01"]
NECK = ["neck01", "neck02", "neck03", "head"]
MIN_VIS = 0.5


class PoseSolver:
    """Poses one session's body (shape fixed) from each frame's Tracking. Not thread-safe: one per session."""

    def __init__(
        self,
        shape: BodyShape,
        camera: PinholeCamera | None = None,
        hfov_deg: float = DEFAULT_HFOV_DEG,
        smoothing: float | None = None,
        body: BodyModel | None = None,
        gn_steps: int = 4,
        refine_2d: bool = True,
    ) -> None:
        from fitmirror.config import get_settings

        self.body = body or get_body_model()
        self.shape = shape
        self.rest: RestBody = self.body.rest(shape)
        self.camera = camera
        self.hfov_deg = hfov_deg
        self.gn_steps = gn_steps
        self.refine_2d = refine_2d
        s = get_settings().pose_smoothing if smoothing is None else smoothing
        self.smoothing = float(np.clip(s, 0.0, 1.0))
        min_cut = 0.3 + (1.0 - self.smoothing) * 1.4  # Hz: 1.0 at the default smoothing 0.5
        self.f_world = OneEuroFilter(min_cut, beta=2.0)  # metres
        self.f_px = OneEuroFilter(min_cut, beta=0.01)  # pixels
        self.f_vis = OneEuroFilter(2.0, 0.0)
        self.rest_lm = self.body.landmarks(self.rest.vertices)  # body frame
        bi = self.body.bone_index
        self._bi = bi
        self._rest_frames = self._frames(self.rest_lm, body_frame=True)
        self._last_t: float | None = None
        parents = self.body.parents
        self._subtree: dict[int, np.ndarray] = {}
        for s in ("L", "R"):
            f = bi[f"foot.{s}"]
            sub = [j for j in range(len(parents)) if self._is_below(j, f, parents)]
            self._subtree[f] = np.array(sub, np.int64)
        self._limb_subtree = {
            b: np.array([j for j in range(len(parents)) if self._is_below(j, bi[b], parents)], np.int64)
            for b, *_ in LIMBS
        }
        self.last_ms: dict[str, float] = {}
        self.last_pose: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _is_below(j: int, ancestor: int, parents: np.ndarray) -> bool:
        while j >= 0:
            if j == ancestor:
                return True
            j = int(parents[j])
        return False

    def reset(self) -> None:
        for f in (self.f_world, self.f_px, self.f_vis):
            f.reset()

    def set_shape(self, shape: BodyShape) -> None:
        self.shape = shape
        self.rest = self.body.rest(shape)
        self.rest_lm = self.body.landmarks(self.rest.vertices)
        self._rest_frames = self._frames(self.rest_lm, body_frame=True)

    # frames of pelvis, chest and head from landmarks (camera-aligned or body frame: both y up, x to image right)
    @staticmethod
    def _frames(p: np.ndarray, body_frame: bool = False) -> dict[str, np.ndarray]:
        lh, rh, ls, rs = p[LM["left_hip"]], p[LM["right_hip"]], p[LM["left_shoulder"]], p[LM["right_shoulder"]]
        mid_h, mid_s = (lh + rh) / 2, (ls + rs) / 2
        up = mid_s - mid_h
        pelvis = frame_from(lh - rh, up)
        chest = frame_from(ls - rs, up)
        le, re, nose = p[LM["left_ear"]], p[LM["right_ear"]], p[LM["nose"]]
        mid_e = (le + re) / 2
        x = _norm(le - re)
        fwd = nose - mid_e
        y = _cross(_norm(fwd - np.dot(fwd, x) * x), x)
        head = frame_from(x, y)
        return {"pelvis": pelvis, "chest": chest, "head": head}

    def solve(self, tracking: Tracking) -> PosedBody | None:
        """The posed body for one frame, or None when nobody is tracked (the caller keeps the last one)."""
        if not tracking.present:
            return None
        t0 = time.perf_counter()
        w, h = tracking.image_size
        if self.camera is None or (self.camera.width, self.camera.height) != (w, h):
            self.camera = PinholeCamera.from_fov(w, h, self.hfov_deg)
        ts = tracking.timestamp_ms / 1000.0
        if self._last_t is not None and ts <= self._last_t:
            ts = self._last_t + 1.0 / 30.0
        self._last_t = ts
        world = mp_world_to_camera(tracking.landmarks_world.astype(np.float64))
        px = tracking.landmarks_px.astype(np.float64)
        vis = tracking.visibility.astype(np.float64)
        if self.smoothing > 0:
            world = self.f_world(world, ts).astype(np.float64)
            px = self.f_px(px, ts).astype(np.float64)
            vis = self.f_vis(vis, ts).astype(np.float64)
        Q = self._bone_rotations(world, vis)
        t1 = time.perf_counter()
        R_p = Q[0]
        G = np.einsum("ij,bjk->bik", R_p.T, Q).astype(np.float32)
        # placement needs the landmarks only: skin their few hundred vertices, the whole mesh once at the end with
        # the same bone transforms (the limb refinement moves them rigidly: no second forward-kinematics pass)
        body, zero, R32 = self.body, np.zeros(3, np.float32), R_p.astype(np.float32)
        v_lm, heads0, bt0 = body.pose_world_orient(self.rest, G, zero, R32, vertex_ids=body.landmark_vertex_ids)
        t2 = time.perf_counter()
        lm0 = body.landmarks_of_subset(v_lm).astype(np.float64)
        dR, t = self._place(lm0, px, vis, tracking)
        moves = self._refine_limbs(Q, lm0 @ dR.T + t, px, vis, dR, tracking) if self.refine_2d else []
        if moves:
            G = np.einsum("ij,bjk->bik", R_p.T, Q).astype(np.float32)
            heads0, bt0 = self._move_limbs(heads0, bt0, moves)
        v0 = body.skin(self.rest.vertices, bt0)
        if moves:
            lm0 = body.landmarks(v0).astype(np.float64)
        # what reproduces this pose on another shape (shape_from_photo's silhouette Jacobian):
        # v = pose_world_orient(rest, G, 0, R_p) @ dR.T + t
        self.last_pose = (G, R_p.astype(np.float32), dR, t)
        M = np.eye(4, dtype=np.float32)
        M[:3, :3], M[:3, 3] = dR, t
        v = (v0 @ dR.T + t).astype(np.float32)
        heads = (heads0 @ dR.T + t).astype(np.float32)
        bt = np.einsum("ij,bjk->bik", M, bt0).astype(np.float32)
        t3 = time.perf_counter()
        self.last_ms = {
            "rotations_ms": (t1 - t0) * 1e3,
            "skinning_ms": (t2 - t1) * 1e3,
            "placement_ms": (t3 - t2) * 1e3,
            "total_ms": (t3 - t0) * 1e3,
        }
        return PosedBody(
            vertices=v,
            faces=self.body.faces,
            joints=heads,
            bone_transforms=bt,
            bone_names=self.body.bone_names,
            camera=self.camera,
            landmarks_cam=(lm0 @ dR.T + t).astype(np.float32),
            shape=self.shape,
            timestamp_ms=tracking.timestamp_ms,
        )

    def _move_limbs(
        self, heads: np.ndarray, bt: np.ndarray, moves: list[tuple[str, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply `_refine_limbs`' rotations to forward-kinematics results (pre-placement frame): each turns its
        bone's subtree rigidly about the bone's head, which is what forward kinematics gives for the turned Q."""
        heads, bt = heads.astype(np.float64), bt.astype(np.float64)
        for bone, D in moves:
            sub, pivot = self._limb_subtree[bone], heads[self._bi[bone]].copy()
            M = np.eye(4)
            M[:3, :3], M[:3, 3] = D, pivot - D @ pivot
            bt[sub] = M @ bt[sub]
            heads[sub] = (heads[sub] - pivot) @ D.T + pivot
        return heads.astype(np.float32), bt.astype(np.float32)

    def _refine_limbs(
        self, Q: np.ndarray, L: np.ndarray, px: np.ndarray, vis: np.ndarray, dR: np.ndarray, tr: Tracking
    ) -> list[tuple[str, np.ndarray]]:
        """Turn each limb (upper bone, then lower) about its start joint so that its end projects onto the 2D
        landmark: the end goes to where the camera ray through the landmark meets the sphere of the bone's
        length around the start joint (the intersection nearer the 3D estimate). MediaPipe's depth keeps
        choosing between the two intersections; the image fixes the rest. Updates Q in place and returns each
        turned bone with its rotation in Q's (pre-placement) frame, in the order applied."""
        cam = self.camera
        assert cam is not None
        moves: list[tuple[str, np.ndarray]] = []
        L = L.copy()
        for side, s in (("left", "L"), ("right", "R")):
            chains = [
                (f"upperarm01.{s}", f"{side}_shoulder", f"{side}_elbow", ["elbow", "wrist", "pinky", "index", "thumb"]),
                (f"lowerarm01.{s}", f"{side}_elbow", f"{side}_wrist", ["wrist", "pinky", "index", "thumb"]),
            ]
            if tr.lower_body_visible:
                chains += [
                    (f"upperleg01.{s}", f"{side}_hip", f"{side}_knee", ["knee", "ankle", "heel", "foot_index"]),
                    (f"lowerleg01.{s}", f"{side}_knee", f"{side}_ankle", ["ankle", "heel", "foot_index"]),
                ]
            for bone, a_name, b_name, moved in chains:
                a, b = LM[a_name], LM[b_name]
                if min(vis[a], vis[b]) < MIN_VIS:
                    continue
                start, end = L[a], L[b]
                length = float(np.linalg.norm(end - start))
                r = _norm(np.array([(px[b, 0] - cam.cx) / cam.fx, -(px[b, 1] - cam.cy) / cam.fy, -1.0]))
                rs = float(r @ start)
                disc = rs * rs - (float(start @ start) - length * length)
                if disc >= 0:
                    cands = [r * (rs - math.sqrt(disc)), r * (rs + math.sqrt(disc))]
                    target = min(cands, key=lambda p: float(np.linalg.norm(p - end)))
                else:
                    target = start + length * _norm(r * rs - start)
                D = min_rotation(end - start, target - start)
                idx = [LM[f"{side}_{n}"] for n in moved]
                L[idx] = (L[idx] - start) @ D.T + start
                D_al = dR.T @ D @ dR
                sub = self._limb_subtree[bone]
                Q[sub] = np.einsum("ij,bjk->bik", D_al, Q[sub])
                moves.append((bone, D_al))
        return moves

    def _bone_rotations(self, world: np.ndarray, vis: np.ndarray) -> np.ndarray:
        """Per-bone rotation (camera-aligned frame) relative to the rest body frame, (J, 3, 3)."""
        bi, parents = self._bi, self.body.parents
        J = len(parents)
        obs = self._frames(world)
        rest = self._rest_frames
        R_p = obs["pelvis"] @ rest["pelvis"].T
        R_c = obs["chest"] @ rest["chest"].T
        head_ok = min(vis[LM["left_ear"]], vis[LM["right_ear"]], vis[LM["nose"]]) > MIN_VIS
        R_h = obs["head"] @ rest["head"].T if head_ok else R_c
        legs_ok = min(vis[LM["left_hip"]], vis[LM["right_hip"]]) > MIN_VIS
        if not legs_ok:  # upper body only: hips are guesses; keep the pelvis under the chest, upright
            R_p = frame_from(R_c[:, 0], np.array([0.0, 1.0, 0.0])) @ np.eye(3)
        fixed: dict[int, np.ndarray] = {0: R_p}
        for i, name in enumerate(SPINE):
            fixed[bi[name]] = slerp_matrix(R_p, R_c, i / (len(SPINE) - 1))
        for i, name in enumerate(NECK):
            fixed[bi[name]] = slerp_matrix(R_c, R_h, (i + 1) / len(NECK))
        limb_of = {bi[b]: (bi[c], LM[a], LM[e]) for b, c, a, e in LIMBS}
        rest_heads = self.rest.bone_heads
        Q = np.zeros((J, 3, 3))
        for j in range(J):
            par = parents[j]
            Qpar = Q[par] if par >= 0 else np.eye(3)
            if j in fixed:
                Q[j] = fixed[j]
            elif j in limb_of:
                c, la, lb = limb_of[j]
                if min(vis[la], vis[lb]) > MIN_VIS and (legs_ok or "leg" not in self.body.bone_names[j]):
                    d_rest = Qpar @ (rest_heads[c] - rest_heads[j])
                    d_obs = world[lb] - world[la]
                    Q[j] = min_rotation(d_rest, d_obs) @ Qpar
                else:
                    Q[j] = Qpar
            else:
                Q[j] = Qpar
        # feet: heel -> toe
        for side, s in (("left", "L"), ("right", "R")):
            f = bi[f"foot.{s}"]
            hh, tt = LM[f"{side}_heel"], LM[f"{side}_foot_index"]
            if legs_ok and min(vis[hh], vis[tt]) > MIN_VIS:
                d_rest = Q[f] @ (self.rest_lm[tt] - self.rest_lm[hh])
                Q[self._subtree[f]] = min_rotation(d_rest, world[tt] - world[hh]) @ Q[f]  # toes follow
        return Q

    def _place(self, lm0: np.ndarray, px: np.ndarray, vis: np.ndarray, tr: Tracking):
        """Translation (linear least squares) then damped Gauss-Newton on (small rotation, translation) so the
        model's landmarks project onto the 2D landmarks. Weights: visibility; the face and hands count less."""
        cam = self.camera
        assert cam is not None
        wts = np.clip((vis - 0.3) / 0.7, 0.0, 1.0)
        wts[:11] *= 0.3  # face points: small, and MediaPipe's face points differ from anny's
        wts[17:23] *= 0.3  # fingers
        if not tr.lower_body_visible:
            wts[25:] *= 0.1
        if wts.sum() < 1e-3:
            wts = np.ones_like(wts)
        f, cx, cy = cam.fx, cam.cx, cam.cy
        # linear initial translation: f tx + (u-cx) tz = -(u-cx) Z - f X ;  f ty - (v-cy) tz = (v-cy) Z - f Y
        du, dv = px[:, 0] - cx, px[:, 1] - cy
        X, Y, Z = lm0[:, 0], lm0[:, 1], lm0[:, 2]
        n = len(lm0)
        A = np.zeros((2 * n, 3))
        b = np.zeros(2 * n)
        A[:n, 0], A[:n, 2], b[:n] = f, du, -du * Z - f * X
        A[n:, 1], A[n:, 2], b[n:] = f, -dv, dv * Z - f * Y
        sw = np.sqrt(np.concatenate([wts, wts]))
        t = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)[0]
        if t[2] > -0.3:  # behind or on the camera: implausible, put it at 2.5 m
            t = np.array([0.0, 0.0, -2.5])
        params = np.concatenate([np.zeros(3), t])
        centre = lm0[[LM["left_hip"], LM["right_hip"]]].mean(0)
        lam = 1e-2
        prior = np.array([50.0, 50.0, 50.0, 0.0, 0.0, 0.0])  # keep the rotation correction small

        sqw = np.sqrt(wts)
        rel = lm0 - centre

        def residual(p: np.ndarray, jacobian: bool = False):
            R = rotvec_to_matrix(p[:3])
            rr = rel @ R.T
            q = rr + centre + p[3:]
            depth = np.maximum(-q[:, 2], 1e-3)
            u = cx + f * q[:, 0] / depth
            v = cy - f * q[:, 1] / depth
            r = np.concatenate([(u - px[:, 0]) * sqw, (v - px[:, 1]) * sqw, prior * p])
            if not jacobian:
                return r
            # analytic: d(u, v)/dq (pinhole, depth = -z) times dq/dp (rotation: dR/dp_k (l - c); translation: I)
            du_dq = np.stack([f / depth, np.zeros_like(depth), f * q[:, 0] / depth**2], 1)
            dv_dq = np.stack([np.zeros_like(depth), -f / depth, -f * q[:, 1] / depth**2], 1)
            dq_dr = np.stack([rel @ dRk.T for dRk in rotvec_derivatives(p[:3], R)], 2)  # (n, 3, 3): point, xyz, k
            Jm = np.zeros((len(r), 6))
            Jm[:n, :3] = np.einsum("nc,nck->nk", du_dq, dq_dr) * sqw[:, None]
            Jm[n : 2 * n, :3] = np.einsum("nc,nck->nk", dv_dq, dq_dr) * sqw[:, None]
            Jm[:n, 3:] = du_dq * sqw[:, None]
            Jm[n : 2 * n, 3:] = dv_dq * sqw[:, None]
            Jm[2 * n :] = np.diag(prior)
            return r, Jm

        r, Jm = residual(params, jacobian=True)
        for _ in range(self.gn_steps):
            H = Jm.T @ Jm
            step = -np.linalg.solve(H + lam * np.diag(np.diag(H) + 1e-9), Jm.T @ r)
            new = params + step
            rn, Jn = residual(new, jacobian=True)
            if rn @ rn < r @ r:
                params, r, Jm, lam = new, rn, Jn, lam * 0.3
            else:
                lam *= 10
        R = rotvec_to_matrix(params[:3])
        # rotation about the hip centre -> about the origin, plus translation
        t_final = centre - R @ centre + params[3:]
        return R, t_final


def reprojection_error_px(posed: PosedBody, tracking: Tracking, min_visibility: float = 0.7) -> float:
    """Mean pixel distance between the posed body's projected landmarks and the tracked 2D landmarks."""
    assert posed.camera is not None and posed.landmarks_cam is not None
    uv = posed.camera.project(posed.landmarks_cam)
    sel = tracking.visibility >= min_visibility
    sel[:11] = False  # face points are defined differently
    return float(np.linalg.norm(uv[sel] - tracking.landmarks_px[sel], axis=1).mean())
