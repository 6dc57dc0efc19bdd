"""Body shape from one photo plus the person's height (which fixes the scale): `shape_from_photo` runs one of
two methods, measured side by side in benchmarks/avatar.py: "widths" (avatar/shape/photo_widths.py, the default) or
"silhouette" (avatar/shape/photo_silhouette.py). Clothing widens the silhouette, so girths from clothed photos are
biased upwards (stated in the uncertainty)."""

from __future__ import annotations

import time

from avatar.body import get_body_model, measure_mesh
from avatar.shape.measurements import shape_from_measurements
from avatar.shape.photo_silhouette import silhouette_fit
from avatar.shape.photo_widths import _widths_fit
from avatar.shape.ranges import check_plausible
from avatar.shape.solver import solve_phenotype
from avatar.types import MEASUREMENT_KEYS, BodyShape, Tracking
from fitmirror.errors import InputError

PHOTO_METHODS = ("widths", "silhouette")


def shape_from_photo(
    tracking: Tracking,
    height_cm: float,
    weight_kg: float | None = None,
    sex: str | None = None,
    rounds: int = 2,
    method: str = "widths",
) -> BodyShape:
    """Fit shape to one photo's mask and landmarks, given the person's height (which fixes the scale).
    `method`: "widths" (row widths, the default: measured more accurate, see docs/avatar.md) or "silhouette"
    (differentiable silhouette + landmarks through render/diff.py)."""
    if not tracking.present or tracking.mask is None:
        raise InputError("shape from a photo needs a tracked person with a segmentation mask")
    if method not in PHOTO_METHODS:
        raise InputError(f"unknown shape-from-photo method {method!r}", hint=f"one of {', '.join(PHOTO_METHODS)}")
    check_plausible(height_cm, weight_kg)
    t0 = time.perf_counter()
    fixed = {} if sex is None else {"gender": 1.0 if sex == "female" else 0.0}
    if weight_kg is not None:
        shape = shape_from_measurements(height_cm, weight_kg, sex=sex)
    else:
        ph, m = solve_phenotype({"height_cm": height_cm}, {"height_cm": 0.2}, fixed=fixed, iterations=5)
        shape = BodyShape(ph, measurements=m, source="photo")
    info: dict = {"method": method}
    if method == "silhouette":
        info["rounds"] = []
        for _ in range(rounds):
            ph, fit = silhouette_fit(shape, tracking, height_cm, fixed=fixed, weight_kg=weight_kg)
            info["rounds"].append(fit)
            shape = BodyShape(ph, source="photo")
        shape.measurements = measure_mesh(get_body_model().rest(shape))
    else:
        shape, widths_info = _widths_fit(shape, tracking, height_cm, weight_kg, fixed, rounds)
        info.update(widths_info)
    m = shape.measurements
    assert m is not None
    unc = {k: 4.0 for k in MEASUREMENT_KEYS}
    unc["height_cm"] = 0.5
    m.uncertainty_cm = unc
    shape.rest_vertices = get_body_model().rest(shape).vertices
    shape.source = "photo"
    info["seconds"] = time.perf_counter() - t0
    shape.fit_info = info  # type: ignore[attr-defined]
    return shape
