"""Body analysis for garment cutting: part labels (from anny's skinning weights), landmark heights, girths.

Coordinates follow the project convention: metres, y up, the body faces +z. `anny_body()` converts anny's
native z-up / front -y output and is used by tests and the benchmark until `avatar/body.py` provides bodies.
Girths are tape-measure girths: the convex-hull perimeter of a 2 cm horizontal slab of the torso (or one thigh).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import numpy as np

from fitmirror.errors import InputError

ANNY_VERTEX_COUNT = 13718
PARTS = ("torso", "neck", "head", "uarm", "larm", "hand", "uleg", "lleg", "foot")


def _bone_part(label: str) -> str:
    base = label.split(".")[0]
    if base in ("root", "pelvis") or base.startswith("spine") or base in ("clavicle", "shoulder01"):
        return "torso"
    if base.startswith("neck"):
        return "neck"
    if base in ("head", "eye") or base.startswith("jaw") or base.startswith("tongue"):
        return "head"
    if base.startswith("upperarm"):
        return "uarm"
    if base.startswith("lowerarm"):
        return "larm"
    if base in ("wrist",) or base.startswith("finger") or base.startswith("metacarpal"):
        return "hand"
    if base.startswith("upperleg"):
        return "uleg"
    if base.startswith("lowerleg"):
        return "lleg"
    if base in ("foot",) or base.startswith("toe"):
        return "foot"
    return "head"


@functools.cache
def anny_model():
    """The anny model (float32), built once per process; uses the project's anny cache."""
    os.environ.setdefault("ANNY_CACHE_DIR", str(_anny_cache()))
    import anny
    import torch

    return anny.Anny().to(dtype=torch.float32)


def _anny_cache():
    from fitmirror.config import get_settings

    return get_settings().anny_cache_dir


@functools.cache
def anny_skin() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(vertex_bone_indices (N,K) int, vertex_bone_weights (N,K) float32, bone labels) of the anny topology."""
    m = anny_model()
    return (
        m.vertex_bone_indices.cpu().numpy().astype(np.int64),
        m.vertex_bone_weights.cpu().numpy().astype(np.float32),
        list(m.bone_labels),
    )


@functools.cache
def anny_parts() -> np.ndarray:
    """Per-vertex part id (index into PARTS) from the dominant skinning bone, with left/right sign in x."""
    idx, w, labels = anny_skin()
    dom = idx[np.arange(len(idx)), w.argmax(1)]
    table = np.array([PARTS.index(_bone_part(lb)) for lb in labels])
    return table[dom]


def anny_to_yup(v: np.ndarray) -> np.ndarray:
    """anny (z up, front -y) -> project convention (y up, front +z): (x, y, z) -> (x, z, -y)."""
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], -1)


@functools.cache
def anny_faces() -> np.ndarray:
    return anny_model().faces.cpu().numpy().astype(np.int32)


def anny_body(**phenotype: float) -> tuple[np.ndarray, np.ndarray]:
    """Rest-pose body (vertices (N,3) float32 y-up metres, feet at y=0, faces (F,3) int32) for phenotype kwargs
    gender/age/muscle/weight/height/proportions in [0, 1] (missing ones default to 0.5)."""
    import torch

    ph = {k: 0.5 for k in ("gender", "age", "muscle", "weight", "height", "proportions")}
    for k, v in phenotype.items():
        if k not in ph or not 0.0 <= float(v) <= 1.0:
            raise InputError(f"phenotype {k}={v} is not one of {sorted(ph)} in [0, 1]")
        ph[k] = float(v)
    with torch.no_grad():
        out = anny_model()(phenotype_kwargs=ph)
    v = anny_to_yup(out["rest_vertices"][0].cpu().numpy()).astype(np.float32)
    v[:, 1] -= v[:, 1].min()
    return v, anny_faces()


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def hull_perimeter(pts2: np.ndarray) -> float:
    """Perimeter of the 2D convex hull (a tape measure around the slab)."""
    if len(pts2) < 3:
        return 0.0
    from scipy.spatial import ConvexHull

    try:
        h = ConvexHull(pts2)
    except Exception:
        return 0.0
    p = pts2[h.vertices]
    return float(np.linalg.norm(p - np.roll(p, 1, 0), axis=1).sum())


@dataclass
class BodyAnalysis:
    """Landmarks (y in metres) and girths (cm) of a rest-pose body, plus what the cutter needs per vertex."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    parts: np.ndarray  # (N,) index into PARTS
    side: np.ndarray  # (N,) -1 right (x<0), +1 left
    crotch_y: float
    hip_y: float
    waist_y: float
    chest_y: float
    armpit_y: float
    hps_y: float  # high point shoulder (neck base at the side)
    floor_y: float
    axis_xz: np.ndarray  # torso centre (x, z) at hip height
    shoulder_joint: dict[int, np.ndarray]
    elbow: dict[int, np.ndarray]
    wrist: dict[int, np.ndarray]
    girths_cm: dict[str, float] = field(default_factory=dict)
    arm_length_cm: float = 0.0
    inseam_cm: float = 0.0
    arm_s: np.ndarray | None = None  # (N,) distance along the arm from the shoulder joint, m (arms only)

    def mask(self, *parts: str) -> np.ndarray:
        ids = [PARTS.index(p) for p in parts]
        return np.isin(self.parts, ids)

    def girth_at(
        self, y: float, parts: tuple[str, ...] = ("torso", "uleg"), side: int = 0, slab_m: float = 0.012
    ) -> float:
        m = self.mask(*parts) & (np.abs(self.vertices[:, 1] - y) < slab_m)
        if side:
            m &= self.side == side
        return hull_perimeter(self.vertices[m][:, [0, 2]]) * 100.0


