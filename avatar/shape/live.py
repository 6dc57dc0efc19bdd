"""Shape refined from live frames: `LiveShapeEstimator` accumulates per-frame width ratios over the first
seconds and solves once from their medians, so one bad frame does not decide the shape."""

from __future__ import annotations

import numpy as np

from avatar.body import get_body_model, measure_mesh
from avatar.shape.silhouette import silhouette_ratios
from avatar.shape.solver import solve_phenotype
from avatar.types import MEASUREMENT_KEYS, BodyShape, Tracking


class LiveShapeEstimator:
    """Accumulates silhouette-width ratios from live frames (every `every`-th confident frame) for the first
    `seconds`, then solves once from the medians. `update()` returns the refined shape once, else None."""

    def __init__(
        self, shape: BodyShape, height_cm: float, seconds: float = 3.0, every: int = 5, max_samples: int = 30
    ) -> None:
        self.shape, self.height_cm = shape, height_cm
        self.seconds, self.every, self.max_samples = seconds, every, max_samples
        self.samples: dict[str, list[float]] = {"chest_cm": [], "waist_cm": [], "hips_cm": []}
        self.t_start: float | None = None
        self.n = 0
        self.done = False

    def update(self, tracking: Tracking, posed) -> BodyShape | None:
        if self.done or not tracking.present or tracking.mask is None or tracking.confidence < 0.6:
            return None
        t = tracking.timestamp_ms / 1000.0
        self.t_start = t if self.t_start is None else self.t_start
        self.n += 1
        if self.n % self.every == 0 and posed is not None:
            for k, r in silhouette_ratios(posed, tracking).items():
                if len(self.samples[k]) < self.max_samples:
                    self.samples[k].append(r)
        if t - self.t_start < self.seconds:
            return None
        self.done = True
        m = self.shape.measurements or measure_mesh(get_body_model().rest(self.shape))
        targets = {"height_cm": self.height_cm}
        sigmas = {"height_cm": 0.2}
        for k, rs in self.samples.items():
            if len(rs) >= 3:
                targets[k] = float(getattr(m, k)) * float(np.clip(np.median(rs), 0.7, 1.4))
                sigmas[k] = 1.0
        if len(targets) == 1:
            return None
        ph, m2 = solve_phenotype(targets, sigmas, init=self.shape.phenotype, iterations=5)
        m2.uncertainty_cm = {k: 3.0 for k in MEASUREMENT_KEYS} | {"height_cm": 0.5}
        self.shape = BodyShape(ph, rest_vertices=get_body_model().rest(ph).vertices, measurements=m2, source="live")
        return self.shape
