"""Cheap per-frame collision correction for posed garments: radial body-part proxies.

Each limb segment (upper/lower arm, upper/lower leg, per side) and the torso (crotch to armpit) is a
"radial table": in the part's rest frame, around its long axis, the body surface radius R(t, θ) on a grid
(1.5 cm along the axis x 32 angles, the max radius of the part's vertices in each cell). Every frame each part's
rigid motion is a Kabsch fit of ~150 of its firmly skinned vertices (posed against rest), so the proxies follow
any body pose given only the posed vertices. A garment vertex bound to one part (say the torso) that has moved
inside another part's table (the lowered arm) is pushed out radially to `R + margin`, where the margin is the
smaller of its layer's half gap and its clearance at rest; a vertex that already sat inside a table at rest (the
tables are approximate at joints) is never pushed by it, so the rest pose is left exactly as draped.

The per-frame work (a 3x3 SVD per part, a table lookup per (garment vertex, nearby part) pair, no BVH) runs in
Warp kernels in posing.py; `transforms` is the numpy reference of its rigid fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import PARTS, BodyAnalysis, anny_skin

N_THETA = 32
T_STEP_M = 0.015
RIGID_SAMPLES = 150
NEAR_M = 0.02  # closer than this to another part: worth an exact check
TORSO_TOP_M = 0.0  # the torso table reaches this far above the armpit (into the armpit crease)


@dataclass
class _Part:
    name: str
    sample: np.ndarray  # (S,) body vertex ids for the rigid fit
    rest_sample_c: np.ndarray  # (S,3) rest positions minus the centroid
    c0: np.ndarray  # (3,) rest centroid of the sample
    origin: np.ndarray  # (3,) a point on the axis (rest)
    axis: np.ndarray  # (3,) unit, rest
    u: np.ndarray  # (3,) unit, perpendicular reference (θ = 0)
    w: np.ndarray  # (3,) axis x u
    t0: float
    table: np.ndarray  # (NT, N_THETA) surface radius, m
    reach_m: float  # bounding radius around c0 (for a cheap pre-filter)
    r_max_m: float  # largest table radius + 3 cm (second pre-filter, before the angle lookup)


def _groups(a: BodyAnalysis) -> list[tuple[str, np.ndarray]]:
    P = {p: a.parts == PARTS.index(p) for p in PARTS}
    out = [("torso", P["torso"] & (a.vertices[:, 1] > a.crotch_y) & (a.vertices[:, 1] < a.armpit_y + TORSO_TOP_M))]
    for s, tag in ((1, "L"), (-1, "R")):
        for p in ("uarm", "larm", "uleg", "lleg"):
            out.append((f"{p}.{tag}", P[p] & (a.side == s)))
    return out


def _fill(table: np.ndarray) -> np.ndarray:
    """Empty cells (no vertex fell in them) take the mean of their filled neighbours, repeatedly."""
    t = table.copy()
    for _ in range(64):
        empty = ~np.isfinite(t)
        if not empty.any():
            break
        padded = np.pad(t, ((1, 1), (0, 0)), mode="edge")
        nb = np.stack(
            [np.roll(t, 1, 1), np.roll(t, -1, 1), padded[:-2], padded[2:]],
            0,
        )
        ok = np.isfinite(nb)
        s = np.where(ok, nb, 0).sum(0)
        c = ok.sum(0)
        t = np.where(empty & (c > 0), s / np.maximum(c, 1), t)
    return np.where(np.isfinite(t), t, 0.0)


def _perp(axis: np.ndarray, hint: np.ndarray) -> np.ndarray:
    u = hint - axis * (hint @ axis)
    if np.linalg.norm(u) < 1e-6:
        u = np.array([1.0, 0.0, 0.0]) - axis * axis[0]
    return u / np.linalg.norm(u)


class PartProxies:
    """Radial tables for the torso and the limb segments of one rest body (see the module docstring)."""

    def __init__(self, a: BodyAnalysis) -> None:
        v = a.vertices.astype(np.float64)
        _, w, _ = anny_skin()
        firm = w.max(1) > 0.9
        self.parts: list[_Part] = []
        self.vertex_group = np.full(len(v), -1, np.int64)
        for name, m in _groups(a):
            ids = np.where(m)[0]
            if len(ids) < 20:
                continue
            # Faces bind to their part even where the table leaves it out (torso above the armpit, hands, feet).
            kind = name.split(".")[0]
            extra = {"torso": "torso", "larm": "hand", "lleg": "foot"}.get(kind)
            bind = m | (
                (a.parts == PARTS.index(extra)) & ((a.side == (1 if name.endswith(".L") else -1)) | (kind == "torso"))
                if extra
                else m
            )
            self.vertex_group[bind] = len(self.parts)
            p = v[ids]
            centre = p.mean(0)
            if name == "torso":
                axis = np.array([0.0, 1.0, 0.0])
                centre = np.array([a.axis_xz[0], centre[1], a.axis_xz[1]])
                u = np.array([0.0, 0.0, 1.0])
            else:
                _, _, vt = np.linalg.svd(p - centre, full_matrices=False)
                axis = vt[0] / np.linalg.norm(vt[0])
                u = _perp(axis, np.array([0.0, 0.0, 1.0]))
            wv = np.cross(axis, u)
            d = p - centre
            t = d @ axis
            t0 = float(t.min())
            nt = int(np.ceil((t.max() - t0) / T_STEP_M)) + 1
            ti = np.clip(((t - t0) / T_STEP_M).astype(int), 0, nt - 1)
            th = np.arctan2(d @ wv, d @ u)
            qi = ((th + np.pi) / (2 * np.pi) * N_THETA).astype(int) % N_THETA
            r = np.sqrt(np.maximum((d * d).sum(1) - t * t, 0))
            table = np.full((nt, N_THETA), -np.inf)
            np.maximum.at(table, (ti, qi), r)
            table[~np.isfinite(table)] = np.nan
            table = _fill(table)
            sid = ids[firm[ids]] if firm[ids].sum() >= 10 else ids
            sid = sid[np.linspace(0, len(sid) - 1, RIGID_SAMPLES).astype(int)]  # fixed count: batched Kabsch
            c0 = v[sid].mean(0)
            self.parts.append(
                _Part(
                    name,
                    sid,
                    v[sid] - c0,
                    c0,
                    centre,
                    axis,
                    u,
                    wv,
                    t0,
                    table,
                    float(np.linalg.norm(p - c0, axis=1).max()) + 0.05,
                    float(np.nanmax(table)) + 0.03,
                )
            )
        self.hip_y = float(a.hip_y)
        self._samples = np.stack([p.sample for p in self.parts])  # (P, S)
        self._rest_c = np.stack([p.rest_sample_c for p in self.parts]).astype(np.float32)  # (P, S, 3)

    def group_of_faces(self, faces: np.ndarray, body_faces: np.ndarray) -> np.ndarray:
        """Proxy index each bound body face belongs to (-1: none, e.g. neck, hands, feet)."""
        g = self.vertex_group[body_faces[faces]]
        return np.max(g, axis=1)  # a face on a part's border counts as that part's

    def _local(self, part: _Part, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(t, radius, radial unit vector, table radius) of rest-frame points x around `part`'s axis."""
        d = x - part.origin
        t = d @ part.axis
        radial = d - t[:, None] * part.axis
        r = np.sqrt((radial * radial).sum(1))
        th = np.arctan2(radial @ part.w, radial @ part.u)
        ti = np.floor((t - part.t0) / T_STEP_M).astype(np.int64)
        inside_t = (ti >= 0) & (ti < len(part.table))
        qi = ((th + np.pi) * (N_THETA / (2 * np.pi))).astype(np.int64) % N_THETA
        R = np.where(inside_t, part.table[np.clip(ti, 0, len(part.table) - 1), qi], -1.0)
        return r, radial / np.maximum(r, 1e-9)[:, None], R, inside_t

    def rest_clearance(self, x_rest: np.ndarray, own_group: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per part: (garment vertex ids it may push, their clearance r - R at rest, capped at 1 m). Only pairs
        that can meet in a pose are kept (a lowered arm and the torso's garment, a thigh and the other leg or a
        skirt; not a leg and a shirt's chest). A vertex is never pushed by the part it is bound to, nor by one
        whose table it already sat in at rest (the tables are approximate at the joints)."""
        kinds = np.array([p.name.split(".")[0] for p in self.parts] + ["none"])
        sides = np.array([p.name.split(".")[-1] for p in self.parts] + ["-"])
        own_kind, own_side = kinds[own_group], sides[own_group]
        low = x_rest[:, 1] < self.hip_y + 0.05
        out = []
        for k, part in enumerate(self.parts):
            kind, side = kinds[k], sides[k]
            if kind == "torso":
                allow = np.isin(own_kind, ("uarm", "larm", "none"))
            elif kind == "uarm":  # the torso's garment; the forearm's sleeve at a bent elbow
                allow = np.isin(own_kind, ("torso", "none")) | ((own_kind == "larm") & (own_side == side))
            elif kind == "larm":
                allow = np.isin(own_kind, ("torso", "uleg", "none")) | ((own_kind == "uarm") & (own_side == side))
            else:  # legs: the other leg, the lower torso / skirt tube, the forearms
                other_leg = np.isin(own_kind, ("uleg", "lleg")) & (own_side != side)
                allow = other_leg | ((own_kind == "torso") & low) | np.isin(own_kind, ("larm", "none"))
            r, _, R, ok = self._local(part, x_rest.astype(np.float64))
            c = np.where(ok, r - R, 1.0)
            ids = np.where(allow & (own_group != k) & (c > 0))[0]
            out.append((ids, c[ids].astype(np.float32)))
        return out

    def transforms(self, posed: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per part (R, c): posed ≈ R @ (rest - c0) + c, by a batched Kabsch fit on the parts' rigid samples."""
        q = np.asarray(posed, np.float32)[self._samples]  # (P, S, 3)
        c = q.mean(1)
        h = np.einsum("psi,psj->pij", self._rest_c, q - c[:, None])
        u, _, vt = np.linalg.svd(h)
        v = np.swapaxes(vt, 1, 2)
        d = np.sign(np.linalg.det(v @ np.swapaxes(u, 1, 2)))
        d[d == 0] = 1.0
        v[:, :, 2] *= d[:, None]
        rot = v @ np.swapaxes(u, 1, 2)
        return [(rot[k], c[k]) for k in range(len(self.parts))]
