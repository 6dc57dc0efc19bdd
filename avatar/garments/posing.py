"""Per-frame garment posing as three Warp kernels (compiled C++ on CPU, CUDA when the outfit's device is CUDA).

The numpy version spent most of its ~7 ms (t-shirt + jeans) in per-call overhead: dozens of small array ops per
body part, six Warp arrays allocated per crease query. Here every step runs over the whole outfit in one launch
on preallocated arrays:

1. `bind`: each vertex from its body triangle's posed frame (barycentric + offset along edge, bitangent, normal).
2. `proxy_push`: per vertex, its few candidate body-part proxies (CSR list, precomputed at dress time from
   `PartProxies.rest_clearance`) in part order: the same radial-table push-out as `PartProxies.push_out`; flags
   vertices left within `NEAR_M` of another part and keeps that part's radial direction.
3. `crease`: for the flagged vertices only, after a BVH refit of the posed body: exact push-out to just outside
   the nearest surface, then, where the skinned body overlaps itself (the lowered arm's skin inside the torso),
   the winding-number test still says inside: such a vertex walks out of the overlap along its own triangle's
   normal plus the other part's radial direction (toward the seam where arm and torso meet) in 1 cm steps.
"""

from __future__ import annotations

import functools

import numpy as np

from .anatomy import PARTS
from .collide import _warp
from .proxies import N_THETA, NEAR_M, T_STEP_M, PartProxies

MAX_RAY_HITS = 16  # crossings followed along one ray (a horizontal ray meets the torso and arms: 2-8)
LENS_MAX_M = 0.1  # a vertex walks at most this far out of a self-overlap of the skinned body (armpit crease)
CREASE_PARTS = ("torso", "neck", "uarm", "larm", "uleg", "lleg")  # body parts in the crease BVH


