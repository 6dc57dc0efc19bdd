"""Plausibility of typed measurements: human ranges derived from ANSUR II (its observed min/max widened by a
margin: soldiers are a narrower population than shoppers), and `check_plausible`. The observed ranges ship with
the package as avatar/data/ansur_ranges.json (built from ../shared/data/ansur-ii by scripts/build_ansur_ranges.py):
run time reads only that file."""

from __future__ import annotations

import functools
import importlib.resources
import json

import numpy as np

from fitmirror.errors import ImplausibleMeasurementError, ModelUnavailableError

# ANSUR II's observed range of each of these (and of the BMI), in cm / kg, as shipped in the avatar package
ANSUR_RANGES_RESOURCE = ("data", "ansur_ranges.json")
RANGE_KEYS = ("height_cm", "weight_kg", "chest_cm", "waist_cm", "hips_cm", "inseam_cm")


@functools.cache
def ansur_observed_ranges() -> dict[str, tuple[float, float]]:
    """{key: (min, max)} over all ANSUR II subjects, for RANGE_KEYS and "bmi" (avatar/data/ansur_ranges.json)."""
    f = importlib.resources.files("avatar").joinpath(*ANSUR_RANGES_RESOURCE)
    if not f.is_file():
        raise ModelUnavailableError(
            f"{'/'.join(ANSUR_RANGES_RESOURCE)} is missing from the avatar package",
            hint="reinstall fitmirror, or rebuild it: python scripts/build_ansur_ranges.py",
        )
    observed = json.loads(f.read_text())["observed"]
    return {k: (float(observed[k][0]), float(observed[k][1])) for k in (*RANGE_KEYS, "bmi")}


@functools.cache
def plausible_ranges() -> dict[str, tuple[float, float]]:
    a = ansur_observed_ranges()
    r = {}
    for k in RANGE_KEYS:
        lo, hi = a[k]
        r[k] = (round(lo * 0.85, 1), round(hi * 1.15, 1))
    lo, hi = a["bmi"]
    r["bmi"] = (round(lo * 0.8, 1), round(hi * 1.3, 1))
    return r


def check_plausible(height_cm: float, weight_kg: float | None = None, **girths: float | None) -> None:
    """Raise ImplausibleMeasurementError naming the first value outside human ranges."""
    r = plausible_ranges()
    vals = {"height_cm": height_cm, "weight_kg": weight_kg, **girths}
    for k, v in vals.items():
        if v is None:
            continue
        if not np.isfinite(v):
            raise ImplausibleMeasurementError(f"{k} is not a number")
        lo, hi = r.get(k, (0, 1e9))
        if not lo <= v <= hi:
            unit = "kg" if k.endswith("kg") else "cm"
            raise ImplausibleMeasurementError(
                f"{k.rsplit('_', 1)[0]} = {v:g} {unit} is outside the human range {lo:g}-{hi:g} {unit}",
                hint="check the units: heights and girths in centimetres, weight in kilograms",
            )
    if weight_kg is not None:
        bmi = weight_kg / (height_cm / 100) ** 2
        lo, hi = r["bmi"]
        if not lo <= bmi <= hi:
            raise ImplausibleMeasurementError(
                f"height {height_cm:g} cm with weight {weight_kg:g} kg gives a body-mass index of {bmi:.0f}, "
                f"outside the human range {lo:g}-{hi:g}",
                hint="check the units: height in centimetres, weight in kilograms",
            )
    c, w, h = girths.get("chest_cm"), girths.get("waist_cm"), girths.get("hips_cm")
    if c and h and not 0.6 < c / h < 1.6:
        raise ImplausibleMeasurementError(f"chest {c:g} cm and hips {h:g} cm are too different for one body")
    if w and h and not 0.5 < w / h < 1.5:
        raise ImplausibleMeasurementError(f"waist {w:g} cm and hips {h:g} cm are too different for one body")
