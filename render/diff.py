"""Differentiable rendering for shape fitting (deferred design, docs/render.md):

1. visibility: a rasteriser backend (GL by default) draws triangle ids with a depth test (not differentiable);
2. torch recomputes, for every covered pixel, perspective-correct barycentrics from the projected vertices, so
   interpolated attributes (colours, UVs, normals, depth) carry gradients to vertex positions and attributes;
3. silhouette edges get gradients from an analytic antialiasing step (like nvdiffrast's `antialias`): for each
   pair of neighbouring pixels across the silhouette, the covered triangle's edge crossing between the two pixel
   centres sets a fractional coverage, which moves with the edge's vertices. An optional Gaussian blur
   (`sigma_px`) widens the basin of a silhouette loss.

Occlusion edges inside the silhouette (an arm in front of the torso) get no edge gradient; only the outer
silhouette does. Pixel coordinates: x right, y down, pixel (row r, col c) has its centre at (c + 0.5, r + 0.5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fitmirror.errors import InputError
from render.backends import Rasterizer, default_rasterizer
from render.cameras import Camera, PinholeCamera


def as_camera(camera) -> Camera:
    """A `Camera`, or a pinhole camera (render's or avatar's: fx, fy, cx, cy, width, height) in webcam space."""
    if isinstance(camera, Camera):
        return camera
    if all(hasattr(camera, k) for k in ("fx", "fy", "cx", "cy", "width", "height")):
        return PinholeCamera.like(camera).camera()
    raise InputError(f"not a camera: {type(camera).__name__}")


@dataclass
class Fragments:
    """Per covered pixel: flat pixel index `pix` (row * W + col), triangle `face`, perspective-correct
    barycentrics `bary` (P,3) and camera distance `depth` (P,) (both differentiable). `tri_id` (H,W) is the raw
    visibility (-1 = background); `screen` (N,2) and `w` (N,) are the projected vertices (differentiable)."""

    tri_id: torch.Tensor
    pix: torch.Tensor
    face: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    screen: torch.Tensor
    w: torch.Tensor
    faces: torch.Tensor
    height: int
    width: int

    @property
    def mask(self) -> torch.Tensor:
        return self.tri_id >= 0


def project(vertices: torch.Tensor, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """World vertices (N,3) -> (screen px (N,2), clip w (N,)), differentiable."""
    camera = as_camera(camera)
    mvp = torch.as_tensor(camera.mvp, dtype=vertices.dtype, device=vertices.device)
    clip = vertices @ mvp[:3, :3].T + mvp[:3, 3]
    w = vertices @ mvp[3, :3] + mvp[3, 3]
    if bool((w.detach() <= 1e-6).any()):
        raise InputError("a vertex is behind the camera", hint="move the mesh in front of the camera (z < 0)")
    x = (clip[:, 0] / w + 1) * (0.5 * camera.width)
    y = (1 - clip[:, 1] / w) * (0.5 * camera.height)
    return torch.stack([x, y], -1), w


def _faces_tensor(faces, device) -> torch.Tensor:
    f = torch.as_tensor(np.asarray(faces) if not isinstance(faces, torch.Tensor) else faces, device=device)
    if f.ndim != 2 or f.shape[1] != 3:
        raise InputError(f"faces must be (F,3), got {tuple(f.shape)}")
    return f.long()


def rasterize(
    vertices: torch.Tensor,
    faces,
    camera: Camera,
    rasterizer: Rasterizer | None = None,
    tri_id: np.ndarray | torch.Tensor | None = None,
) -> Fragments:
    """Rasterise a mesh (vertices (N,3) world metres, torch, may require grad) seen by `camera`
    (`CameraRig.camera(...)` or `PinholeCamera.camera()`). Pass `tri_id` to reuse a visibility image."""
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise InputError(f"vertices must be (N,3), got {tuple(vertices.shape)}")
    camera = as_camera(camera)
    f = _faces_tensor(faces, vertices.device)
    if tri_id is None:
        tri_id = (rasterizer or default_rasterizer()).triangle_ids(vertices.detach(), f, camera)
    ids = torch.as_tensor(np.asarray(tri_id) if not isinstance(tri_id, torch.Tensor) else tri_id)
    ids = ids.to(device=vertices.device, dtype=torch.long)
    h, w = camera.height, camera.width
    if tuple(ids.shape) != (h, w):
        raise InputError(f"tri_id is {tuple(ids.shape)}, camera is {h}x{w}")
    screen, cw = project(vertices, camera)
    flat = ids.reshape(-1)
    pix = torch.nonzero(flat >= 0).squeeze(1)
    face = flat[pix]
    rows, cols = pix // w, pix % w
    p = torch.stack([cols, rows], -1).to(vertices.dtype) + 0.5
    tri = f[face]  # (P,3)
    a, b, c = screen[tri[:, 0]], screen[tri[:, 1]], screen[tri[:, 2]]
    area = _cross(b - a, c - a)
    area = torch.where(area.abs() < 1e-12, torch.full_like(area, 1e-12), area)
    l0 = _cross(b - p, c - p) / area
    l1 = _cross(c - p, a - p) / area
    l2 = 1 - l0 - l1
    lin = torch.stack([l0, l1, l2], -1)
    inv_w = 1 / cw[tri]  # perspective correction
    pc = lin * inv_w
    denom = pc.sum(-1, keepdim=True)
    bary = pc / denom
    depth = 1 / denom.squeeze(-1)
    return Fragments(ids, pix, face, bary, depth, screen, cw, f, h, w)


def _cross(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def interpolate(attr: torch.Tensor, frags: Fragments, background: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Interpolate per-vertex (N,C) or per-corner (F,3,C) attributes -> (H,W,C) image, `background` elsewhere."""
    if attr.ndim == 2:
        vals = (attr[frags.faces[frags.face]] * frags.bary[..., None]).sum(1)
    elif attr.ndim == 3 and attr.shape[1] == 3:
        vals = (attr[frags.face] * frags.bary[..., None]).sum(1)
    else:
        raise InputError(f"attr must be (N,C) or (F,3,C), got {tuple(attr.shape)}")
    c = vals.shape[-1]
    out = torch.zeros(frags.height * frags.width, c, dtype=vals.dtype, device=vals.device)
    out = out + torch.as_tensor(background, dtype=vals.dtype, device=vals.device)
    out = out.index_put((frags.pix,), vals)
    return out.reshape(frags.height, frags.width, c)