@functools.cache
def _kernels():
    wp = _warp()

    @wp.kernel
    def bind(
        pv: wp.array(dtype=wp.vec3),
        tri: wp.array(dtype=wp.vec3i),
        bary: wp.array(dtype=wp.vec3),
        local: wp.array(dtype=wp.vec3),
        min_n: wp.array(dtype=float),
        out: wp.array(dtype=wp.vec3),
        out_n: wp.array(dtype=wp.vec3),
    ):
        i = wp.tid()
        t = tri[i]
        p0 = pv[t[0]]
        p1 = pv[t[1]]
        p2 = pv[t[2]]
        e1 = p1 - p0
        n = wp.cross(e1, p2 - p0)
        n = n / wp.max(wp.length(n), 1.0e-12)
        e1 = e1 / wp.max(wp.length(e1), 1.0e-12)
        e2 = wp.cross(n, e1)
        b = bary[i]
        lo = local[i]
        base = p0 * b[0] + p1 * b[1] + p2 * b[2]
        out[i] = base + e1 * lo[0] + e2 * lo[1] + n * wp.max(lo[2], min_n[i])
        out_n[i] = n

    @wp.kernel
    def kabsch(
        pv: wp.array(dtype=wp.vec3),
        samples: wp.array2d(dtype=wp.int32),
        rest_c: wp.array2d(dtype=wp.vec3),
        rot: wp.array(dtype=wp.mat33),
        cen: wp.array(dtype=wp.vec3),
    ):
        """Rigid motion of part k from its posed samples: posed ≈ rot (rest - c0) + cen."""
        k = wp.tid()
        ns = samples.shape[1]
        c = wp.vec3(0.0, 0.0, 0.0)
        for s in range(ns):
            c = c + pv[samples[k, s]]
        c = c / float(ns)
        h = wp.mat33(0.0)
        for s in range(ns):
            h = h + wp.outer(rest_c[k, s], pv[samples[k, s]] - c)
        u = wp.mat33()
        sig = wp.vec3()
        v = wp.mat33()
        wp.svd3(h, u, sig, v)
        r = v * wp.transpose(u)
        if wp.determinant(r) < 0.0:
            # flip the axis of the smallest singular value
            j = int(2)  # noqa: UP018, RUF046
            if sig[0] <= sig[1] and sig[0] <= sig[2]:
                j = 0
            elif sig[1] <= sig[2]:
                j = 1
            f = wp.vec3(1.0, 1.0, 1.0)
            f[j] = -1.0
            r = v * wp.diag(f) * wp.transpose(u)
        rot[k] = r
        cen[k] = c

    @wp.func
    def table_r(
        p: wp.vec3,
        k: int,
        rot: wp.array(dtype=wp.mat33),
        cen: wp.array(dtype=wp.vec3),
        shift: wp.array(dtype=wp.vec3),
        axis: wp.array(dtype=wp.vec3),
        ref_u: wp.array(dtype=wp.vec3),
        ref_w: wp.array(dtype=wp.vec3),
        t0: wp.array(dtype=float),
        nt: wp.array(dtype=wp.int32),
        toff: wp.array(dtype=wp.int32),
        table: wp.array(dtype=float),
        t_step: float,
        n_theta: int,
    ):
        """(r, R, radial unit in the rest frame): R < 0 outside the part's length."""
        xr = wp.transpose(rot[k]) * (p - cen[k]) + shift[k]
        a = axis[k]
        t = wp.dot(xr, a)
        radial = xr - a * t
        r = wp.length(radial)
        ti = int(wp.floor((t - t0[k]) / t_step))
        rr = float(-1.0)  # noqa: UP018
        if ti >= 0 and ti < nt[k]:
            th = wp.atan2(wp.dot(radial, ref_w[k]), wp.dot(radial, ref_u[k]))
            qi = int((th + wp.pi) * (float(n_theta) / (2.0 * wp.pi))) % n_theta
            rr = table[toff[k] + ti * n_theta + qi]
        return wp.vec3(r, rr, 0.0), radial / wp.max(r, 1.0e-6)

    @wp.kernel
    def proxy_push(
        x: wp.array(dtype=wp.vec3),
        offs: wp.array(dtype=wp.int32),
        pair_part: wp.array(dtype=wp.int32),
        pair_margin: wp.array(dtype=float),
        rot: wp.array(dtype=wp.mat33),
        cen: wp.array(dtype=wp.vec3),
        shift: wp.array(dtype=wp.vec3),
        axis: wp.array(dtype=wp.vec3),
        ref_u: wp.array(dtype=wp.vec3),
        ref_w: wp.array(dtype=wp.vec3),
        t0: wp.array(dtype=float),
        nt: wp.array(dtype=wp.int32),
        toff: wp.array(dtype=wp.int32),
        reach2: wp.array(dtype=float),
        r_max: wp.array(dtype=float),
        table: wp.array(dtype=float),
        t_step: float,
        n_theta: int,
        near_m: float,
        near: wp.array(dtype=wp.int32),
    ):
        i = wp.tid()
        p = x[i]
        best = float(1.0e9)  # noqa: UP018 (a mutable Warp variable)
        bk = int(-1)  # noqa: UP018, RUF046
        for j in range(offs[i], offs[i + 1]):
            k = pair_part[j]
            dc = p - cen[k]
            if wp.dot(dc, dc) >= reach2[k]:
                continue
            # table_r's lookup, inlined on purpose: skipping the atan2 and the table read for vertices outside the
            # part's length or radius keeps this kernel at ~0.4 ms (calling table_r measured 0.67-0.79 ms, quick bench)
            rk = rot[k]
            xr = wp.transpose(rk) * dc + shift[k]  # rest frame of the part
            a = axis[k]
            t = wp.dot(xr, a)
            radial = xr - a * t
            r = wp.length(radial)
            ti = int(wp.floor((t - t0[k]) / t_step))
            if ti < 0 or ti >= nt[k] or r >= r_max[k]:
                continue
            th = wp.atan2(wp.dot(radial, ref_w[k]), wp.dot(radial, ref_u[k]))
            qi = int((th + wp.pi) * (float(n_theta) / (2.0 * wp.pi))) % n_theta
            rr = table[toff[k] + ti * n_theta + qi]
            target = rr + pair_margin[j]
            if r < target - 1.0e-4:
                p = p + rk * (radial * ((target - r) / wp.max(r, 1.0e-6)))
                r = target
            if r - rr < near_m and r - rr < best:
                best = r - rr
                bk = k
        x[i] = p
        near[i] = bk

    @wp.kernel
    def crease(
        mesh: wp.uint64,
        x: wp.array(dtype=wp.vec3),
        ids: wp.array(dtype=wp.int32),
        near: wp.array(dtype=wp.int32),
        gap: wp.array(dtype=float),
        own_n: wp.array(dtype=wp.vec3),
        rot: wp.array(dtype=wp.mat33),
        cen: wp.array(dtype=wp.vec3),
        shift: wp.array(dtype=wp.vec3),
        axis: wp.array(dtype=wp.vec3),
        ref_u: wp.array(dtype=wp.vec3),
        ref_w: wp.array(dtype=wp.vec3),
        t0: wp.array(dtype=float),
        nt: wp.array(dtype=wp.int32),
        toff: wp.array(dtype=wp.int32),
        table: wp.array(dtype=float),
        t_step: float,
        n_theta: int,
        lens_max: float,
        max_hits: int,
    ):
        i = ids[wp.tid()]
        p = x[i]
        g = gap[i]
        q = wp.mesh_query_point_sign_normal(mesh, p, 0.05)
        if q.result:
            cp = wp.mesh_eval_position(mesh, q.face, q.u, q.v)
            n = wp.mesh_eval_face_normal(mesh, q.face)
            if q.sign < 0.0 or wp.dot(p - cp, n) < g * 0.5:
                p = cp + n * g
        k = near[i]
        _rr, unit = table_r(p, k, rot, cen, shift, axis, ref_u, ref_w, t0, nt, toff, table, t_step, n_theta)
        d = own_n[i] + rot[k] * unit  # out of the overlap: toward the seam of the two parts
        ln = wp.length(d)
        if ln > 1.0e-6:
            d = d / ln
            # Signed crossings of the ray p + s d: the winding number at p (exits minus entries), > 0 inside.
            w = int(0)  # noqa: UP018, RUF046
            o = p
            for _h in range(max_hits):
                h = wp.mesh_query_ray(mesh, o, d, 2.0)
                if not h.result:
                    break
                if wp.dot(h.normal, d) > 0.0:
                    w += 1
                else:
                    w -= 1
                o = o + d * (h.t + 1.0e-5)
            if w > 0:
                # Walk the same ray to where the count returns to zero: the first point outside the body.
                o = p
                s = float(0.0)  # noqa: UP018
                for _h2 in range(max_hits):
                    h = wp.mesh_query_ray(mesh, o, d, 2.0)
                    if not h.result:
                        break
                    s += h.t
                    if wp.dot(h.normal, d) > 0.0:
                        w -= 1
                    else:
                        w += 1
                    o = o + d * (h.t + 1.0e-5)
                    if w == 0:
                        if s < lens_max:
                            p = p + d * (s + g)
                        break
        x[i] = p

    return bind, kabsch, proxy_push, crease


