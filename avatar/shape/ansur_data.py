"""ANSUR II raw data (../shared/data/ansur-ii, US public domain), for offline use only: the benchmarks
(benchmarks/avatar.py), the scripts that build the package's shipped data (scripts/build_ansur_ranges.py,
fit_girth_regression.py, fit_phenotype_prior.py) and tests. Nothing at run time reads it: a server has no
../shared/data (the Docker image, a Kubernetes pod); what it needs from ANSUR II ships with the package as JSON
(avatar/data/ansur_ranges.json, avatar/girth_regression.json, avatar/phenotype_prior.json)."""

from __future__ import annotations

import functools

import numpy as np

from avatar.shape.measurements import shape_from_measurements
from avatar.types import BodyShape
from fitmirror.config import SHARED_DATA
from fitmirror.errors import ModelUnavailableError

ANSUR_DIR = SHARED_DATA / "ansur-ii"


ANSUR_COLUMNS = {  # our key -> ANSUR II column (mm)
    "height_cm": "stature",
    "chest_cm": "chestcircumference",
    "waist_cm": "waistcircumference",
    "hips_cm": "buttockcircumference",
    "inseam_cm": "crotchheight",
    "shoulder_width_cm": "biacromialbreadth",
}


@functools.cache
def ansur() -> dict[str, np.ndarray] | None:
    """ANSUR II as arrays in cm / kg (both sexes; 'female' is 1.0 for women), or None when not available."""
    import pandas as pd

    frames = []
    for name, female in (("MALE", 0.0), ("FEMALE", 1.0)):
        p = ANSUR_DIR / f"ANSUR II {name} Public.csv"
        if not p.exists():
            return None
        d = pd.read_csv(p, encoding="latin-1")
        d["female"] = female
        frames.append(d)
    d = pd.concat(frames, ignore_index=True)
    out = {k: d[c].to_numpy(np.float64) / 10.0 for k, c in ANSUR_COLUMNS.items()}
    out["arm_length_cm"] = (d["acromionradialelength"] + d["radialestylionlength"]).to_numpy(np.float64) / 10.0
    out["weight_kg"] = d["weightkg"].to_numpy(np.float64) / 10.0
    out["female"] = d["female"].to_numpy(np.float64)
    return out


def ansur_subject_shape(i: int) -> BodyShape:
    """anny's body for ANSUR II subject i: fitted to their measured height, weight, chest, waist and hips (the
    synthetic ground truth of benchmarks/avatar.py and the samples of the population prior)."""
    a = ansur()
    if a is None:
        raise ModelUnavailableError("ANSUR II is not on disk", hint=f"expected under {ANSUR_DIR}")
    return shape_from_measurements(
        a["height_cm"][i],
        a["weight_kg"][i],
        chest_cm=a["chest_cm"][i],
        waist_cm=a["waist_cm"][i],
        hips_cm=a["hips_cm"][i],
        sex="female" if a["female"][i] > 0.5 else "male",
    )
