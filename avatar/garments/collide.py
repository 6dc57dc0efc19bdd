"""Closest-point queries against the body surface through Warp's BVH mesh queries (CPU here, CUDA when the torch
device is CUDA). Used for the drape's push-out, the penetration measure and binding garments to body triangles."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@functools.cache
def _warp():
    import warp as wp

    wp.config.quiet = True
    wp.init()
    return wp


@functools.cache
def _kernels():
    wp = _warp()

    @wp.func
    def _store(
        mesh: wp.uint64,
        ok: bool,
        face: int,
        u: float,
        v: float,
        sign: float,
        tid: int,
        out_cp: wp.array(dtype=wp.vec3),
        out_n: wp.array(dtype=wp.vec3),
        out_sign: wp.array(dtype=float),
        out_face: wp.array(dtype=wp.int32),
        out_uv: wp.array(dtype=wp.vec2),
    ):
        if ok:
            out_cp[tid] = wp.mesh_eval_position(mesh, face, u, v)
            out_n[tid] = wp.mesh_eval_face_normal(mesh, face)
            out_sign[tid] = sign
            out_face[tid] = face
            out_uv[tid] = wp.vec2(u, v)
        else:
            out_sign[tid] = 2.0
            out_face[tid] = -1

    @wp.kernel
    def closest(
        mesh: wp.uint64,
        pts: wp.array(dtype=wp.vec3),
        max_dist: float,
        winding: int,
        out_cp: wp.array(dtype=wp.vec3),
        out_n: wp.array(dtype=wp.vec3),
        out_sign: wp.array(dtype=float),
        out_face: wp.array(dtype=wp.int32),
        out_uv: wp.array(dtype=wp.vec2),
    ):
        tid = wp.tid()
        p = pts[tid]
        if winding == 1:
            q = wp.mesh_query_point_sign_winding_number(mesh, p, max_dist)
            _store(mesh, q.result, q.face, q.u, q.v, q.sign, tid, out_cp, out_n, out_sign, out_face, out_uv)
        else:
            q2 = wp.mesh_query_point_sign_normal(mesh, p, max_dist)
            _store(mesh, q2.result, q2.face, q2.u, q2.v, q2.sign, tid, out_cp, out_n, out_sign, out_face, out_uv)

    return closest


@dataclass
class Closest:
    point: np.ndarray  # (N,3) closest point on the surface
    normal: np.ndarray  # (N,3) face normal there (outward for an outward-wound mesh)
    inside: np.ndarray  # (N,) bool
    face: np.ndarray  # (N,) int, -1 when nothing within max_dist
    bary: np.ndarray  # (N,3) barycentrics of `point` on `face`


class BodyCollider:
    """A static triangle mesh (the body, or one region of it) with BVH closest-point queries."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, *, device: str = "cpu", winding: bool = True) -> None:
        wp = _warp()
        self.device = "cuda:0" if device.startswith("cuda") else "cpu"
        self.faces = np.asarray(faces, np.int32)
        self._pts = wp.array(np.asarray(vertices, np.float32), dtype=wp.vec3, device=self.device)
        self.mesh = wp.Mesh(
            points=self._pts,
            indices=wp.array(self.faces.reshape(-1), dtype=wp.int32, device=self.device),
            support_winding_number=winding,
        )
        self.winding = winding

    def update(self, vertices: np.ndarray) -> None:
        """Move the body (same topology), refitting the BVH."""
        self._pts.assign(np.asarray(vertices, np.float32))
        self.mesh.refit()

    def query(self, points: np.ndarray, max_dist: float = 1.0, *, winding: bool | None = None) -> Closest:
        wp = _warp()
        n = len(points)
        pts = wp.array(np.asarray(points, np.float32), dtype=wp.vec3, device=self.device)
        cp = wp.zeros(n, dtype=wp.vec3, device=self.device)
        nn = wp.zeros(n, dtype=wp.vec3, device=self.device)
        sg = wp.zeros(n, dtype=float, device=self.device)
        fc = wp.zeros(n, dtype=wp.int32, device=self.device)
        uv = wp.zeros(n, dtype=wp.vec2, device=self.device)
        use_w = self.winding if winding is None else (winding and self.winding)
        wp.launch(
            _kernels(),
            dim=n,
            inputs=[self.mesh.id, pts, float(max_dist), int(use_w)],
            outputs=[cp, nn, sg, fc, uv],
            device=self.device,
        )
        uvn = uv.numpy()
        bary = np.stack([uvn[:, 0], uvn[:, 1], 1.0 - uvn[:, 0] - uvn[:, 1]], 1)
        return Closest(cp.numpy(), nn.numpy(), sg.numpy() < 0, fc.numpy(), bary.astype(np.float32))

    def inside_fraction(self, points: np.ndarray) -> float:
        """Share of points inside the body (winding-number sign: robust for the anny mesh's open cavities)."""
        if len(points) == 0:
            return 0.0
        return float(self.query(points, 10.0, winding=True).inside.mean())
