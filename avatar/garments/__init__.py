"""Garments: catalogue products cut to size from their size charts, draped on the avatar, with a fit map.

    outfit = dress(body_rest_vertices, body_faces, [OutfitItem(product, "M", "navy"), ...])
    outfit.meshes            # GarmentMesh list in rest pose (render/scene.py Mesh fields + fit colours, skin weights)
    outfit.fits              # FitSummary per garment: .text("en"|"zh"), .to_dict()
    outfit.pose(posed_body_vertices)  # per frame: GarmentMesh list following the posed body (~2 ms)
    compare_sizes(v, f, product, "M", "L")  # two outfits for the same body, the second shifted in x

Bodies are anny-topology meshes (13,718 vertices) in metres, y up, facing +z, rest pose.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from fitmirror.catalog import Product
from fitmirror.errors import InputError

from .anatomy import PARTS, BodyAnalysis, analyse_body, anny_parts, anny_skin
from .build import LAYER, CutGarment, LayerState, cut_garment
from .collide import BodyCollider
from .drape import DrapeStats, drape
from .fit import FitSummary, summarise, vertex_fit_colors
from .posing import OutfitPoser
from .proxies import PartProxies

__all__ = [
    "SWING_MAX_M",
    "DressedOutfit",
    "Dresser",
    "FitSummary",
    "GarmentMesh",
    "OutfitItem",
    "SizeComparison",
    "compare_sizes",
    "dress",
]


@dataclass
class OutfitItem:
    product: Product
    size: str
    color: str | None = None  # colour variant name; None = the product's first colour


@dataclass
class GarmentMesh:
    """One garment, field-compatible with render/scene.py's Mesh (name, vertices, faces, colors, uvs, texture)."""

    name: str
    vertices: np.ndarray  # (N,3) float32, metres, y up
    faces: np.ndarray  # (F,3) int32
    colors: np.ndarray  # (N,3) float32 0..1: fabric colour/pattern sampled per vertex
    uvs: np.ndarray  # (N,2) float32, texture repeats (wrap)
    texture: np.ndarray | None  # HxWx3 uint8 tileable fabric
    fit_colors: np.ndarray  # (N,3) float32: red tight .. green good .. blue loose
    product_id: str = ""
    size: str = ""
    color: str = ""
    layer: int = 0
    skin_indices: np.ndarray | None = None  # (N,K) body bone indices, copied from the nearest body vertex
    skin_weights: np.ndarray | None = None  # (N,K)
    region: np.ndarray | None = None  # (N,) int8 index into build.REGIONS (4 = sleeves)

    def body_girth_cm(self, y: float) -> float:
        """Tape measure around the garment's body part (sleeves excluded) at height y, for fit checks."""
        from .anatomy import hull_perimeter

        m = np.abs(self.vertices[:, 1] - y) < 0.012
        if self.region is not None:
            m &= self.region != 4
        return hull_perimeter(self.vertices[m][:, [0, 2]]) * 100.0

    def to_render_mesh(self, fit_map: bool = False):
        """A render.scene.Mesh: the fabric texture (it carries the colour; UVs repeat), and with `fit_map` the
        tight/good/loose colours as the overlay."""
        from render.scene import Mesh

        return Mesh(
            name=self.name,
            vertices=self.vertices,
            faces=self.faces,
            colors=None if self.texture is not None else self.colors,
            uvs=self.uvs if self.texture is not None else None,
            texture=self.texture,
            overlay=self.fit_colors if fit_map else None,
            shininess=0.1,
        )


@dataclass
class _Binding:
    """Each garment vertex sits at barycentric `bary` on body face `face`, displaced by `local` in that
    triangle's frame (edge, bitangent, normal): posing is a gather and two cross products."""

    face: np.ndarray
    bary: np.ndarray
    local: np.ndarray
    min_normal_m: float
    proxy_cands: list | None = None  # per body-part proxy: (vertex ids, rest clearance), see proxies.py
    swing_ids: np.ndarray | None = None  # loose vertices (skirt/dress/coat tube below the hips) that may swing
    swing_w: np.ndarray | None = None  # (len(swing_ids),) 0 at the hips .. 1 at the hem


