"""The population prior of the photo fit: anny phenotypes of ANSUR II subjects, per sex
(scripts/fit_phenotype_prior.py), shipped as avatar/phenotype_prior.json."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from fitmirror.errors import ModelUnavailableError

# Population prior of the photo fit: mean and covariance of anny phenotypes fitted to ANSUR II subjects, per sex
# (scripts/fit_phenotype_prior.py). Along directions the front silhouette hardly sees (the torso's depth), it
# picks the likelier body instead of the middle of anny's range.
PRIOR_PATH = Path(__file__).parents[1] / "phenotype_prior.json"  # avatar/
PRIOR_KEYS = ("age", "muscle", "weight", "height", "proportions")
PRIOR_COV_FLOOR = 0.01  # variance added to every key: bodies at a bound of anny's range give near-zero variances


@functools.lru_cache(maxsize=1)
def population_prior() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{sex: (mean, whitening matrix W with W.T @ W = inverse covariance)}; "any" pools both sexes."""
    import json

    if not PRIOR_PATH.is_file():
        raise ModelUnavailableError(
            f"the phenotype prior {PRIOR_PATH.name} is missing", hint="run scripts/fit_phenotype_prior.py"
        )
    d = json.loads(PRIOR_PATH.read_text())
    if tuple(d["keys"]) != PRIOR_KEYS:
        raise ModelUnavailableError(f"{PRIOR_PATH.name} has keys {d['keys']}, expected {list(PRIOR_KEYS)}")
    out = {}
    for sex in ("female", "male"):
        out[sex] = (np.array(d[sex]["mean"]), np.array(d[sex]["cov"]))
    # pooled: equal mixture of the two (mean of means, covariance incl. the spread between them)
    mf, cf = out["female"]
    mm, cm = out["male"]
    mean = (mf + mm) / 2
    out["any"] = (mean, (cf + cm) / 2 + (np.outer(mf - mean, mf - mean) + np.outer(mm - mean, mm - mean)) / 2)
    res = {}
    for k, (mu, cov) in out.items():
        L = np.linalg.cholesky(cov + PRIOR_COV_FLOOR * np.eye(len(mu)))
        res[k] = (mu, np.linalg.inv(L))
    return res
