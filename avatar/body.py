"""The body model: a thread-safe, process-wide wrapper around anny (MakeHuman-based, Apache-2.0 code, CC0 data).

Only the default `anny` topology is used (13,718 vertices); the smpl/smplx topologies download non-commercial
data at run time and are never touched. The anny cache must exist (`fitmirror setup` builds it): constructing
the model without it takes over a minute and writes 800 MB.

anny's own frame is z up, the person facing -y, the person's left on +x. Everything this module returns is in
the *body frame* (y up, facing +z) or the *camera frame* (see avatar/types.py)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from avatar.types import LM, PHENOTYPE_KEYS, BodyShape, Measurements, PinholeCamera, PosedBody
from fitmirror.errors import ModelUnavailableError

# anny frame -> body frame: x stays, y_body = z_anny, z_body = -y_anny
A2B = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float32)

# Fractions of stature at which ANSUR II measures the girths (means over 6,068 soldiers of chestheight,
# waistheightomphalion and buttockheight divided by stature); see measure_mesh.
CHEST_HEIGHT_FRAC = 0.7215
WAIST_HEIGHT_FRAC = 0.5988
HIPS_HEIGHT_FRAC = 0.5010

ARM_BONE_PREFIXES = ("upperarm", "lowerarm", "wrist", "finger", "metacarpal")


@dataclass
class RestBody:
    """A shape's rest mesh and skeleton. `rest_bone_poses` stay in anny's frame (they feed anny's kinematics)."""

    shape_key: tuple[float, ...]
    vertices: np.ndarray  # (N, 3) body frame
    bone_heads: np.ndarray  # (J, 3) body frame
    torch_rest_vertices: object  # torch (1, N, 3), anny frame
    torch_rest_bone_poses: object  # torch (1, J, 4, 4), anny frame


class BodyModel:
    """anny in float32 on the configured device. Use `get_body_model()`; calls are serialised by a lock because
    anny's warp skinning kernels and the shared tensors are not safe to run concurrently."""

    def __init__(self) -> None:
        from fitmirror.config import get_settings, torch_device

        s = get_settings()
        cache = s.anny_cache_dir
        os.environ["ANNY_CACHE_DIR"] = str(cache)  # read by anny at import time ...
        if not cache.exists() or not any(cache.iterdir()):
            raise ModelUnavailableError(
                f"the anny body-model cache is missing at {cache}",
                hint="run `fitmirror setup` once (it builds the 800 MB cache in about 75 s)",
            )
        try:  # warp (anny's skinning) prints kernel-cache notes on stdout, which would corrupt `--json` output
            import warp

            warp.config.quiet = True
            warp.config.log_level = max(warp.config.log_level, warp.LOG_WARNING)
        except ImportError:  # pragma: no cover - comes with anny
            pass
        import anny
        import anny.paths
        import torch

        anny.paths.set_anny_cache_path(cache)  # ... and set again in case anny was imported earlier

        self.torch = torch
        self.device = torch_device(s)
        self.lock = threading.RLock()
        self.model = anny.Anny().to(dtype=torch.float32, device=self.device)
        self.model.eval()
        m = self.model
        self.bone_names: tuple[str, ...] = tuple(m.bone_labels)
        self.bone_index = {n: i for i, n in enumerate(self.bone_names)}
        self.parents = np.asarray(m.bone_parents, np.int64)
        self.faces = m.faces.cpu().numpy().astype(np.int32)
        self.vertex_bone_indices = m.vertex_bone_indices.cpu().numpy().astype(np.int32)  # (N, 9)
        self.vertex_bone_weights = m.vertex_bone_weights.cpu().numpy().astype(np.float32)  # (N, 9)
        kr = anny.KeypointsRegressor.coco(m)
        self._coco_idx = kr.regression_indices.cpu().numpy()
        self._coco_w = kr.regression_weights.to(torch.float32).cpu().numpy()
        self._coco_labels = list(kr.labels)
        self._cache: OrderedDict[tuple, RestBody] = OrderedDict()
        # dominant bone per vertex (for cross-sections that must exclude the arms)
        dom = self.vertex_bone_indices[np.arange(len(self.vertex_bone_indices)), self.vertex_bone_weights.argmax(1)]
        arm = np.array([n.startswith(ARM_BONE_PREFIXES) for n in self.bone_names])
        self.vertex_is_arm = arm[dom]
        # sparse (N, J) skinning weights: linear blend skinning as one sparse product (see pose_world_orient)
        from scipy.sparse import csr_matrix

        n_v, n_k = self.vertex_bone_indices.shape
        self._skin_w = csr_matrix(
            (self.vertex_bone_weights.ravel(), (np.repeat(np.arange(n_v), n_k), self.vertex_bone_indices.ravel())),
            shape=(n_v, len(self.bone_names)),
        )
        self._landmark_matrix = self._build_landmark_matrix()
        # the vertices the 33 landmarks are made of: skinning only these places a body ~10x cheaper
        self.landmark_vertex_ids = np.unique(self._landmark_matrix[0])
        self._landmark_sub_idx = np.searchsorted(self.landmark_vertex_ids, self._landmark_matrix[0])

    # --- shape -------------------------------------------------------------------------------------------
    def _phenotype_tensors(self, phenotypes: list[dict[str, float]]) -> dict:
        t = self.torch
        return {
            k: t.tensor([float(p.get(k, 0.5)) for p in phenotypes], dtype=t.float32, device=self.device)
            for k in PHENOTYPE_KEYS
        }

    def rest_batch(self, phenotypes: list[dict[str, float]]) -> list[RestBody]:
        """Rest meshes for several phenotypes in one batched anny call (used by the shape solvers)."""
        t = self.torch
        with self.lock, t.no_grad():
            m = self.model
            _, ph, lc, fa = m.get_tensor_inputs(None, self._phenotype_tensors(phenotypes), None, None)
            coeffs = m._get_phenotype_blendshape_coefficients(ph, lc, fa)
            rest = m.get_rest_model(coeffs)
        rv = rest["rest_vertices"]
        rb = rest["rest_bone_poses"]
        out = []
        for i, p in enumerate(phenotypes):
            key = tuple(round(float(p.get(k, 0.5)), 5) for k in PHENOTYPE_KEYS)
            v = rv[i].cpu().numpy() @ A2B.T
            heads = rb[i, :, :3, 3].cpu().numpy() @ A2B.T
            out.append(RestBody(key, v.astype(np.float32), heads.astype(np.float32), rv[i : i + 1], rb[i : i + 1]))
        return out

    def rest(self, shape: BodyShape | dict[str, float]) -> RestBody:
        """Rest mesh of a shape (cached: a session's shape is computed once, then every frame reuses it)."""
        ph = shape.phenotype if isinstance(shape, BodyShape) else shape
        key = tuple(round(float(ph.get(k, 0.5)), 5) for k in PHENOTYPE_KEYS)
        with self.lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            rb = self.rest_batch([ph])[0]
            self._cache[key] = rb
            while len(self._cache) > 16:
                self._cache.popitem(last=False)
            return rb

    # --- pose --------------------------------------------------------------------------------------------
    def pose_world_orient(
        self,
        rest: RestBody,
        global_rot: np.ndarray,
        root_cam: np.ndarray,
        cam_from_body: np.ndarray,
        vertex_ids: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Skin `rest` with per-bone global rotations.

        global_rot: (J, 3, 3) rotation of each bone relative to its rest orientation, in the *body frame*
        (identity everywhere = rest pose). The root's rotation is the body's orientation before `cam_from_body`.
        root_cam: (3,) camera-frame position of the root bone head. cam_from_body: (3, 3) rotation body -> camera.
        `vertex_ids`: skin only these vertices (e.g. `landmark_vertex_ids`). Returns (vertices (N,3) camera frame,
        bone heads (J,3) camera frame, bone transforms (J,4,4) rest body frame -> camera frame)."""
        t = self.torch
        g_anny = A2B.T[None] @ global_rot.astype(np.float32) @ A2B[None]  # conjugate into anny's frame
        with self.lock, t.no_grad():
            R = rest.torch_rest_bone_poses[0, :, :3, :3]
            G = t.from_numpy(g_anny).to(self.device)
            D = t.eye(4, dtype=t.float32, device=self.device).repeat(1, len(self.bone_names), 1, 1)
            D[0, :, :3, :3] = G @ R
            D[0, 0, :3, 3] = rest.torch_rest_bone_poses[0, 0, :3, 3]  # root stays at its rest head
            T, W = self.model.get_bone_transforms(D, rest.torch_rest_bone_poses, "world-orient")
            heads = W[0, :, :3, 3].cpu().numpy()
            Tn = T[0].cpu().numpy()
        root_body = rest.bone_heads[0]
        M = cam_from_body.astype(np.float32) @ A2B  # anny -> camera rotation
        off = root_cam.astype(np.float32) - cam_from_body.astype(np.float32) @ root_body
        heads_cam = heads @ M.T + off
        # rest(body) -> anny rest: A2B^T; anny transform T; anny -> camera: [M | off]
        B2A = np.eye(4, dtype=np.float32)
        B2A[:3, :3] = A2B.T
        A2C = np.eye(4, dtype=np.float32)
        A2C[:3, :3] = M
        A2C[:3, 3] = off
        bone_T = (A2C[None] @ Tn @ B2A[None]).astype(np.float32)
        # skinning in numpy, straight from the body-frame rest mesh into the camera frame: anny's warp kernel
        # rebuilds and re-hashes itself on every call (about 2/3 of its time on CPU)
        rv = rest.vertices if vertex_ids is None else rest.vertices[vertex_ids]
        v_cam = self.skin(rv, bone_T, vertex_ids)
        return v_cam, heads_cam.astype(np.float32), bone_T

    def skin(self, rest_vertices: np.ndarray, transforms: np.ndarray, vertex_ids: np.ndarray | None = None):
        """Linear blend skinning of (N, 3) rest vertices by per-bone (J, 4, 4) transforms (all vertices, or the
        `vertex_ids` rows): the weighted transforms are blended per vertex by one sparse product, then applied."""
        w = self._skin_w if vertex_ids is None else self._skin_w[vertex_ids]
        blend = (w @ transforms[:, :3, :].reshape(len(transforms), 12)).reshape(-1, 3, 4)
        return (np.einsum("nij,nj->ni", blend[:, :, :3], rest_vertices) + blend[:, :, 3]).astype(np.float32)

    def posed_body(
        self,
        shape: BodyShape,
        global_rot: np.ndarray | None = None,
        root_cam: np.ndarray | None = None,
        cam_from_body: np.ndarray | None = None,
        camera: PinholeCamera | None = None,
        timestamp_ms: float = 0.0,
    ) -> PosedBody:
        """A posed body in the camera frame. Defaults: rest pose, root 3 m in front of the camera."""
        rest = self.rest(shape)
        J = len(self.bone_names)
        g = np.repeat(np.eye(3, dtype=np.float32)[None], J, 0) if global_rot is None else global_rot
        rc = np.array([0.0, 0.0, -3.0], np.float32) if root_cam is None else root_cam
        cb = np.eye(3, dtype=np.float32) if cam_from_body is None else cam_from_body
        v, heads, bt = self.pose_world_orient(rest, g, rc, cb)
        return PosedBody(
            vertices=v,
            faces=self.faces,
            joints=heads,
            bone_transforms=bt,
            bone_names=self.bone_names,
            camera=camera,
            landmarks_cam=self.landmarks(v),
            shape=shape,
            timestamp_ms=timestamp_ms,
        )

    # --- landmarks ---------------------------------------------------------------------------------------
    def _build_landmark_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """33 MediaPipe-style landmarks as sparse vertex combinations: (33, K) vertex indices and weights.
        21 come from anny's COCO-WholeBody regressor; the hand points and the eye corners / mouth corners are
        the vertices nearest to anatomically placed points on the default rest mesh."""
        K = 16
        idx = np.zeros((33, K), np.int64)
        w = np.zeros((33, K), np.float32)
        coco = {n: i for i, n in enumerate(self._coco_labels)}

        def from_coco(mp_i: int, name: str) -> None:
            ci = coco[name]
            order = np.argsort(-np.abs(self._coco_w[ci]))[:K]
            ww = self._coco_w[ci, order]
            idx[mp_i], w[mp_i] = self._coco_idx[ci, order], ww / ww.sum()

        for mp_name, coco_name in [
            ("nose", "nose"),
            ("left_eye", "left_eye"),
            ("right_eye", "right_eye"),
            ("left_ear", "left_ear"),
            ("right_ear", "right_ear"),
            ("left_shoulder", "left_shoulder"),
            ("right_shoulder", "right_shoulder"),
            ("left_elbow", "left_elbow"),
            ("right_elbow", "right_elbow"),
            ("left_wrist", "left_wrist"),
            ("right_wrist", "right_wrist"),
            ("left_hip", "left_hip"),
            ("right_hip", "right_hip"),
            ("left_knee", "left_knee"),
            ("right_knee", "right_knee"),
            ("left_ankle", "left_ankle"),
            ("right_ankle", "right_ankle"),
            ("left_heel", "left_heel"),
            ("right_heel", "right_heel"),
            ("left_foot_index", "left_big_toe"),
            ("right_foot_index", "right_big_toe"),
        ]:
            from_coco(LM[mp_name], coco_name)
        # the rest: nearest vertices to points built from the default rest mesh
        rb = self.rest_batch([{}])[0]
        v = rb.vertices
        lmk = np.einsum("lk,lkc->lc", w, v[idx])
        heads = rb.bone_heads
        bi = self.bone_index
        targets: dict[int, np.ndarray] = {}
        for side, s in (("left", "L"), ("right", "R")):
            targets[LM[f"{side}_pinky"]] = heads[bi[f"finger5-2.{s}"]]
            targets[LM[f"{side}_index"]] = heads[bi[f"finger2-2.{s}"]]
            targets[LM[f"{side}_thumb"]] = heads[bi[f"finger1-3.{s}"]]
            eye, nose = lmk[LM[f"{side}_eye"]], lmk[LM["nose"]]
            sign = 1.0 if side == "left" else -1.0
            targets[LM[f"{side}_eye_inner"]] = eye - np.array([sign * 0.012, 0, 0], np.float32)
            targets[LM[f"{side}_eye_outer"]] = eye + np.array([sign * 0.012, 0, 0], np.float32)
            targets[LM[f"mouth_{side}"]] = nose + np.array([sign * 0.022, -0.045, -0.005], np.float32)
        for li, p in targets.items():
            d = np.linalg.norm(v - p, axis=1)
            near = np.argsort(d)[:4]
            idx[li], w[li] = 0, 0
            idx[li, :4], w[li, :4] = near, 0.25
        return idx, w

    def landmarks_of_subset(self, vertices: np.ndarray) -> np.ndarray:
        """(33, 3) landmarks from the `landmark_vertex_ids` vertices only (as skinned with `vertex_ids`)."""
        return np.einsum("lk,lkc->lc", self._landmark_matrix[1], vertices[self._landmark_sub_idx]).astype(np.float32)

    def landmarks(self, vertices: np.ndarray) -> np.ndarray:
        """(33, 3) MediaPipe-style landmarks of a mesh (any frame: they are vertex combinations)."""
        idx, w = self._landmark_matrix
        return np.einsum("lk,lkc->lc", w, vertices[idx]).astype(np.float32)


_MODEL: BodyModel | None = None
_MODEL_LOCK = threading.Lock()


def get_body_model() -> BodyModel:
    """The process-wide body model (created on first use: about 0.5-2 s with the cache in place)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = BodyModel()
        return _MODEL


# --- measurements ------------------------------------------------------------------------------------------


def _hull_perimeter(points2d: np.ndarray) -> float:
    if len(points2d) < 3:
        return 0.0
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points2d)
    p = points2d[hull.vertices]
    return float(np.linalg.norm(p - np.roll(p, 1, axis=0), axis=1).sum())


def slice_points(vertices: np.ndarray, faces: np.ndarray, y: float, keep_vertex: np.ndarray | None = None):
    """Points where the mesh's edges cross the horizontal plane at height y, as (M, 2) (x, z) coordinates.
    `keep_vertex` (N,) bool drops edges with an excluded endpoint (e.g. the arms for torso girths)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    if keep_vertex is not None:
        e = e[keep_vertex[e[:, 0]] & keep_vertex[e[:, 1]]]
    ya, yb = vertices[e[:, 0], 1], vertices[e[:, 1], 1]
    cross = (ya - y) * (yb - y) < 0
    e, ya, yb = e[cross], ya[cross], yb[cross]
    t = ((y - ya) / (yb - ya))[:, None]
    p = vertices[e[:, 0]] * (1 - t) + vertices[e[:, 1]] * t
    return p[:, [0, 2]]


def mesh_volume_l(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0 * 1000.0)


BODY_DENSITY_KG_L = 1.01


def measure_mesh(rest: RestBody, model: BodyModel | None = None) -> Measurements:
    """Tape-measure a rest mesh (body frame) the way ANSUR II does:
    - height: top of head to the floor (lowest vertex);
    - chest / waist / hips: convex-hull perimeter of the torso cross-section (arms removed) at the ANSUR mean
      heights of chest (nipple), waist (omphalion) and buttock points, as fractions of stature; the hull
      models the tape bridging concave spots;
    - inseam: crotch height, the lowest midline torso point;
    - shoulder width: biacromial breadth, between the shoulder-joint heads widened to the acromion;
    - arm length: shoulder joint -> elbow -> wrist along the bones."""
    m = model or get_body_model()
    v = rest.vertices
    floor = float(v[:, 1].min())
    height = float(v[:, 1].max()) - floor
    torso = ~m.vertex_is_arm

    def girth(frac: float) -> float:
        pts = slice_points(v, m.faces, floor + frac * height, torso)
        # keep the connected torso: drop stray points far from the midline (hands hanging at hip level)
        pts = pts[np.abs(pts[:, 0]) < 0.30]
        return _hull_perimeter(pts) * 100.0

    chest = girth(CHEST_HEIGHT_FRAC)
    waist = girth(WAIST_HEIGHT_FRAC)
    hips = girth(HIPS_HEIGHT_FRAC)
    bi = m.bone_index
    h = rest.bone_heads
    # crotch: lowest midline vertex above the knees
    knee_y = h[bi["lowerleg01.L"], 1]
    mid = (np.abs(v[:, 0]) < 0.012) & (v[:, 1] > knee_y) & (v[:, 1] < h[0, 1])
    inseam = (float(v[mid, 1].min()) - floor) * 100.0 if mid.any() else 0.45 * height * 100
    sl, sr = h[bi["upperarm01.L"]], h[bi["upperarm01.R"]]
    shoulder = (float(np.linalg.norm(sl - sr)) + 2 * ACROMION_OFFSET_M) * 100.0
    arm = 0.0
    for s in ("L", "R"):
        a, b, c = h[bi[f"upperarm01.{s}"]], h[bi[f"lowerarm01.{s}"]], h[bi[f"wrist.{s}"]]
        arm += float(np.linalg.norm(b - a) + np.linalg.norm(c - b)) * 50.0
    weight = mesh_volume_l(v, m.faces) * BODY_DENSITY_KG_L
    return Measurements(
        height_cm=height * 100.0,
        chest_cm=chest,
        waist_cm=waist,
        hips_cm=hips,
        inseam_cm=inseam,
        shoulder_width_cm=shoulder,
        arm_length_cm=arm,
        weight_kg=weight,
    )


ACROMION_OFFSET_M = 0.025  # shoulder-joint centre to the acromion's lateral tip
