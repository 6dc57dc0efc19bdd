"""Girths from height and weight (and sex): a linear regression fitted on ANSUR II
(scripts/fit_girth_regression.py), shipped as avatar/girth_regression.json; its residual spread is the stated
uncertainty of the girths the user did not type."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fitmirror.errors import ModelUnavailableError


@dataclass
class GirthRegression:
    coef: dict[str, np.ndarray]  # key -> coefficients on features
    sigma: dict[str, float]  # residual std (cm)
    with_sex: bool

    @staticmethod
    def features(height_cm, weight_kg, female=None) -> np.ndarray:
        h = np.atleast_1d(np.asarray(height_cm, np.float64))
        w = np.atleast_1d(np.asarray(weight_kg, np.float64))
        cols = [np.ones_like(h), h, w, w / (h / 100) ** 2, np.sqrt(w / h)]
        if female is not None:
            cols.append(np.atleast_1d(np.asarray(female, np.float64)) * np.ones_like(h))
        return np.stack(cols, 1)

    def predict(self, height_cm: float, weight_kg: float, female: float | None = None) -> dict[str, float]:
        x = self.features(height_cm, weight_kg, female if self.with_sex else None)
        return {k: float((x @ c)[0]) for k, c in self.coef.items()}


GIRTH_KEYS = ("chest_cm", "waist_cm", "hips_cm", "inseam_cm", "shoulder_width_cm", "arm_length_cm")


# The regression's coefficients, fitted on ANSUR II by scripts/fit_girth_regression.py and shipped with the package:
# a server has no ../shared/data (the Docker image, a Kubernetes pod), and typed measurements must still fit there.
GIRTH_REGRESSION_PATH = Path(__file__).parents[1] / "girth_regression.json"  # avatar/


@functools.cache
def girth_regression(with_sex: bool) -> GirthRegression:
    import json

    if not GIRTH_REGRESSION_PATH.is_file():
        raise ModelUnavailableError(
            f"{GIRTH_REGRESSION_PATH.name} is missing from the avatar package",
            hint="reinstall fitmirror, or rebuild it: python scripts/fit_girth_regression.py",
        )
    doc = json.loads(GIRTH_REGRESSION_PATH.read_text())["with_sex" if with_sex else "without_sex"]
    coef = {k: np.asarray(doc["coef"][k], np.float64) for k in GIRTH_KEYS}
    return GirthRegression(coef, {k: float(doc["sigma"][k]) for k in GIRTH_KEYS}, with_sex)


def estimate_from_height_weight(height_cm: float, weight_kg: float, sex: str | None = None):
    """(girths, one-sigma uncertainties) predicted from height and weight (and sex when given)."""
    female = None if sex is None else (1.0 if sex == "female" else 0.0)
    reg = girth_regression(female is not None)
    return reg.predict(height_cm, weight_kg, female), dict(reg.sigma)