class OutfitPoser:
    """Preallocated per-outfit state for the three kernels; `pose` returns one (N,3) float32 array per garment."""

    def __init__(
        self,
        body_faces: np.ndarray,
        n_body: int,
        bindings: list,
        proxies: PartProxies | None,
        device: str,
        crease_push_m: float,
        crease_parts: np.ndarray | None = None,
    ) -> None:
        wp = _warp()
        self.wp = wp
        self.device = "cuda:0" if device.startswith("cuda") else "cpu"
        dev = self.device
        self.sizes = [len(b.face) for b in bindings]
        self.starts = np.cumsum([0, *self.sizes])
        n = int(self.starts[-1])
        self.n = n
        face = np.concatenate([b.face for b in bindings])
        self.tri = wp.array(np.asarray(body_faces, np.int32)[face], dtype=wp.vec3i, device=dev)
        self.bary = wp.array(np.concatenate([b.bary for b in bindings]).astype(np.float32), dtype=wp.vec3, device=dev)
        self.local = wp.array(np.concatenate([b.local for b in bindings]).astype(np.float32), dtype=wp.vec3, device=dev)
        min_n = np.concatenate([np.full(len(b.face), b.min_normal_m, np.float32) for b in bindings])
        self.min_n = wp.array(min_n, dtype=float, device=dev)
        self.gap = wp.array(np.minimum(min_n * 2, crease_push_m).astype(np.float32), dtype=float, device=dev)
        self.pv = wp.zeros(n_body, dtype=wp.vec3, device=dev)
        self.x = wp.zeros(n, dtype=wp.vec3, device=dev)
        self.own_n = wp.zeros(n, dtype=wp.vec3, device=dev)
        self.near = wp.zeros(n, dtype=wp.int32, device=dev)
        self.ids = wp.zeros(n, dtype=wp.int32, device=dev)  # the crease kernel's vertex ids (first `dim`)
        self.mesh = None
        self._bind_cmd = self._proxy_cmds = self._crease_cmd = None  # recorded launches (less per-call overhead)
        self.body_faces = np.asarray(body_faces, np.int32)
        if crease_parts is not None:  # a smaller BVH: the head, hands and feet are 70% of anny's faces
            keep = np.isin(crease_parts, [PARTS.index(p) for p in CREASE_PARTS])[self.body_faces].all(1)
            self.body_faces = self.body_faces[keep]
        self.proxies = proxies
        if proxies is not None and all(b.proxy_cands is not None for b in bindings):
            self._proxy_tables(bindings, proxies)
        else:
            self.proxies = None

    def _proxy_tables(self, bindings: list, px: PartProxies) -> None:
        wp, dev = self.wp, self.device
        vid, part, margin = [], [], []
        for k in range(len(px.parts)):
            for s, b in zip(self.starts, bindings, strict=False):
                i, c = b.proxy_cands[k]
                vid.append(i + s)
                part.append(np.full(len(i), k, np.int32))
                margin.append(np.minimum(c, b.min_normal_m).astype(np.float32))
        vid, part, margin = np.concatenate(vid), np.concatenate(part), np.concatenate(margin)
        order = np.lexsort((part, vid))  # per vertex, parts in increasing order (as PartProxies.push_out)
        vid, part, margin = vid[order], part[order], margin[order]
        offs = np.zeros(self.n + 1, np.int32)
        np.add.at(offs, vid + 1, 1)
        self.offs = wp.array(np.cumsum(offs).astype(np.int32), dtype=wp.int32, device=dev)
        self.pair_part = wp.array(part, dtype=wp.int32, device=dev)
        self.pair_margin = wp.array(margin, dtype=float, device=dev)
        ps = px.parts
        f32 = np.float32

        def vec(vals):
            return wp.array(np.asarray(vals, f32), dtype=wp.vec3, device=dev)

        def arr(vals, dt=float):
            return wp.array(np.asarray(vals, np.int32 if dt is wp.int32 else f32), dtype=dt, device=dev)

        self.shift = vec([p.c0 - p.origin for p in ps])
        self.axis = vec([p.axis for p in ps])
        self.ref_u = vec([p.u for p in ps])
        self.ref_w = vec([p.w for p in ps])
        self.t0 = arr([p.t0 for p in ps])
        self.nt = arr([len(p.table) for p in ps], wp.int32)
        self.toff = arr(np.cumsum([0] + [p.table.size for p in ps[:-1]]), wp.int32)
        self.reach2 = arr([p.reach_m**2 for p in ps])
        self.r_max = arr([p.r_max_m for p in ps])
        self.table = arr(np.concatenate([p.table.reshape(-1) for p in ps]))
        self.tabs = [self.shift, self.axis, self.ref_u, self.ref_w, self.t0, self.nt, self.toff]
        self.rot = wp.zeros(len(ps), dtype=wp.mat33, device=dev)
        self.cen = wp.zeros(len(ps), dtype=wp.vec3, device=dev)
        self.samples = wp.array(px._samples.astype(np.int32), dtype=wp.int32, device=dev)
        self.rest_c = wp.array(px._rest_c.astype(np.float32), dtype=wp.vec3, device=dev)

    def bind(self, pv: np.ndarray) -> np.ndarray:
        """Binding only; returns the concatenated vertices (a view of the device array on CPU)."""
        self.pv.assign(pv)
        if self._bind_cmd is None:
            self._bind_cmd = self.wp.launch(
                _kernels()[0],
                self.n,
                [self.pv, self.tri, self.bary, self.local, self.min_n],
                [self.x, self.own_n],
                device=self.device,
                record_cmd=True,
            )
        self._bind_cmd.launch()
        return self.x.numpy()

    def correct(self, x: np.ndarray | None, crease: bool) -> np.ndarray:
        """Proxy push-out of the vertices from the last `bind` and, with `crease`, the exact crease check. `x`:
        the vertices if changed on the host since `bind` (the swing; None = unchanged). Returns the vertices."""
        wp = self.wp
        if x is not None and self.device != "cpu":
            self.x.assign(x)
        if self.proxies is None:
            return self.x.numpy()
        if self._proxy_cmds is None:
            _, kabsch, proxy_push, _ = _kernels()
            self._proxy_cmds = [
                wp.launch(
                    kabsch,
                    len(self.proxies.parts),
                    [self.pv, self.samples, self.rest_c],
                    [self.rot, self.cen],
                    device=self.device,
                    record_cmd=True,
                ),
                wp.launch(
                    proxy_push,
                    self.n,
                    [
                        self.x,
                        self.offs,
                        self.pair_part,
                        self.pair_margin,
                        self.rot,
                        self.cen,
                        *self.tabs,
                        self.reach2,
                        self.r_max,
                        self.table,
                        T_STEP_M,
                        N_THETA,
                        NEAR_M,
                    ],
                    [self.near],
                    device=self.device,
                    record_cmd=True,
                ),
            ]
        for cmd in self._proxy_cmds:
            cmd.launch()
        if crease:
            ids = np.flatnonzero(self.near.numpy() >= 0)
            if len(ids):
                if self.mesh is None:
                    self.mesh = wp.Mesh(
                        points=self.pv,
                        indices=wp.array(self.body_faces.reshape(-1), dtype=wp.int32, device=self.device),
                    )
                    self._crease_cmd = wp.launch(
                        _kernels()[3],
                        self.n,
                        [
                            self.mesh.id,
                            self.x,
                            self.ids,
                            self.near,
                            self.gap,
                            self.own_n,
                            self.rot,
                            self.cen,
                            *self.tabs,
                            self.table,
                            T_STEP_M,
                            N_THETA,
                            LENS_MAX_M,
                            MAX_RAY_HITS,
                        ],
                        device=self.device,
                        record_cmd=True,
                    )
                else:
                    self.mesh.refit()
                if self.device == "cpu":
                    self.ids.numpy()[: len(ids)] = ids
                else:
                    self.ids.assign(np.pad(ids, (0, self.n - len(ids))).astype(np.int32))
                self._crease_cmd.set_dim(len(ids))
                self._crease_cmd.launch()
        return self.x.numpy()
