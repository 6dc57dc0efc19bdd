"""Body shape from typed measurements (height required). Girths the user did not type are estimated from height
and weight by the ANSUR II regression (avatar/shape/girths.py) and enter the fit with that lower weight; the
values are checked against human ranges first (avatar/shape/ranges.py)."""

from __future__ import annotations

import numpy as np

from avatar.body import BodyModel, get_body_model
from avatar.shape.girths import estimate_from_height_weight
from avatar.shape.ranges import check_plausible
from avatar.shape.solver import solve_phenotype
from avatar.types import MEASUREMENT_KEYS, BodyShape, Measurements
from fitmirror.errors import InputError

GIRTHS = ("chest_cm", "waist_cm", "hips_cm", "inseam_cm")


def shape_from_measurements(
    height_cm: float,
    weight_kg: float | None = None,
    chest_cm: float | None = None,
    waist_cm: float | None = None,
    hips_cm: float | None = None,
    inseam_cm: float | None = None,
    sex: str | None = None,
    body: BodyModel | None = None,
) -> BodyShape:
    """Fit a body to typed measurements. Height is required; weight lets the other girths be estimated.
    Raises ImplausibleMeasurementError for values no human has."""
    if sex not in (None, "female", "male"):
        raise InputError(f"sex must be 'female', 'male' or omitted, not {sex!r}")
    given = {"chest_cm": chest_cm, "waist_cm": waist_cm, "hips_cm": hips_cm, "inseam_cm": inseam_cm}
    check_plausible(height_cm, weight_kg, **given)
    targets: dict[str, float] = {"height_cm": float(height_cm)}
    sigmas: dict[str, float] = {"height_cm": 0.1}
    unc: dict[str, float] = {"height_cm": 0.5}
    if weight_kg is not None:
        targets["weight_kg"] = float(weight_kg)
        # anny's mass from volume is the least certain target once girths are typed
        # (the ANSUR regression already turns weight into girths; anny's volume-based mass runs ~10 % light for
        # real girths, so a tight mass target would inflate every girth)
        sigmas["weight_kg"] = 8.0
        est, est_sig = estimate_from_height_weight(height_cm, weight_kg, sex)
        for k in GIRTHS:
            if given[k] is None:
                targets[k], sigmas[k] = est[k], est_sig[k]
                unc[k] = est_sig[k]
    for k, v in given.items():
        if v is not None:
            targets[k], sigmas[k] = float(v), 0.2
            unc[k] = 0.5
    fixed = {} if sex is None else {"gender": 1.0 if sex == "female" else 0.0}
    ph, m_mesh = solve_phenotype(targets, sigmas, fixed=fixed, body=body, iterations=10)
    # Reported measurements: typed values as typed, untyped girths from the ANSUR II regression (about 3 cm MAE,
    # better than the anny mesh, whose shape space cannot follow every combination: see docs/avatar.md);
    # the mesh's own tape measurements stay in `mesh_measurements`.
    m = Measurements(**{k: float(getattr(m_mesh, k)) for k in MEASUREMENT_KEYS}, weight_kg=m_mesh.weight_kg)
    if weight_kg is not None:
        m.weight_kg = float(weight_kg)
    for k in MEASUREMENT_KEYS:
        unc.setdefault(k, 3.0 if k not in ("shoulder_width_cm", "arm_length_cm") else 2.5)
        if k in targets:
            setattr(m, k, float(targets[k]) if k != "height_cm" else float(m_mesh.height_cm))
            if given.get(k) is not None or k == "height_cm":  # what the mesh could not reach adds uncertainty
                unc[k] = float(np.hypot(unc[k], getattr(m_mesh, k) - targets[k]))
    m.uncertainty_cm = {k: round(v, 2) for k, v in unc.items()}
    m_mesh.uncertainty_cm = {k: round(abs(getattr(m_mesh, k) - getattr(m, k)) + unc[k], 2) for k in MEASUREMENT_KEYS}
    rest = (body or get_body_model()).rest(ph)
    return BodyShape(
        phenotype=ph, rest_vertices=rest.vertices, measurements=m, source="measurements", mesh_measurements=m_mesh
    )