def antialiased_coverage(frags: Fragments) -> torch.Tensor:
    """(H,W) coverage in [0,1]: the hard mask plus fractional coverage at silhouette pixel pairs, differentiable
    with respect to the silhouette edges' vertices (see the module docstring)."""
    ids = frags.tri_id
    h, w = ids.shape
    cov = frags.mask.to(frags.screen.dtype).reshape(-1)
    deltas, where = [], []
    for dr, dc in ((0, 1), (1, 0)):
        a_ids = ids[: h - dr, : w - dc]
        b_ids = ids[dr:, dc:]
        edge = (a_ids >= 0) != (b_ids >= 0)
        r, c = torch.nonzero(edge, as_tuple=True)
        if len(r) == 0:
            continue
        a_in = a_ids[r, c] >= 0
        # p = inside pixel, q = outside pixel
        pr = torch.where(a_in, r, r + dr)
        pc_ = torch.where(a_in, c, c + dc)
        qr = torch.where(a_in, r + dr, r)
        qc = torch.where(a_in, c + dc, c)
        t = ids[pr, pc_]
        d = _crossing_coverage(frags, t, pr, pc_, qr, qc)
        # s > 0.5: the edge lies past the midpoint, q gains (s - 0.5); s < 0.5: p loses (0.5 - s)
        deltas += [torch.relu(d), -torch.relu(-d)]
        where += [qr * w + qc, pr * w + pc_]
    if deltas:
        cov = cov.index_add(0, torch.cat(where), torch.cat(deltas))
    return cov.clamp(0, 1).reshape(h, w)


