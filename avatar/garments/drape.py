"""Short position-based-dynamics relaxation of cut garments on the rest-pose body, in torch.

Edge-length constraints (rest lengths from the cut, slightly slack so cloth can settle), gravity, anchors at
shoulders/waistband, and body collision as a closest-point half-space push-out (planes refreshed from Warp BVH
queries every few substeps, applied every iteration). Runs on `fitmirror.config.torch_device()` (CUDA when there).
A final pass pushes any vertex still inside the body out to its collision gap."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from .build import CutGarment
from .collide import BodyCollider


@dataclass
class DrapeStats:
    seconds: float  # wall time
    inside_fraction: float  # share of garment vertices inside the body after draping
    max_move_m: float
    cpu_seconds: float = 0.0  # process CPU time (wall time on a contended machine overstates the cost)


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = 0


@contextlib.contextmanager
def _single_thread():
    """torch's thread count is process-wide: the first concurrent drape saves it, the last one restores it, so
    overlapping drapes from several sessions never leave the process stuck at one thread."""
    global _THREADS_USERS, _THREADS_SAVED
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_SAVED = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_USERS += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                torch.set_num_threads(_THREADS_SAVED)


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e.sort(1)
    return np.unique(e, axis=0)


def drape(
    garment: CutGarment,
    collider: BodyCollider,
    *,
    substeps: int = 24,
    iterations: int = 4,
    refresh_every: int = 6,
    device: str = "cpu",
    dt: float = 1.0 / 90,
) -> DrapeStats:
    """Relax `garment.vertices` in place; returns timing and penetration after the relaxation."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    if device == "cpu":
        # A few thousand vertices: one thread is 10x faster than two on a shared 2-core box (no spin-waits).
        with _single_thread():
            out = _relax(garment, collider, substeps, iterations, refresh_every, device, dt)
    else:
        out = _relax(garment, collider, substeps, iterations, refresh_every, device, dt)
    x0 = garment.vertices
    garment.vertices = out
    inside = collider.inside_fraction(garment.vertices)
    return DrapeStats(
        time.perf_counter() - t0,
        inside,
        float(np.linalg.norm(out - x0, axis=1).max()),
        time.process_time() - c0,
    )


def _relax(garment, collider, substeps, iterations, refresh_every, device, dt) -> np.ndarray:
    x0 = garment.vertices.astype(np.float32)
    x = torch.from_numpy(x0.copy()).to(device)
    anchor = torch.from_numpy(x0).to(device)
    pinned = torch.from_numpy(garment.anchored).to(device)
    e_np = _edges(garment.faces)
    e = torch.from_numpy(e_np).to(device)
    rest = (x[e[:, 0]] - x[e[:, 1]]).norm(dim=1) * 0.995
    deg = torch.zeros(len(x0), device=device).index_add_(0, e.reshape(-1), torch.ones(e.numel(), device=device))
    deg = deg.clamp(min=1).unsqueeze(1)
    v = torch.zeros_like(x)
    g = torch.tensor([0.0, -9.81, 0.0], device=device)
    gap = float(garment.gap_m)
    plane_p = plane_n = None
    for s in range(substeps):
        if s % refresh_every == 0:
            q = collider.query(x.cpu().numpy(), 0.3, winding=False)
            ok = torch.from_numpy(q.face >= 0).to(device).unsqueeze(1)
            plane_p = torch.from_numpy(q.point).to(device)
            plane_n = torch.from_numpy(q.normal).to(device) * ok
        x_prev = x.clone()
        v = v + g * dt
        x = x + v * dt
        for _ in range(iterations):
            d = x[e[:, 0]] - x[e[:, 1]]
            ln = d.norm(dim=1, keepdim=True).clamp(min=1e-9)
            corr = 0.5 * (ln - rest.unsqueeze(1)) / ln * d
            # Cloth resists stretching, not compression (lets fabric fold instead of pushing outwards).
            corr = torch.where(ln > rest.unsqueeze(1), corr, corr * 0.1)
            dx = torch.zeros_like(x).index_add_(0, e[:, 0], -corr).index_add_(0, e[:, 1], corr)
            x = x + 1.2 * dx / deg
            # Anchors hold shoulders/waistband; everything else is pulled weakly toward the cut shape,
            # which stands in for the many iterations a stiff cloth would need to hold its shape.
            x = torch.where(pinned.unsqueeze(1), anchor, x + 0.08 * (anchor - x))
            sd = ((x - plane_p) * plane_n).sum(1, keepdim=True)
            x = x + plane_n * (gap - sd).clamp(min=0)
        v = (x - x_prev) / dt * 0.9
    out = x.cpu().numpy()
    # Final guarantee: exact closest-point push-out for anything inside or closer than the gap.
    q = collider.query(out, 0.3, winding=False)
    sd = np.einsum("ij,ij->i", out - q.point, q.normal)
    fix = (q.face >= 0) & (sd < gap * 0.5)
    out[fix] = q.point[fix] + q.normal[fix] * gap
    return out.astype(np.float32)