CREASE_PUSH_M = 0.004  # the crease check puts vertices this far outside the nearest surface (at most their gap)
SWING_HZ = 1.4  # natural frequency of a hem swinging behind the hips
SWING_DAMPING = 0.35  # damping ratio (under-damped: one or two visible swings, then still)
SWING_MAX_M = 0.06  # the hem never trails its skinned position by more than this
SWING_RESET_M = 0.3  # a jump larger than this (person re-entered the view) restarts the motion


def _swing_weights(g: CutGarment, a: BodyAnalysis) -> tuple[np.ndarray, np.ndarray]:
    """Tube vertices below the hips swing, more toward the hem (0 at the hips, 1 at the lowest ring)."""
    ids = np.where(g.body_index < 0)[0]
    if len(ids) == 0:
        return ids, np.zeros(0, np.float32)
    y = g.vertices[ids, 1]
    span = max(float(a.hip_y - y.min()), 1e-3)
    w = np.clip((a.hip_y - y) / span, 0.0, 1.0) ** 1.5
    keep = w > 0.02
    return ids[keep], w[keep].astype(np.float32)


def _frames(v: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p0, p1, p2 = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    e1 = p1 - p0
    nrm = np.cross(e1, p2 - p0)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    e1 /= np.maximum(np.linalg.norm(e1, axis=1, keepdims=True), 1e-12)
    return e1, np.cross(nrm, e1), nrm


@dataclass
class DressedOutfit:
    meshes: list[GarmentMesh]
    fits: list[FitSummary]
    drape_stats: list[DrapeStats]
    body: BodyAnalysis
    drape_seconds: float
    _bindings: list[_Binding] = field(default_factory=list, repr=False)
    _device: str = "cpu"
    _posed_collider: BodyCollider | None = field(default=None, repr=False)
    _proxies: PartProxies | None = field(default=None, repr=False)
    _swing: list | None = field(default=None, repr=False)
    _poser: OutfitPoser | None = field(default=None, repr=False)  # per-frame kernels and buffers (posing.py)

    def fit_text(self, lang: str = "en") -> str:
        return "; ".join(f.text(lang) for f in self.fits)

    def recolored(self, fabrics: dict[str, tuple[str, np.ndarray]]) -> DressedOutfit:
        """The same drape in other colour variants (product id -> (colour name, fabric tile)): a colour never
        changes the cut, so geometry, bindings, fit and the per-frame poser are shared and no re-drape is needed
        ("in red" is visible with the next frame instead of after a drape)."""
        meshes = []
        for m in self.meshes:
            if m.product_id in fabrics:
                color, tex = fabrics[m.product_id]
                m = dataclasses.replace(m, color=color, texture=tex, colors=_vertex_colors(tex, m.uvs))
            meshes.append(m)
        return dataclasses.replace(self, meshes=meshes)

    def pose(
        self,
        posed_body_vertices: np.ndarray,
        *,
        proxies: bool = True,
        collide: bool | str = "near",
        dt_s: float | None = None,
    ) -> list[GarmentMesh]:
        """Garments following a posed body (same anny topology as the rest body; any frame, e.g. camera).

        Always: each vertex keeps at least half its layer's gap along its bound triangle's normal.
        `proxies` (default): vertices that other body parts moved into (arms lowered against the torso, a thigh
        through a skirt) are pushed out of those parts' radial proxies (proxies.py), no BVH.
        `collide`: exact BVH closest-point push-out on the posed body for `"near"` (default) the vertices the
        proxies found within 2 cm of another part (the armpit crease: a few hundred), walking those still inside
        the self-overlapping skinned body out of it (posing.py), `True` all vertices (tens of ms on CPU), `False`
        none.
        `dt_s` (seconds since the previous frame of this outfit): loose hems (skirts, dresses, coats below the
        hips) swing behind the body as damped springs (SWING_HZ, SWING_DAMPING, trailing at most SWING_MAX_M);
        None = no secondary motion (stateless).
        Typical cost for a t-shirt + jeans on one CPU core: about 2 ms (Warp kernels, docs/garments.md)."""
        if collide not in (True, False, "near"):
            raise InputError(f"collide must be True, False or 'near', not {collide!r}")
        pv = np.asarray(posed_body_vertices, np.float32)
        if pv.shape != self.body.vertices.shape:
            raise InputError(f"posed body has shape {pv.shape}, expected {self.body.vertices.shape}")
        if self._poser is None:
            self._poser = OutfitPoser(
                self.body.faces, len(pv), self._bindings, self._proxies, self._device, CREASE_PUSH_M, self.body.parts
            )
        ps = self._poser
        allv = ps.bind(pv)
        swung = False
        if dt_s is not None:
            for k, b in enumerate(self._bindings):
                if b.swing_ids is not None and len(b.swing_ids):
                    self._swing_step(k, allv[ps.starts[k] : ps.starts[k + 1]], b, float(dt_s))
                    swung = True
        if proxies:
            allv = ps.correct(allv if swung else None, crease=collide == "near")
        allv = allv.copy()  # the poser's buffers are reused next frame
        out = [
            dataclasses.replace(m, vertices=allv[ps.starts[k] : ps.starts[k + 1]]) for k, m in enumerate(self.meshes)
        ]
        if collide is True:
            self._push_out(pv, out, [np.arange(len(m.vertices)) for m in out])
        return out

    def _swing_step(self, k: int, verts: np.ndarray, b: _Binding, dt_s: float) -> None:
        """Semi-implicit Euler on a damped spring per swing vertex toward its skinned position (in place)."""
        if self._swing is None:
            self._swing = [None] * len(self.meshes)
        target = verts[b.swing_ids]
        st = self._swing[k]
        if st is None or np.abs(st[0] - target).max() > SWING_RESET_M:
            self._swing[k] = [target.copy(), np.zeros_like(target)]
            return
        pos, vel = st
        dt = min(max(dt_s, 0.0), 1.0 / 15)  # stable and bounded for any frame gap
        stiff = (2 * np.pi * SWING_HZ) ** 2
        vel += dt * (stiff * (target - pos) - 2 * SWING_DAMPING * np.sqrt(stiff) * vel)
        pos += dt * vel
        lag = pos - target
        ln = np.linalg.norm(lag, axis=1, keepdims=True)
        over = ln[:, 0] > SWING_MAX_M
        if over.any():
            pos[over] = target[over] + lag[over] * (SWING_MAX_M / ln[over])
            vel[over] *= 0.5
        verts[b.swing_ids] = target + (pos - target) * b.swing_w[:, None]

    def _push_out(
        self, pv: np.ndarray, meshes: list[GarmentMesh], ids: list[np.ndarray], max_push_m: float | None = None
    ) -> None:
        """Exact push-out of vertices `ids` (per mesh) to at least the layer gap over the posed body."""
        if self._posed_collider is None:
            self._posed_collider = BodyCollider(pv, self.body.faces, device=self._device, winding=False)
        else:
            self._posed_collider.update(pv)
        allv = np.concatenate([m.vertices[i] for m, i in zip(meshes, ids, strict=True)])
        q = self._posed_collider.query(allv, 0.05, winding=False)
        gaps = np.concatenate([np.full(len(i), b.min_normal_m * 2) for i, b in zip(ids, self._bindings, strict=True)])
        if max_push_m is not None:  # creases: just outside the nearest surface, not across to the opposite one
            gaps = np.minimum(gaps, max_push_m)
        sd = np.einsum("ij,ij->i", allv - q.point, q.normal)
        fix = (q.face >= 0) & (q.inside | (sd < gaps * 0.5))
        allv[fix] = q.point[fix] + q.normal[fix] * gaps[fix, None]
        k = 0
        for m, i in zip(meshes, ids, strict=True):
            m.vertices[i] = allv[k : k + len(i)]
            k += len(i)

    def pose_bones(self, skinning_transforms: np.ndarray) -> list[GarmentMesh]:
        """Linear blend skinning with weights copied from the nearest body vertex; `skinning_transforms` are
        (B,4,4) rest-to-posed bone matrices in the project frame (y up)."""
        m = np.asarray(skinning_transforms, np.float32)
        out = []
        for mesh in self.meshes:
            mats = np.einsum("nk,nkij->nij", mesh.skin_weights, m[mesh.skin_indices])
            vh = np.concatenate([mesh.vertices, np.ones((len(mesh.vertices), 1), np.float32)], 1)
            out.append(dataclasses.replace(mesh, vertices=np.einsum("nij,nj->ni", mats, vh)[:, :3].astype(np.float32)))
        return out


def _bind_colliders(a: BodyAnalysis, device: str) -> tuple[BodyCollider, np.ndarray, BodyCollider, np.ndarray]:
    f = a.faces
    parts = a.parts
    ok_shell = ~np.isin(parts, [PARTS.index("hand"), PARTS.index("head")])
    ok_tube = np.isin(parts, [PARTS.index("torso"), PARTS.index("uleg")])
    fs = np.where(ok_shell[f].all(1))[0]
    ft = np.where(ok_tube[f].all(1))[0]
    return (
        BodyCollider(a.vertices, f[fs], device=device, winding=False),
        fs,
        BodyCollider(a.vertices, f[ft], device=device, winding=False),
        ft,
    )


def _bind(a: BodyAnalysis, g: CutGarment, cols) -> _Binding:
    shell_c, fs, tube_c, ft = cols
    is_tube = g.body_index < 0
    face = np.empty(len(g.vertices), np.int64)
    bary = np.empty((len(g.vertices), 3), np.float32)
    for mask, col, fmap in ((~is_tube, shell_c, fs), (is_tube, tube_c, ft)):
        if not mask.any():
            continue
        q = col.query(g.vertices[mask], 2.0, winding=False)
        if (q.face < 0).any():
            raise InputError("garment vertex too far from the body to bind")
        face[mask] = fmap[q.face]
        bary[mask] = q.bary
    tri = a.faces[face]
    # warp's (u, v) are weights of corners 0 and 1; the third is 1-u-v.
    base = np.einsum("ij,ijk->ik", bary, a.vertices[tri])
    e1, e2, n = _frames(a.vertices, tri)
    o = g.vertices - base
    local = np.stack([(o * e1).sum(1), (o * e2).sum(1), (o * n).sum(1)], 1).astype(np.float32)
    return _Binding(face, bary, local, g.gap_m * 0.5)


def _skin_from_binding(a: BodyAnalysis, b: _Binding) -> tuple[np.ndarray, np.ndarray]:
    idx, w, _ = anny_skin()
    nearest = a.faces[b.face, b.bary.argmax(1)]
    return idx[nearest].astype(np.int32), w[nearest]


def _vertex_colors(tex: np.ndarray, uv: np.ndarray) -> np.ndarray:
    h, w = tex.shape[:2]
    x = ((uv[:, 0] % 1.0) * (w - 1)).astype(int)
    y = ((1.0 - uv[:, 1] % 1.0) * (h - 1)).astype(int)
    return tex[y, x].astype(np.float32) / 255.0


class Dresser:
    """Per-body state reused across outfits (analysis, colliders): build once per session's body shape."""

    def __init__(self, body_rest_vertices: np.ndarray, body_faces: np.ndarray, *, device: str | None = None) -> None:
        if device is None:
            from fitmirror.config import torch_device

            device = torch_device()
        self.device = device
        self.body = analyse_body(body_rest_vertices, body_faces)
        if len(anny_parts()) != len(self.body.vertices):
            raise InputError("body is not an anny-topology mesh")
        self.collider = BodyCollider(self.body.vertices, self.body.faces, device=device)
        self._bind_cols = _bind_colliders(self.body, device)
        self.proxies = PartProxies(self.body)

    def dress(
        self,
        items: list[OutfitItem] | list[tuple],
        *,
        drape_substeps: int = 24,
        texture_px: int = 256,
        textures: dict[str, np.ndarray] | None = None,
    ) -> DressedOutfit:
        from fitmirror.demo_catalog import product_texture

        its = [it if isinstance(it, OutfitItem) else OutfitItem(*it) for it in items]
        if not its:
            raise InputError("nothing to dress: the outfit has no items")
        t0 = time.perf_counter()
        a = self.body
        state = LayerState.empty(a)
        order = sorted(range(len(its)), key=lambda i: LAYER[its[i].product.category])
        meshes, fits, stats, binds = [], [], [], []
        for i in order:
            it = its[i]
            g = cut_garment(a, it.product, it.size, it.color, state)
            st = drape(g, self.collider, substeps=drape_substeps, device=self.device)
            b = _bind(a, g, self._bind_cols)
            b.swing_ids, b.swing_w = _swing_weights(g, a)
            b.proxy_cands = self.proxies.rest_clearance(g.vertices, self.proxies.group_of_faces(b.face, a.faces))
            si, sw = _skin_from_binding(a, b)
            tex = (textures or {}).get(it.product.id)
            if tex is None:
                tex = product_texture(it.product, g.color, texture_px)
            meshes.append(
                GarmentMesh(
                    name=f"garment:{it.product.id}:{g.size}",
                    vertices=g.vertices,
                    faces=g.faces,
                    colors=_vertex_colors(tex, g.uvs),
                    uvs=g.uvs,
                    texture=tex,
                    fit_colors=vertex_fit_colors(g, g.vertex_ease_cm),
                    product_id=it.product.id,
                    size=g.size,
                    color=g.color,
                    layer=g.layer,
                    skin_indices=si,
                    skin_weights=sw,
                    region=g.region,
                )
            )
            fits.append(summarise(g))
            stats.append(st)
            binds.append(b)
        return DressedOutfit(
            meshes, fits, stats, a, time.perf_counter() - t0, binds, self.device, _proxies=self.proxies
        )


def dress(
    body_rest_vertices: np.ndarray,
    body_faces: np.ndarray,
    items: list[OutfitItem] | list[tuple],
    *,
    device: str | None = None,
    drape_substeps: int = 24,
    texture_px: int = 256,
    textures: dict[str, np.ndarray] | None = None,
) -> DressedOutfit:
    """Cut every item in its chosen size, layer them inside-out, drape each on the body and bind it for posing.

    `items`: OutfitItem or (product, size[, colour]) tuples. `textures` optionally maps product id -> fabric tile
    (e.g. `photo.texture_from_photo(...).texture`). For many outfits on one body, keep a `Dresser`."""
    return Dresser(body_rest_vertices, body_faces, device=device).dress(
        items, drape_substeps=drape_substeps, texture_px=texture_px, textures=textures
    )


@dataclass
class SizeComparison:
    """Two sizes of one product on the same body; `right` is shifted by `offset_x_m` so both fit one view."""

    left: DressedOutfit
    right: DressedOutfit
    offset_x_m: float

    def meshes(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, vertices, faces) of both bodies and garments, the right-hand set shifted in x."""
        sh = np.array([self.offset_x_m, 0, 0], np.float32)
        out = [("body:left", self.left.body.vertices, self.left.body.faces)]
        out += [(m.name + ":left", m.vertices, m.faces) for m in self.left.meshes]
        out += [("body:right", self.right.body.vertices + sh, self.right.body.faces)]
        out += [(m.name + ":right", m.vertices + sh, m.faces) for m in self.right.meshes]
        return out

    def text(self, lang: str = "en") -> str:
        return f"{self.left.fit_text(lang)} | {self.right.fit_text(lang)}"


def compare_sizes(
    body_rest_vertices: np.ndarray,
    body_faces: np.ndarray,
    product: Product,
    size_a: str,
    size_b: str,
    color: str | None = None,
    *,
    offset_x_m: float = 0.9,
    **kw,
) -> SizeComparison:
    left = dress(body_rest_vertices, body_faces, [OutfitItem(product, size_a, color)], **kw)
    right = dress(body_rest_vertices, body_faces, [OutfitItem(product, size_b, color)], **kw)
    return SizeComparison(left, right, offset_x_m)