def _boundary_centroid(v, f, parts, a, b) -> np.ndarray:
    ia, ib = PARTS.index(a), PARTS.index(b)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    pa, pb = parts[e[:, 0]], parts[e[:, 1]]
    sel = ((pa == ia) & (pb == ib)) | ((pa == ib) & (pb == ia))
    if not sel.any():
        raise InputError(f"body has no {a}/{b} boundary; is it an anny-topology mesh?")
    return v[np.unique(e[sel])].mean(0)


def analyse_body(vertices: np.ndarray, faces: np.ndarray) -> BodyAnalysis:
    """Find landmarks by girth search: chest = fullest torso slab below the armpit, waist = narrowest between
    chest and hips, hips = fullest between waist and crotch."""
    v = np.asarray(vertices, np.float32)
    f = np.asarray(faces, np.int32)
    if v.ndim != 2 or v.shape != (ANNY_VERTEX_COUNT, 3):
        raise InputError(f"expected anny body vertices ({ANNY_VERTEX_COUNT}, 3), got {v.shape}")
    parts = anny_parts()
    side = np.where(v[:, 0] >= 0, 1, -1)
    n = vertex_normals(v, f)
    torso = parts == PARTS.index("torso")
    floor_y = float(v[:, 1].min())
    tv = v[torso]
    centre_x = float(np.median(tv[:, 0]))
    near_mid = torso & (np.abs(v[:, 0] - centre_x) < 0.025)
    crotch_y = float(v[near_mid, 1].min())
    neck_c = _boundary_centroid(v, f, parts, "torso", "neck")
    hps_y = float(neck_c[1])
    shoulder, elbow, wrist = {}, {}, {}
    for s in (-1, 1):
        ps = np.where(side == s, parts, -1)
        shoulder[s] = _boundary_centroid(v, f, ps, "torso", "uarm")
        elbow[s] = _boundary_centroid(v, f, ps, "uarm", "larm")
        wrist[s] = _boundary_centroid(v, f, ps, "larm", "hand")
    uarm = parts == PARTS.index("uarm")
    # Armpit: lowest upper-arm vertex close to the torso side.
    torso_half_w = np.percentile(np.abs(tv[:, 0] - centre_x), 98)
    arm_near = uarm & (np.abs(v[:, 0] - centre_x) < torso_half_w + 0.02)
    armpit_y = float(v[arm_near, 1].min()) if arm_near.any() else hps_y - 0.18
    a = BodyAnalysis(
        vertices=v,
        faces=f,
        normals=n,
        parts=parts,
        side=side,
        crotch_y=crotch_y,
        hip_y=0,
        waist_y=0,
        chest_y=0,
        armpit_y=armpit_y,
        hps_y=hps_y,
        floor_y=floor_y,
        axis_xz=np.zeros(2, np.float32),
        shoulder_joint=shoulder,
        elbow=elbow,
        wrist=wrist,
    )
    ys = np.arange(crotch_y + 0.03, armpit_y - 0.02, 0.01)
    g = np.array([a.girth_at(y) for y in ys])
    chest_band = ys > armpit_y - 0.14
    a.chest_y = float(ys[chest_band][g[chest_band].argmax()])
    hip_band = (ys > crotch_y + 0.06) & (ys < crotch_y + (a.chest_y - crotch_y) * 0.45)
    a.hip_y = float(ys[hip_band][g[hip_band].argmax()])
    waist_band = (ys > a.hip_y + 0.08) & (ys < a.chest_y - 0.08)
    a.waist_y = float(ys[waist_band][g[waist_band].argmin()]) if waist_band.any() else (a.hip_y + a.chest_y) / 2
    hip_slab = torso & (np.abs(v[:, 1] - a.hip_y) < 0.015)
    a.axis_xz = np.array([np.median(v[hip_slab, 0]), np.median(v[hip_slab, 2])], np.float32)
    thigh_y = crotch_y - 0.03
    a.girths_cm = {
        "chest": a.girth_at(a.chest_y),
        "waist": a.girth_at(a.waist_y),
        "hips": a.girth_at(a.hip_y),
        "thigh": a.girth_at(thigh_y, ("uleg", "torso"), side=1),
    }
    arm_len = {s: np.linalg.norm(elbow[s] - shoulder[s]) + np.linalg.norm(wrist[s] - elbow[s]) for s in (-1, 1)}
    a.arm_length_cm = float(np.mean(list(arm_len.values())) * 100 + 4.0)  # + shoulder point to joint centre
    a.inseam_cm = float((crotch_y - floor_y) * 100 - 3.0)  # to just above the floor (ankle bone)
    # Distance along the arm from the shoulder joint, for cutting sleeves.
    s_along = np.full(len(v), np.inf, np.float32)
    for s in (-1, 1):
        d1 = elbow[s] - shoulder[s]
        l1 = np.linalg.norm(d1)
        d2 = wrist[s] - elbow[s]
        l2 = np.linalg.norm(d2)
        m = (side == s) & np.isin(parts, [PARTS.index(p) for p in ("uarm", "larm", "hand")])
        p = v[m]
        t1 = (p - shoulder[s]) @ (d1 / l1)
        t2 = (p - elbow[s]) @ (d2 / l2)
        up = parts[m] == PARTS.index("uarm")
        s_along[m] = np.where(up, t1, l1 + t2)
    torso_s = torso & (v[:, 1] > armpit_y)
    s_along[torso_s] = 0.0
    a.arm_s = s_along
    return a
