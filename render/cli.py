"""`python -m render.cli` (or `fitmirror render` once registered): render the anny body with stand-in garments to
PNG, to check the renderer, a layout or the lighting on this machine without the server."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fitmirror.errors import InputError
from render.cameras import VIEW_AZIMUTH_DEG
from render.renderer import LAYOUTS


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fitmirror render", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("render.png"), help="PNG path (tracks: one file per view)")
    ap.add_argument("--views", default="front,three_quarter,left,back,right", help=", ".join(VIEW_AZIMUTH_DEG))
    ap.add_argument("--layout", default="mosaic", choices=LAYOUTS)
    ap.add_argument("--size", type=int, default=384, help="side of one view in pixels")
    ap.add_argument("--transparent", action="store_true", help="transparent background (RGBA PNG)")
    ap.add_argument("--fit-map", action="store_true", help="show a demo fit-map overlay on the shirt")
    args = ap.parse_args(argv)
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    if not views:
        raise InputError("no views given")

    from PIL import Image

    from render.demo_scene import anny_scene
    from render.renderer import Renderer
    from render.scene import fit_map_colors

    scene, _, _ = anny_scene()
    if args.transparent:
        scene.background = None
    if args.fit_map:
        shirt = scene.meshes[1]
        y = shirt.vertices[:, 1]
        shirt.overlay = fit_map_colors(y - y.mean(), -0.15, 0.15)
        scene.meshes = scene.meshes[:2]
    with Renderer() as r:
        t0 = time.perf_counter()
        out = r.render_views(scene, views, args.layout, args.size)
        ms = (time.perf_counter() - t0) * 1e3
        print(f"{r.renderer_string}: {args.layout} {out.image.shape[1]}x{out.image.shape[0]} in {ms:.0f} ms")
    if args.layout == "tracks":
        for name, img in zip(out.view_names, out.views, strict=True):
            p = args.out.with_name(f"{args.out.stem}_{name}{args.out.suffix}")
            Image.fromarray(img).save(p)
            print(p)
    else:
        Image.fromarray(out.image).save(args.out)
        print(args.out)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
