"""Build avatar/phenotype_prior.json: the population prior of the photo fit (avatar/shape.py, `_rows_fit`).

ANSUR II subjects (US public domain) from the EVEN rows only (benchmarks/avatar.py tests on the odd rows) are fitted
to anny's phenotypes from their measured height, weight, chest, waist and hips (`shape_from_measurements`); the mean
and covariance of the resulting phenotypes, per sex, are written. About 0.5-1 s per subject on the CPU.

    .venv/bin/python scripts/fit_phenotype_prior.py [--per-sex 120]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from avatar.shape import PRIOR_KEYS, PRIOR_PATH, ansur, ansur_subject_shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-sex", type=int, default=120)
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args()
    a = ansur()
    if a is None:
        raise SystemExit("ANSUR II not found under ../shared/data/ansur-ii")
    rng = np.random.default_rng(args.seed)
    even = np.arange(0, len(a["height_cm"]), 2)
    out: dict = {
        "source": "ANSUR II (US public domain), even rows, fitted with shape_from_measurements",
        "keys": list(PRIOR_KEYS),
    }
    t0 = time.monotonic()
    for sex in ("female", "male"):
        pool = even[(a["female"][even] > 0.5) == (sex == "female")]
        rows = []
        for n, i in enumerate(rng.choice(pool, args.per_sex, replace=False)):
            s = ansur_subject_shape(int(i))
            rows.append([s.phenotype[k] for k in PRIOR_KEYS])
            if n % 20 == 19:
                print(f"{sex}: {n + 1}/{args.per_sex} subjects, {time.monotonic() - t0:.0f} s", flush=True)
        x = np.array(rows)
        out[sex] = {"n": len(rows), "mean": x.mean(0).round(4).tolist(), "cov": np.cov(x.T).round(5).tolist()}
    PRIOR_PATH.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {PRIOR_PATH}")


if __name__ == "__main__":
    main()
