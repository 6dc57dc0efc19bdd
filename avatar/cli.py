"""`fitmirror avatar fit --image PATH --height-cm N [--method widths|silhouette] [--json]` and
`fitmirror avatar measure --height-cm N --weight-kg N [--chest-cm ...] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fitmirror.errors import InputError


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    if "landmarks" in result:
        lms = result["landmarks"]
        print(f"landmarks: {len(lms)} found")
    print("shape: " + ", ".join(f"{k}={v}" for k, v in result["shape"]["phenotype"].items()))
    unc = result["measurements"].get("uncertainty_cm", {})
    for k, v in result["measurements"].items():
        if k == "uncertainty_cm":
            continue
        u = unc.get(k)
        print(f"  {k:<18} {v}" + (f"  (± {u})" if u is not None else ""))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fitmirror avatar", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    fit = sub.add_parser("fit", help="fit a body to a photo of one person, given their height")
    fit.add_argument("--image", required=True, type=Path)
    fit.add_argument("--height-cm", required=True, type=float)
    fit.add_argument("--weight-kg", type=float)
    fit.add_argument("--sex", choices=["female", "male"])
    fit.add_argument("--overlay", type=Path, help="write a PNG of the fitted body over the photo")
    fit.add_argument(
        "--method",
        choices=["widths", "silhouette"],
        default="widths",
        help="shape from the mask's row widths (default) or a differentiable silhouette fit",
    )
    fit.add_argument("--json", action="store_true")
    me = sub.add_parser("measure", help="fit a body to typed measurements")
    me.add_argument("--height-cm", required=True, type=float)
    me.add_argument("--weight-kg", type=float)
    for k in ("chest", "waist", "hips", "inseam"):
        me.add_argument(f"--{k}-cm", type=float)
    me.add_argument("--sex", choices=["female", "male"])
    me.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    if args.cmd == "measure":
        from avatar.shape import shape_from_measurements

        shape = shape_from_measurements(
            args.height_cm,
            args.weight_kg,
            chest_cm=args.chest_cm,
            waist_cm=args.waist_cm,
            hips_cm=args.hips_cm,
            inseam_cm=args.inseam_cm,
            sex=args.sex,
        )
        assert shape.measurements is not None
        _print({"shape": shape.to_json(), "measurements": shape.measurements.to_json()}, args.json)
        return 0

    from avatar.shape import check_plausible, shape_from_photo
    from avatar.tracking import load_image, track_image

    check_plausible(args.height_cm, args.weight_kg)
    rgb = load_image(args.image)
    tr = track_image(rgb)
    shape = shape_from_photo(tr, args.height_cm, args.weight_kg, sex=args.sex, method=args.method)
    assert shape.measurements is not None
    if args.overlay:
        from avatar.overlay import draw_overlay, save_png
        from avatar.pose import PoseSolver

        posed = PoseSolver(shape, smoothing=0.0).solve(tr)
        try:
            save_png(draw_overlay(rgb, posed, tr), args.overlay)
        except OSError as e:
            raise InputError(f"cannot write {args.overlay}: {e}") from e
    out = {
        "landmarks": tr.to_json()["landmarks"],
        "tracking": {"confidence": round(tr.confidence, 3), "lower_body_visible": tr.lower_body_visible},
        "shape": shape.to_json(),
        "measurements": shape.measurements.to_json(),
    }
    _print(out, args.json)
    if not tr.lower_body_visible:
        print("note: legs not visible; inseam and hips are estimates", file=sys.stderr)
    return 0
