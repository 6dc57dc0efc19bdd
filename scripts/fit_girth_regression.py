"""Build avatar/girth_regression.json: girths from height and weight (and sex), the least-squares regression on
every ANSUR II subject (US public domain) that `avatar.shape.estimate_from_height_weight` and the typed-measurement
fit use. Shipped with the package, so a server without ../shared/data (the Docker image, a Kubernetes pod) can
fit typed measurements.

    .venv/bin/python scripts/fit_girth_regression.py
"""

from __future__ import annotations

import json

import numpy as np

from avatar.shape import GIRTH_KEYS, GIRTH_REGRESSION_PATH, GirthRegression, ansur


def fit(a: dict[str, np.ndarray], with_sex: bool) -> dict:
    x = GirthRegression.features(a["height_cm"], a["weight_kg"], a["female"] if with_sex else None)
    out: dict = {"coef": {}, "sigma": {}}
    for k in GIRTH_KEYS:
        c = np.linalg.lstsq(x, a[k], rcond=None)[0]
        out["coef"][k] = [float(v) for v in c]
        out["sigma"][k] = float(np.std(a[k] - x @ c))
    return out


def main() -> None:
    a = ansur()
    if a is None:
        raise SystemExit("ANSUR II not found under ../shared/data/ansur-ii")
    doc = {
        "source": "ANSUR II (US public domain), all subjects, least squares on GirthRegression.features",
        "subjects": len(a["height_cm"]),
        "features": "1, height_cm, weight_kg, BMI, sqrt(weight_kg / height_cm)[, female]",
        "without_sex": fit(a, False),
        "with_sex": fit(a, True),
    }
    GIRTH_REGRESSION_PATH.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {GIRTH_REGRESSION_PATH} ({doc['subjects']} subjects)")


if __name__ == "__main__":
    main()
