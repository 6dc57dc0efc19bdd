"""The phenotype solver: Gauss-Newton on anny's six phenotype parameters, with a finite-difference Jacobian
from one batched anny call per iteration (7 rest meshes), so that the model's tape-measured height, mass (mesh
volume x density) and girths match the targets. Shared by the typed-measurement fit, the photo fits and the live
refinement."""

from __future__ import annotations

import numpy as np

from avatar.body import BodyModel, get_body_model, measure_mesh
from avatar.types import MEASUREMENT_KEYS, PHENOTYPE_KEYS, Measurements

BOUNDS = {
    "gender": (0.0, 1.0),
    "age": (0.62, 1.0),  # adults only: anny's age anchors are newborn -1/3, baby 0, child 1/3, young 2/3, old 1
    "muscle": (0.0, 1.0),
    "weight": (0.0, 1.0),
    "height": (0.0, 1.0),
    "proportions": (0.0, 1.0),
}


PRIOR_CENTRE = {"gender": 0.5, "age": 0.72, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5}


def _model_values(m: Measurements) -> dict[str, float]:
    d = {k: float(getattr(m, k)) for k in MEASUREMENT_KEYS}
    d["weight_kg"] = float(m.weight_kg or 0.0)
    return d


def _fd_batch(p: dict[str, float], free: list[str], eps: float) -> list[dict[str, float]]:
    """p, then p with each free phenotype stepped by eps (backwards at its upper bound): one batched body build
    gives every forward difference."""
    batch = [dict(p)]
    for k in free:
        q = dict(p)
        q[k] = p[k] + eps if p[k] + eps <= BOUNDS[k][1] else p[k] - eps
        batch.append(q)
    return batch


def solve_phenotype(
    targets: dict[str, float],
    sigmas: dict[str, float],
    fixed: dict[str, float] | None = None,
    init: dict[str, float] | None = None,
    iterations: int = 8,
    body: BodyModel | None = None,
) -> tuple[dict[str, float], Measurements]:
    """Gauss-Newton (Levenberg damping, box bounds) on the free phenotype parameters so the model's tape
    measurements match `targets` (keys of Measurements plus weight_kg) within `sigmas`."""
    body = body or get_body_model()
    fixed = fixed or {}
    free = [k for k in PHENOTYPE_KEYS if k not in fixed]
    p = dict(PRIOR_CENTRE)
    p.update(init or {})
    p.update(fixed)
    keys = [k for k in targets if k in sigmas]
    # a start height from a rough linear map of the height parameter
    eps = 0.02
    prior_sigma = 0.6  # weak pull to the middle: resolves directions the targets do not constrain

    def resid(vals: dict[str, float], ph: dict[str, float]) -> np.ndarray:
        r = [(vals[k] - targets[k]) / sigmas[k] for k in keys]
        r += [(ph[k] - PRIOR_CENTRE[k]) / prior_sigma for k in free]
        return np.array(r)

    lam = 1e-2
    best = None
    for _ in range(iterations):
        batch = _fd_batch(p, free, eps)
        rests = body.rest_batch(batch)
        ms = [measure_mesh(r, body) for r in rests]
        vals = [_model_values(m) for m in ms]
        r0 = resid(vals[0], batch[0])
        if best is None or r0 @ r0 < best[0]:
            best = (float(r0 @ r0), dict(p), ms[0])
        Jm = np.zeros((len(r0), len(free)))
        for i, k in enumerate(free):
            Jm[:, i] = (resid(vals[i + 1], batch[i + 1]) - r0) / (batch[i + 1][k] - p[k])
        # projected Gauss-Newton: parameters at a bound that the step pushes outward are held there
        active = np.ones(len(free), bool)
        step = np.zeros(len(free))
        for _ in range(3):
            Ja = Jm[:, active]
            H = Ja.T @ Ja
            sa = -np.linalg.solve(H + lam * (np.diag(np.diag(H)) + 1e-6 * np.eye(int(active.sum()))), Ja.T @ r0)
            step[:] = 0.0
            step[active] = sa
            out = [
                i
                for i, k in enumerate(free)
                if active[i]
                and ((p[k] <= BOUNDS[k][0] + 1e-6 and step[i] < 0) or (p[k] >= BOUNDS[k][1] - 1e-6 and step[i] > 0))
            ]
            if not out:
                break
            active[out] = False
        step = np.clip(step, -0.25, 0.25)
        for i, k in enumerate(free):
            p[k] = float(np.clip(p[k] + step[i], *BOUNDS[k]))
        if np.abs(step).max() < 2e-3:
            break
    rest = body.rest_batch([p])[0]
    m = measure_mesh(rest, body)
    r = resid(_model_values(m), p)
    if best is not None and best[0] < r @ r:
        _, p, m = best
    return p, m
