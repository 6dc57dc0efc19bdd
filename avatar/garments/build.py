"""Cut a garment for one catalogue product and size around a rest-pose anny body.

Each garment is an offset shell over the body region it covers (torso down to the hem, sleeves cut at the
chart's sleeve length, legs cut at the inseam), pushed out along the body normals by the ease of the chosen size
(chart girth minus the body's girth at that height, / 2π), so a larger size is looser on the same body and the
same size is tighter on a larger body. Below the hips, skirts, dresses, coats and long tops become a flared tube
around both legs instead of following them. Layers are cut inside-out (bottoms, base tops, dresses, knitwear,
jackets, coats); each keeps a gap over everything already worn, so nothing interpenetrates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitmirror.catalog import LEGGED, Product
from fitmirror.errors import InputError

from .anatomy import PARTS, BodyAnalysis

TWO_PI = 2 * np.pi
LAYER = {
    "trousers": 0,
    "jeans": 0,
    "shorts": 0,
    "skirt": 0,
    "tshirt": 1,
    "shirt": 1,
    "blouse": 1,
    "dress": 1,
    "sweater": 2,
    "jacket": 3,
    "coat": 4,
}
BASE_GAP_M = 0.004  # first layer's minimum distance from the skin
LAYER_GAP_M = 0.006  # each further layer's minimum distance over the one below
TUBE_ANGLES = 72
TUBE_STEP_M = 0.015
TEXTURE_TILE_M = 0.35  # one texture repeat covers this much fabric


@dataclass
class CutGarment:
    """Rest-pose garment geometry before draping, with what the fit map needs per vertex."""

    product: Product
    size: str
    color: str
    layer: int
    vertices: np.ndarray  # (N,3) float32
    faces: np.ndarray  # (F,3) int32
    uvs: np.ndarray  # (N,2) float32
    region: np.ndarray  # (N,) int index into REGIONS: where the vertex's ease comes from
    gap_m: float  # minimum distance from the skin (collision thickness)
    anchored: np.ndarray  # (N,) bool: hangs from here (shoulders / waistband), pinned while draping
    body_index: np.ndarray  # (N,) source body vertex for shell vertices, -1 for tube vertices
    ease_cm: dict[str, float] = field(default_factory=dict)  # chart ease per region
    vertex_ease_cm: np.ndarray | None = None  # (N,) ease of the region under each vertex, for the fit map

    @property
    def name(self) -> str:
        return f"{self.product.id}:{self.size}"


REGIONS = ("chest", "waist", "hips", "thigh", "sleeves", "length")


@dataclass
class LayerState:
    """What is already worn: per body vertex the outermost shell offset (m), and a polar radius grid around the
    hip axis (angles x heights) for tubes."""

    shell: np.ndarray
    tube_y: np.ndarray
    tube_r: np.ndarray  # (len(tube_y), TUBE_ANGLES)
    layers_used: int = 0

    @classmethod
    def empty(cls, a: BodyAnalysis) -> LayerState:
        ys = np.arange(a.floor_y, a.hps_y + 0.05, 0.01)
        return cls(np.zeros(len(a.vertices), np.float32), ys, np.zeros((len(ys), TUBE_ANGLES), np.float32))

    def tube_min(self, y: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(self.tube_y, y), 0, len(self.tube_y) - 1)
        return self.tube_r[idx]

    def record_points(self, a: BodyAnalysis, pts: np.ndarray) -> None:
        d = pts[:, [0, 2]] - a.axis_xz
        r = np.hypot(d[:, 0], d[:, 1])
        ang = ((np.arctan2(d[:, 1], d[:, 0]) % TWO_PI) / TWO_PI * TUBE_ANGLES).astype(int) % TUBE_ANGLES
        yi = np.clip(np.searchsorted(self.tube_y, pts[:, 1]), 0, len(self.tube_y) - 1)
        np.maximum.at(self.tube_r, (yi, ang), r)


def _hull_radius(pts2: np.ndarray, centre: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Distance from `centre` to the convex hull of pts2 along each angle (the tape-measure outline)."""
    from scipy.spatial import ConvexHull

    p = pts2 - centre
    try:
        h = p[ConvexHull(p).vertices]
    except Exception:
        return np.full(len(angles), np.abs(p).max() if len(p) else 0.05)
    a, b = h, np.roll(h, -1, 0)
    e = b - a
    nrm = np.stack([e[:, 1], -e[:, 0]], 1)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    c = np.einsum("ij,ij->i", nrm, a)
    if (c < 0).mean() > 0.5:
        nrm, c = -nrm, -c
    u = np.stack([np.cos(angles), np.sin(angles)], 1)
    nu = u @ nrm.T  # (A, E)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(nu > 1e-9, c[None] / nu, np.inf)
    r = t.min(1)
    return np.where(np.isfinite(r) & (r > 0), r, 0.05)


