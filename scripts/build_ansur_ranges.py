"""Build avatar/data/ansur_ranges.json: the observed range (min, max) of height, weight, chest, waist, hips,
inseam and BMI over every ANSUR II subject (../shared/data/ansur-ii, US public domain), which
`avatar.shape.plausible_ranges` widens into the human ranges that typed measurements are checked against.
Shipped with the package, so a server without ../shared/data (the Docker image, a Kubernetes pod) checks input
against the same ranges; only these few derived numbers ship, never the survey itself.

    .venv/bin/python scripts/build_ansur_ranges.py          # (re)write the file
    .venv/bin/python scripts/build_ansur_ranges.py --check  # exit 1 if the shipped file differs from a fresh build
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from avatar.shape import ANSUR_RANGES_RESOURCE, ansur
from avatar.shape.ranges import RANGE_KEYS

OUT = Path(__file__).resolve().parents[1] / "avatar" / Path(*ANSUR_RANGES_RESOURCE)


def observed(a: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """{key: [min, max]} in cm / kg (floats as numpy gives them: JSON keeps them exactly)."""
    out = {k: [float(a[k].min()), float(a[k].max())] for k in RANGE_KEYS}
    bmi = a["weight_kg"] / (a["height_cm"] / 100) ** 2
    out["bmi"] = [float(bmi.min()), float(bmi.max())]
    return out


def build() -> dict:
    a = ansur()
    if a is None:
        raise SystemExit("ANSUR II not found under ../shared/data/ansur-ii")
    return {
        "source": "ANSUR II (US public domain), all subjects, both sexes; built by scripts/build_ansur_ranges.py",
        "subjects": len(a["height_cm"]),
        "units": "cm, kg; bmi in kg/m^2",
        "observed": observed(a),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = ap.parse_args()
    doc = build()
    text = json.dumps(doc, indent=1) + "\n"
    if args.check:
        if not OUT.is_file() or json.loads(OUT.read_text()) != doc:
            raise SystemExit(f"{OUT} differs from a fresh build: run python scripts/build_ansur_ranges.py")
        print(f"{OUT} is up to date ({doc['subjects']} subjects)")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({doc['subjects']} subjects)")


if __name__ == "__main__":
    main()
