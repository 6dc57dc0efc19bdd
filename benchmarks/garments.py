"""Garment benchmark: every demo product in every size on bodies sampled from ANSUR II.

Reports drape time, penetration (share of garment vertices inside the body), failures, fit-summary
consistency (a larger size never has less chart ease, nor a smaller draped girth) and per-frame posing time;
renders each category on two body shapes to bench/out/ for a person to look at.
quick: 2 bodies (one woman, one man), sizes XS/M/XXL. Full: 20 bodies (10 + 10), all sizes. Bodies are dressed
in parallel worker processes (one per core by default: each drape uses one torch thread); the posing is timed in
the main process afterwards, so the timings do not share the CPU with the drapes. `budget_s` stops starting
bodies once that much wall time has passed (the results say how many were done), and each finished body writes
bench/out/garments_partial.json.
`python -m benchmarks.garments [--quick] [--bodies N] [--budget-s S] [--workers W]`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import OUT, REPO_ROOT, ansur_people, load_avg, save_contact_sheet, show, time_calls, write_json


def sample_ansur(n: int, seed: int = 7) -> list[dict]:
    """n subjects, half women half men, with the tape measurements a shop would ask for (cm, kg)."""
    rows = []
    rng = np.random.default_rng(seed)
    for sex, k in (("female", (n + 1) // 2), ("male", n // 2)):
        df = ansur_people(sex)
        for i in rng.choice(len(df), k, replace=False):
            r = df.iloc[int(i)]
            rows.append(
                {"subject": int(r["subject"]), "sex": sex}
                | {c: float(r[c]) for c in ("height_cm", "weight_kg", "chest_cm", "waist_cm", "hips_cm")}
            )
    return rows


def _body(m: dict):
    from avatar.body import get_body_model
    from avatar.shape import shape_from_measurements

    bm = get_body_model()
    shape = shape_from_measurements(
        m["height_cm"], m["weight_kg"], m["chest_cm"], m["waist_cm"], m["hips_cm"], sex=m["sex"], body=bm
    )
    return np.asarray(shape.rest_vertices, np.float32), bm.faces, shape


def _arms_lowered(shape, deg: float) -> np.ndarray:
    """Posed vertices (camera frame) with both arms lowered `deg` from the A-pose, via avatar.body."""
    from avatar.body import get_body_model

    bm = get_body_model()
    g = np.repeat(np.eye(3, dtype=np.float32)[None], len(bm.bone_names), 0)
    for i, name in enumerate(bm.bone_names):
        if name.startswith(("upperarm", "lowerarm", "wrist", "finger", "metacarpal")):
            th = np.deg2rad(deg) * (-1 if name.endswith(".L") else 1)
            g[i] = [[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]]
    v, _, _ = bm.pose_world_orient(bm.rest(shape), g, np.array([0, 0, -3.0], np.float32), np.eye(3, dtype=np.float32))
    return v


def _render(path: Path, bodies, outfits) -> None:
    """Front + side views of one outfit per body, via render/ (moderngl) or the preview painter."""
    tiles = []
    try:
        from render.renderer import Renderer
        from render.scene import Mesh, Scene

        with Renderer() as r:
            for (v, f), o in zip(bodies, outfits, strict=True):
                sc = Scene([Mesh("body", v, f, base_color=(0.86, 0.7, 0.6))] + [m.to_render_mesh() for m in o.meshes])
                tiles.append(r.render_views(sc, ["front", "left"], "mosaic", 320).image)
    except Exception:
        from avatar.garments.preview import render_meshes

        skin = np.array([0.86, 0.7, 0.6], np.float32)
        for (v, f), o in zip(bodies, outfits, strict=True):
            ms = [(v, f, skin)] + [(m.vertices, m.faces, m.colors) for m in o.meshes]
            tiles.append(np.concatenate([render_meshes(ms, (240, 320)), render_meshes(ms, (240, 320), yaw_deg=90)], 1))
    save_contact_sheet(tiles, path)


def _inside(col, meshes) -> float:
    return sum(col.inside_fraction(m.vertices) * len(m.vertices) for m in meshes) / sum(len(m.vertices) for m in meshes)


def _timed_ms(fn, n: int = 10) -> float:
    """Median wall ms of n calls after one untimed call."""
    return time_calls(fn, n, warmup=1)["median_ms"]


def _dress_body(bi: int, subj: dict, sizes: tuple[str, ...], keep_renders: bool) -> dict:
    """One body: every product in every size (a worker process's task). Returns plain lists plus the outfits the
    main process poses (t-shirt + jeans, blouse + chinos + blazer) and renders."""
    from avatar.garments import Dresser
    from fitmirror.demo_catalog import demo_product, demo_products

    products = list(demo_products())
    r = {"bi": bi, "drape_s": [], "drape_cpu_s": [], "inside": [], "cats": [], "fails": [], "violations": []}
    t0 = time.perf_counter()
    v, f, shape = _body(subj)
    r["fit_s"] = time.perf_counter() - t0
    dresser = Dresser(v, f)
    a = dresser.body
    renders = {}
    for p in products:
        prev = None
        for size in sizes:
            try:
                o = dresser.dress([(p, size)])
            except Exception as e:
                r["fails"].append(f"body {bi} {p.id} {size}: {type(e).__name__}: {e}")
                continue
            st = o.drape_stats[0]
            r["drape_s"].append(st.seconds)
            r["drape_cpu_s"].append(st.cpu_seconds)
            r["inside"].append(st.inside_fraction)
            r["cats"].append(p.category)
            if st.inside_fraction >= 0.01:
                r["fails"].append(f"body {bi} {p.id} {size}: {st.inside_fraction:.1%} inside the body")
            y = a.hip_y if p.category in ("skirt", "trousers", "jeans", "shorts") else a.chest_y
            girth = o.meshes[0].body_girth_cm(y)
            cur = (size, o.fits[0], girth)
            if prev is not None:
                for rg in prev[1].regions:
                    e = cur[1].ease(rg.region)
                    if rg.region in ("chest", "waist", "hips", "thigh") and e is not None and e < rg.ease_cm:
                        r["violations"].append(
                            f"body {bi} {p.id}: {rg.region} ease {prev[0]} {rg.ease_cm} > {size} {e}"
                        )
                if girth < prev[2] - 0.5:
                    r["violations"].append(
                        f"body {bi} {p.id}: draped girth {prev[0]} {prev[2]:.1f} > {size} {girth:.1f}"
                    )
            prev = cur
            if keep_renders and size == "M":
                renders[p.category] = o
    r["renders"] = renders
    r["body"] = (v, f)
    r["posed"] = _arms_lowered(shape, 30.0)
    r["o2"] = dresser.dress([(products[0], "M"), (next(x for x in products if x.category == "jeans"), "M")])
    r["o3"] = dresser.dress(
        [
            (demo_product("blouse-silk"), "M"),
            (demo_product("trousers-chino"), "M"),
            (demo_product("jacket-blazer"), "M"),
        ]
    )
    return r


def _bodies(subjects: list[dict], sizes, workers: int, budget_s: float | None, t_all: float):
    """Yields each body's results in order, from `workers` processes (spawned: torch and Warp are not fork-safe);
    bodies not started within `budget_s` are cancelled."""
    if workers <= 1:
        for bi, subj in enumerate(subjects):
            if budget_s is not None and bi >= 2 and time.perf_counter() - t_all > budget_s:
                return
            yield _dress_body(bi, subj, sizes, bi < 2)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        futs = [pool.submit(_dress_body, bi, subj, sizes, bi < 2) for bi, subj in enumerate(subjects)]
        for bi, fut in enumerate(futs):
            if budget_s is not None and bi >= 2 and time.perf_counter() - t_all > budget_s:
                for f in futs[bi:]:
                    f.cancel()  # those already running finish
            if fut.cancelled():
                return
            yield fut.result()


def run(quick: bool, n_bodies: int | None = None, budget_s: float | None = None, workers: int | None = None) -> dict:
    """`workers`: body-level worker processes (default: one per core; the drapes use one torch thread each)."""
    from avatar.garments.collide import BodyCollider
    from fitmirror.demo_catalog import SIZES, demo_products

    OUT.mkdir(parents=True, exist_ok=True)
    n_bodies = n_bodies or (2 if quick else 20)
    sizes = ("XS", "M", "XXL") if quick else SIZES
    workers = workers or min(n_bodies, os.cpu_count() or 1)
    subjects = sample_ansur(n_bodies)
    products = list(demo_products())
    drape_s, drape_cpu_s, inside, fails, violations, per_cat = [], [], [], [], [], {}
    fit_s, pose_ms, pose_collide_ms, posed_inside, posed_inside_fixed = [], [], [], [], []
    pose_plain_ms, posed_inside_proxies, posed_inside_default, tee_inside_default = [], [], [], []
    tee_inside_plain, pose_proxies_ms = [], []
    bodies_done = 0
    render_bodies, render_outfits = [], {}
    t_all = time.perf_counter()
    posing = []
    for r in _bodies(subjects, sizes, workers, budget_s, t_all):
        bi = r["bi"]
        fit_s.append(r["fit_s"])
        drape_s += r["drape_s"]
        drape_cpu_s += r["drape_cpu_s"]
        inside += r["inside"]
        fails += r["fails"]
        violations += r["violations"]
        for c, sec in zip(r["cats"], r["drape_s"], strict=True):
            per_cat.setdefault(c, []).append(sec)
        if bi < 2:
            render_bodies.append(r["body"])
            for c, o in r["renders"].items():
                render_outfits.setdefault(c, [None, None])[bi] = o
        posing.append((r["body"][1], r["posed"], r["o2"], r["o3"]))
        bodies_done += 1
        _write_partial(bodies_done, drape_s, inside, fails, violations, time.time())
    wall_drape_s = time.perf_counter() - t_all
    for cat, outs in render_outfits.items():  # contact sheets for a person to look at
        if all(x is not None for x in outs):
            _render(OUT / f"garments_{cat}.png", render_bodies, outs)
    # Per-frame posing after the worker pool has finished (timings undisturbed by the drapes), arms lowered 30°.
    for f, pv, o, o3 in posing:
        col = BodyCollider(pv, f)
        pose_ms.append(_timed_ms(lambda o=o, pv=pv: o.pose(pv), 30))
        pose_plain_ms.append(_timed_ms(lambda o=o, pv=pv: o.pose(pv, proxies=False, collide=False), 30))
        pose_proxies_ms.append(_timed_ms(lambda o=o, pv=pv: o.pose(pv, collide=False), 30))
        tee_inside_default.append(_inside(col, o.pose(pv)))
        tee_inside_plain.append(_inside(col, o.pose(pv, proxies=False, collide=False)))
        # Blouse + chinos + blazer: plain binding, proxies only, default (proxies + exact crease check), exact
        # push-out of every vertex.
        pose_collide_ms.append(_timed_ms(lambda o3=o3, pv=pv: o3.pose(pv, collide=True), 3))
        posed_inside.append(_inside(col, o3.pose(pv, proxies=False, collide=False)))
        posed_inside_proxies.append(_inside(col, o3.pose(pv, collide=False)))
        posed_inside_default.append(_inside(col, o3.pose(pv)))
        posed_inside_fixed.append(_inside(col, o3.pose(pv, collide=True)))
    d = np.array(drape_s)
    results = {
        "bodies": bodies_done,
        "bodies_planned": len(subjects),
        "products": len(products),
        "sizes": list(sizes),
        "drapes": len(drape_s),
        "failures": len(fails),
        "failure_examples": fails[:10],
        "drape_s_median": round(float(np.median(d)), 3),
        "drape_s_p95": round(float(np.percentile(d, 95)), 3),
        "drape_s_max": round(float(d.max()), 3),
        "drape_cpu_s_median": round(float(np.median(drape_cpu_s)), 3),
        "drape_cpu_s_p95": round(float(np.percentile(drape_cpu_s, 95)), 3),
        "load_avg_end": load_avg(1),
        "drape_s_median_by_category": {k: round(float(np.median(x)), 3) for k, x in sorted(per_cat.items())},
        "inside_pct_mean": round(float(np.mean(inside)) * 100, 4),
        "inside_pct_max": round(float(np.max(inside)) * 100, 4),
        "consistency_violations": len(violations),
        "violation_examples": violations[:10],
        "body_fit_s_median": round(float(np.median(fit_s)), 2),
        "pose_ms_median_2_garments": round(float(np.median(pose_ms)), 2),
        "pose_plain_ms_median_2_garments": round(float(np.median(pose_plain_ms)), 2),
        "pose_proxies_ms_median_2_garments": round(float(np.median(pose_proxies_ms)), 2),
        "pose_ms_max_2_garments": round(float(np.max(pose_ms)), 2),
        "pose_collide_ms_median_3_garments": round(float(np.median(pose_collide_ms)), 1),
        "posed_arms_down_30deg_inside_pct_tee_jeans": round(float(np.mean(tee_inside_default)) * 100, 3),
        "posed_arms_down_30deg_inside_pct_tee_jeans_max": round(float(np.max(tee_inside_default)) * 100, 3),
        "posed_arms_down_30deg_inside_pct_tee_jeans_plain": round(float(np.mean(tee_inside_plain)) * 100, 3),
        "posed_arms_down_30deg_inside_pct_plain": round(float(np.mean(posed_inside)) * 100, 3),
        "posed_arms_down_30deg_inside_pct_proxies": round(float(np.mean(posed_inside_proxies)) * 100, 3),
        "posed_arms_down_30deg_inside_pct": round(float(np.mean(posed_inside_default)) * 100, 3),
        "posed_arms_down_30deg_inside_pct_max": round(float(np.max(posed_inside_default)) * 100, 3),
        "posed_arms_down_30deg_inside_pct_with_pushout": round(float(np.mean(posed_inside_fixed)) * 100, 3),
        "renders": sorted(str(p.relative_to(REPO_ROOT)) for p in OUT.glob("garments_*.png")),
        "workers": workers,
        "wall_s_drapes": round(wall_drape_s, 1),
        "wall_s_total": round(time.perf_counter() - t_all, 1),
    }
    md = "\n".join(
        [
            "| metric | value |",
            "|---|---|",
            f"| bodies (ANSUR II) x products x sizes | {bodies_done} x {len(products)} x {len(sizes)} = {len(drape_s)} drapes |",
            f"| wall time: drapes ({workers} worker processes) / total | {results['wall_s_drapes']} / "
            f"{results['wall_s_total']} s |",
            f"| failures (error or >= 1% inside) | {len(fails)} |",
            f"| drape time median / p95 / max | {results['drape_s_median']} / {results['drape_s_p95']} / {results['drape_s_max']} s |",
            f"| drape CPU time median / p95 (1 torch thread) | {results['drape_cpu_s_median']} / {results['drape_cpu_s_p95']} s |",
            f"| penetration mean / max | {results['inside_pct_mean']} / {results['inside_pct_max']} % of vertices |",
            f"| fit consistency violations (larger size, less ease) | {len(violations)} |",
            f"| pose per frame, t-shirt + jeans, arms lowered 30°: default (median, max over bodies) / proxies only / "
            f"binding only | {results['pose_ms_median_2_garments']} (max {results['pose_ms_max_2_garments']}) / "
            f"{results['pose_proxies_ms_median_2_garments']} / {results['pose_plain_ms_median_2_garments']} ms |",
            f"| pose + exact push-out of every vertex (blouse + chinos + blazer) | {results['pose_collide_ms_median_3_garments']} ms |",
            f"| inside the body, arms lowered 30°, blouse + chinos + blazer: binding only / proxies / default / "
            f"exact all | {results['posed_arms_down_30deg_inside_pct_plain']} / "
            f"{results['posed_arms_down_30deg_inside_pct_proxies']} / {results['posed_arms_down_30deg_inside_pct']} "
            f"(max {results['posed_arms_down_30deg_inside_pct_max']}) / "
            f"{results['posed_arms_down_30deg_inside_pct_with_pushout']} % |",
            f"| inside the body, arms lowered 30°, t-shirt + jeans: binding only / default | "
            f"{results['posed_arms_down_30deg_inside_pct_tee_jeans_plain']} / "
            f"{results['posed_arms_down_30deg_inside_pct_tee_jeans']} "
            f"(max {results['posed_arms_down_30deg_inside_pct_tee_jeans_max']}) % |",
            f"| body shape fit from ANSUR tape measures | {results['body_fit_s_median']} s |",
        ]
    )
    return {"title": "Garments: cut, drape, fit (avatar.garments)", "results": results, "markdown": md}


def _write_partial(bodies, drape_s, inside, fails, violations, now) -> None:
    write_json(
        OUT / "garments_partial.json",
        {
            "bodies_done": bodies,
            "drapes": len(drape_s),
            "drape_s_median": float(np.median(drape_s)) if drape_s else None,
            "inside_pct_max": float(np.max(inside)) * 100 if inside else None,
            "failures": fails[:20],
            "n_failures": len(fails),
            "consistency_violations": violations[:20],
            "n_violations": len(violations),
            "written_unix": now,
        },
        indent=1,
    )


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bodies", type=int, default=None)
    ap.add_argument("--budget-s", type=float, default=None)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    t0 = time.monotonic()
    r = run(quick=args.quick, n_bodies=args.bodies, budget_s=args.budget_s, workers=args.workers)
    show(r, time.monotonic() - t0)