def _submesh(faces: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces whose three vertices are kept, reindexed; returns (body vertex ids, faces)."""
    fk = faces[keep[faces].all(1)]
    ids = np.unique(fk)
    remap = np.full(len(keep), -1, np.int64)
    remap[ids] = np.arange(len(ids))
    return ids, remap[fk].astype(np.int32)


def _cyl_uv(p: np.ndarray, axis_xz: np.ndarray, girth_m: float) -> np.ndarray:
    d = p[:, [0, 2]] - axis_xz
    ang = np.arctan2(d[:, 0], d[:, 1])  # 0 at the front centre
    return np.stack([ang / TWO_PI * girth_m / TEXTURE_TILE_M, p[:, 1] / TEXTURE_TILE_M], 1).astype(np.float32)


def _profile(ys_cm: list[tuple[float, float]], y: np.ndarray) -> np.ndarray:
    """Piecewise-linear function of height through (y, value) knots, flat beyond the ends."""
    k = sorted(ys_cm)
    return np.interp(y, [a for a, _ in k], [b for _, b in k])


def cut_garment(a: BodyAnalysis, product: Product, size: str, color: str | None, state: LayerState) -> CutGarment:
    """Cut `product` in `size` around the analysed body, outside everything recorded in `state`."""
    cat = product.category
    m = product.garment_measurements(size)
    col = product.color(color).name
    layer = state.layers_used
    gap = BASE_GAP_M + LAYER_GAP_M * layer
    v, n, parts = a.vertices, a.normals, a.parts
    y = v[:, 1]
    P = {p: parts == PARTS.index(p) for p in PARTS}
    g = a.girths_cm
    ease: dict[str, float] = {}
    is_top = cat not in ("skirt", *LEGGED)

    # --- where the garment starts and ends ----------------------------------------------------------------
    if is_top:
        top_y = a.hps_y + 0.05
        hem_y = a.hps_y - m["length_cm"] / 100.0
    elif cat == "skirt":
        top_y = a.waist_y
        hem_y = a.waist_y - m["length_cm"] / 100.0
    else:
        rise = 0.4 if cat == "jeans" else 0.2
        top_y = a.waist_y - rise * (a.waist_y - a.hip_y)
        hem_y = a.crotch_y - m["inseam_cm"] / 100.0
    hem_y = max(hem_y, a.floor_y + 0.02)
    legged = cat in LEGGED
    tube = (not legged) and hem_y < a.hip_y
    shell_bottom = a.hip_y if tube else hem_y

    # --- girth profile of this size vs the body ------------------------------------------------------------
    gc = m.get("chest_cm")
    gw = m.get("waist_cm", gc)
    gh = m.get("hips_cm", gw if gw is not None else gc)
    knots: list[tuple[float, float]] = []
    if gc is not None:
        ease["chest"] = gc - g["chest"]
        knots.append((a.chest_y, ease["chest"]))
    if gw is not None:
        wy = a.waist_y if is_top or cat == "skirt" else top_y
        body_w = g["waist"] if wy == a.waist_y else a.girth_at(wy)
        ease["waist"] = gw - body_w
        knots.append((wy, ease["waist"]))
    if gh is not None and (hem_y < a.hip_y + 0.03 or not is_top):
        ease["hips"] = gh - g["hips"]
        knots.append((a.hip_y, ease["hips"]))
    elif gh is not None:
        hem_g = a.girth_at(hem_y)
        knots.append((hem_y, gh - hem_g))

    def shell_offset(yy: np.ndarray) -> np.ndarray:
        e = _profile(knots, yy) / 100.0 / TWO_PI
        return np.maximum(e, 0.0) + gap

    keep = np.zeros(len(v), bool)
    region = np.zeros(len(v), np.int64)
    off = np.zeros(len(v), np.float32)
    torso_like = P["torso"] | P["uleg"]
    body_band = torso_like & (y <= top_y) & (y >= shell_bottom)
    if legged:
        body_band = (P["torso"] | P["uleg"] | P["lleg"] | P["foot"]) & (y <= top_y) & (y >= hem_y)
    elif not is_top:
        body_band &= ~(P["uleg"] & (y < a.crotch_y))
    else:
        body_band &= ~(P["uleg"] & (y < a.crotch_y + 0.02))
    keep |= body_band
    off[body_band] = shell_offset(y[body_band])
    region[body_band] = np.where(
        y[body_band] > (a.chest_y + a.waist_y) / 2, 0, np.where(y[body_band] > (a.waist_y + a.hip_y) / 2, 1, 2)
    )
    if is_top:
        # Shoulders: the garment rests on them; ease fades out between armpit and neck.
        above = body_band & (y > a.armpit_y)
        fade = np.clip((a.hps_y - y[above]) / max(a.hps_y - a.armpit_y, 1e-3), 0, 1)
        off[above] = gap + (off[above] - gap) * fade
    if legged:
        gt = m.get("thigh_cm", (gh or 100) * 0.6)
        ease["thigh"] = gt - g["thigh"]
        leg = body_band & (P["uleg"] | P["lleg"] | P["foot"]) & (y < a.crotch_y + 0.02)
        off[leg] = max(ease["thigh"] / 100 / TWO_PI, 0) + gap
        region[leg] = 3
        ease["length"] = m["inseam_cm"] - a.inseam_cm

    sleeve_cm = m.get("sleeve_length_cm", 0.0) or 0.0
    if is_top and sleeve_cm > 0:
        arm_cut = sleeve_cm / 100.0 - 0.04
        sleeve = (P["uarm"] | P["larm"]) & (a.arm_s <= arm_cut)
        keep |= sleeve
        chest_e = max(ease.get("chest", 0.0), 0.0)
        off[sleeve] = gap + 0.25 * chest_e / 100 / TWO_PI + (0.006 if cat in ("jacket", "coat") else 0.0)
        region[sleeve] = 4
        if sleeve_cm > 40:
            ease["sleeves"] = sleeve_cm - a.arm_length_cm
    if is_top and cat not in ("dress", "coat"):
        ease["length"] = m["length_cm"] - (a.hps_y - a.hip_y) * 100.0
    if cat == "shorts":
        ease.pop("length", None)  # shorts' leg length is a style, not a fit

    v_ease = np.where(region == 3, ease.get("thigh", 0.0), _profile(knots, y) if knots else 0.0)
    v_ease = np.where(region == 4, ease.get("sleeves", 0.0), v_ease)
    # Layering: stay outside everything already worn.
    off = np.where(keep, np.maximum(off, np.where(state.shell > 0, state.shell + LAYER_GAP_M, 0)), 0)
    ids, faces = _submesh(a.faces, keep)
    verts = v[ids] + n[ids] * off[ids, None]
    reg = region[ids]
    vease = v_ease[ids]
    body_index = ids.astype(np.int64)
    anchored = (verts[:, 1] > a.armpit_y) if is_top else (verts[:, 1] > top_y - 0.04)

    if tube:
        tv, tf, tr = _tube(a, state, top_y=a.hip_y + 0.02, hem_y=hem_y, knots=knots, gap=gap, m=m, cat=cat)
        faces = np.concatenate([faces, tf + len(verts)])
        verts = np.concatenate([verts, tv])
        reg = np.concatenate([reg, tr])
        vease = np.concatenate([vease, np.full(len(tv), ease.get("hips", 0.0))])
        body_index = np.concatenate([body_index, np.full(len(tv), -1)])
        anchored = np.concatenate([anchored, np.zeros(len(tv), bool)])
    if len(faces) < 50:
        raise InputError(f"{product.name} size {size} cut no geometry on this body", hint="check the size chart")

    girth_m = (gc or gw or gh or 90) / 100.0
    uvs = _cyl_uv(verts, a.axis_xz, girth_m)
    # Record this layer for the next one.
    np.maximum.at(state.shell, ids, off[ids])
    state.record_points(a, verts)
    state.layers_used += 1
    return CutGarment(
        product=product,
        size=size,
        color=col,
        layer=layer,
        vertices=verts.astype(np.float32),
        faces=faces.astype(np.int32),
        uvs=uvs,
        region=reg.astype(np.int8),
        gap_m=gap,
        anchored=anchored,
        body_index=body_index,
        ease_cm={k: round(float(e), 1) for k, e in ease.items()},
        vertex_ease_cm=vease.astype(np.float32),
    )


def _tube(a: BodyAnalysis, state: LayerState, *, top_y, hem_y, knots, gap, m, cat):
    """Flared tube from the hips to the hem, around both legs."""
    ys = np.arange(top_y, hem_y - 1e-6, -TUBE_STEP_M)
    if ys[-1] > hem_y + 1e-4:
        ys = np.append(ys, hem_y)
    ang = np.arange(TUBE_ANGLES) / TUBE_ANGLES * TWO_PI
    v = a.vertices
    pts_mask = a.mask("torso", "uleg", "lleg", "foot")
    gw, gh = m.get("waist_cm"), m.get("hips_cm")
    flare = 1.0 + float(np.clip(((gh or 0) - (gw or gh or 0) - 20.0) / 60.0, 0.0, 0.5))
    if cat == "coat":
        flare = max(flare, 1.08)
    e_top = max(_profile(knots, np.array([a.hip_y]))[0] / 100.0 / TWO_PI, 0.0) + gap
    rings = []
    r_top = None
    for yk in ys:
        sl = pts_mask & (np.abs(v[:, 1] - yk) < 0.012)
        if sl.sum() < 3:
            sl = pts_mask & (np.abs(v[:, 1] - yk) < 0.04)
        r_hull = _hull_radius(v[sl][:, [0, 2]], a.axis_xz, ang) if sl.sum() >= 3 else np.full(TUBE_ANGLES, 0.05)
        if r_top is None:
            r_top = r_hull + e_top
        t = (ys[0] - yk) / max(ys[0] - ys[-1], 1e-3)
        r = np.maximum(r_hull + gap, r_top * (1.0 + (flare - 1.0) * t))
        worn = state.tube_min(np.array([yk]))[0]
        worn = np.maximum(worn, np.roll(worn, 1))
        worn = np.maximum(worn, np.roll(worn, -1))
        r = np.where(worn > 0, np.maximum(r, worn + LAYER_GAP_M), r)
        rings.append(np.stack([a.axis_xz[0] + r * np.cos(ang), np.full_like(r, yk), a.axis_xz[1] + r * np.sin(ang)], 1))
    tv = np.concatenate(rings).astype(np.float32)
    faces = []
    na = TUBE_ANGLES
    for k in range(len(ys) - 1):
        for j in range(na):
            a0, a1 = k * na + j, k * na + (j + 1) % na
            b0, b1 = a0 + na, a1 + na
            faces += [(a0, b0, a1), (a1, b0, b1)]
    tf = np.asarray(faces, np.int32)
    # Outward winding: check one face normal against the radial direction.
    p0, p1, p2 = tv[tf[0]]
    nrm = np.cross(p1 - p0, p2 - p0)
    radial = p0 - np.array([a.axis_xz[0], p0[1], a.axis_xz[1]])
    if nrm @ radial < 0:
        tf = tf[:, [0, 2, 1]]
    region = np.where(tv[:, 1] > a.crotch_y, 2, 5).astype(np.int64)
    return tv, tf, region