def _crossing_coverage(frags: Fragments, t, pr, pc_, qr, qc):
    """For triangle t covering pixel p, where does the segment from p's centre to q's centre leave t?
    Returns s - 0.5 for crossing parameter s in (0, 1), 0 where no edge of t is crossed."""
    f = frags.faces[t]
    v = frags.screen[f]  # (K,3,2)
    dt = v.dtype
    p = torch.stack([pc_, pr], -1).to(dt) + 0.5
    q = torch.stack([qc, qr], -1).to(dt) + 0.5
    area = _cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    sign = torch.where(area >= 0, 1.0, -1.0).to(dt)
    s_best = torch.ones(len(t), dtype=dt, device=v.device)
    for k in range(3):
        a, b = v[:, k], v[:, (k + 1) % 3]
        ep = sign * _cross(b - a, p - a)  # >= 0 inside
        eq = sign * _cross(b - a, q - a)
        crosses = (eq < 0) & (ep >= 0)
        s = ep / torch.where(crosses, ep - eq, torch.ones_like(ep))
        s_best = torch.where(crosses & (s < s_best), s, s_best)
    return torch.where(s_best < 1, s_best - 0.5, torch.zeros_like(s_best))


def _gaussian_blur(img: torch.Tensor, sigma_px: float) -> torch.Tensor:
    r = max(1, int(3 * sigma_px + 0.5))
    x = torch.arange(-r, r + 1, dtype=img.dtype, device=img.device)
    k = torch.exp(-(x**2) / (2 * sigma_px**2))
    k = k / k.sum()
    im = img[None, None]
    im = torch.nn.functional.conv2d(torch.nn.functional.pad(im, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    im = torch.nn.functional.conv2d(torch.nn.functional.pad(im, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return im[0, 0]


def soft_silhouette(
    vertices: torch.Tensor,
    faces,
    camera: Camera,
    sigma_px: float = 0.0,
    rasterizer: Rasterizer | None = None,
    frags: Fragments | None = None,
) -> torch.Tensor:
    """(H,W) silhouette coverage in [0,1] with gradients at the silhouette edges (antialiased coverage), blurred
    by a Gaussian of `sigma_px` when > 0 so that a loss against a (equally blurred) target mask pulls from
    further away. Blur the target the same way: `blur(mask, sigma_px)`."""
    frags = frags or rasterize(vertices, faces, camera, rasterizer)
    cov = antialiased_coverage(frags)
    return _gaussian_blur(cov, sigma_px) if sigma_px > 0 else cov


def blur(mask: torch.Tensor | np.ndarray, sigma_px: float) -> torch.Tensor:
    """The same Gaussian blur as `soft_silhouette(..., sigma_px)`, for target masks (H,W)."""
    m = torch.as_tensor(np.asarray(mask, np.float32) if not isinstance(mask, torch.Tensor) else mask)
    m = m.float() if not m.is_floating_point() else m
    return _gaussian_blur(m, sigma_px) if sigma_px > 0 else m


def render_colors(
    vertices: torch.Tensor,
    faces,
    colors: torch.Tensor,
    camera: Camera,
    background: float = 1.0,
    antialias: bool = True,
    rasterizer: Rasterizer | None = None,
) -> torch.Tensor:
    """(H,W,C) unlit colour image, differentiable in vertices (inside triangles and, with `antialias`, at the
    silhouette) and colours: interpolated colours blended over `background` by the antialiased coverage."""
    frags = rasterize(vertices, faces, camera, rasterizer)
    img = interpolate(colors, frags, background=0.0)
    if not antialias:
        return img + (~frags.mask)[..., None].to(img.dtype) * background
    cov = antialiased_coverage(frags)
    # colour for pixels that gain coverage from a neighbour: dilate the interpolated colours by one pixel
    filled = _dilate_colors(img, frags.mask)
    return filled * cov[..., None] + background * (1 - cov[..., None])


def _dilate_colors(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Background pixels take the mean colour of covered 4-neighbours (for partially covered edge pixels)."""
    m = mask.to(img.dtype)[..., None]
    acc = torch.zeros_like(img)
    cnt = torch.zeros_like(m)
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        acc = acc + torch.roll(img * m, (dr, dc), (0, 1))
        cnt = cnt + torch.roll(m, (dr, dc), (0, 1))
    return torch.where(mask[..., None], img, acc / cnt.clamp(min=1))
