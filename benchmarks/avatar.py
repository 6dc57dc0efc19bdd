"""Avatar benchmark (`fitmirror bench --only avatar`):

1. synthetic ground truth: anny bodies whose shapes match ANSUR II soldiers (fitted to their height, weight,
   chest, waist and hips), posed with random arm/leg angles and yaw, rendered with render/ over a plain
   background through a known 60-degree camera; the tracker and the photo fitter run on the pictures. Reported:
   MPJPE / PA-MPJPE (mm, 12 body joints, hip-centred) and the MAE of height, chest, waist and hips (cm);
2. typed height + weight alone (and + one girth) versus ANSUR II's measured girths: MAE per girth (cm);
3. real photos (../shared/data/tryon-photos/persons): every photo must give a fit; overlays to bench/out/;
4. speed: tracking ms per 640x480 frame, pose solve ms per frame, shape fit s per photo."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.harness import OUT as BENCH_OUT
from benchmarks.harness import PERSON_PHOTOS, REPO_ROOT, cli, load_avg, person_photos

OUT = BENCH_OUT / "avatar"
SEX_GIVEN = True  # the synthetic photo fit is told the sex (a user states it); the silhouette cannot tell
JOINTS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def _axis_rot(axis, deg: float) -> np.ndarray:
    from avatar.pose import rotvec_to_matrix

    return rotvec_to_matrix(np.asarray(axis, np.float64) * np.radians(deg)).astype(np.float32)


def random_pose(body, rng) -> np.ndarray:
    """Per-bone rotations (body frame): arms lowered/raised and bent, legs apart, a little spine bend."""
    J = len(body.bone_names)
    G = np.repeat(np.eye(3, dtype=np.float32)[None], J, 0)
    parents = body.parents

    def apply(bone: str, R: np.ndarray) -> None:
        b = body.bone_index[bone]
        for j in range(b, J):
            k = j
            while k > b:
                k = parents[k]
            if k == b:
                G[j] = R @ G[j]

    for s, sign in (("L", 1.0), ("R", -1.0)):
        apply(f"upperarm01.{s}", _axis_rot([0, 0, 1], sign * rng.uniform(-25, 30)))
        apply(f"lowerarm01.{s}", _axis_rot([1, 0, 0], rng.uniform(0, 40)))
        apply(f"upperleg01.{s}", _axis_rot([0, 0, 1], sign * rng.uniform(-3, 8)))
    apply("spine03", _axis_rot([1, 0, 0], rng.uniform(-5, 8)))
    return G


def procrustes_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance after the best similarity transform of a onto b."""
    ma, mb = a.mean(0), b.mean(0)
    A, B = a - ma, b - mb
    U, S, Vt = np.linalg.svd(A.T @ B)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1, 1, d])
    R = (U @ D @ Vt).T
    s = (S * np.diag(D)).sum() / (A**2).sum()
    return float(np.linalg.norm(s * A @ R.T - B, axis=1).mean())


def bench_synthetic(n: int, rng) -> tuple[dict, list]:
    from avatar.body import get_body_model, measure_mesh
    from avatar.overlay import draw_overlay, save_png
    from avatar.pose import PoseSolver, rotvec_to_matrix
    from avatar.shape import ansur, ansur_subject_shape, shape_from_measurements, shape_from_photo
    from avatar.tracking import Tracker
    from avatar.types import PinholeCamera
    from render.renderer import Renderer
    from render.scene import Mesh, Scene

    body = get_body_model()
    a = ansur()
    W, H = 600, 800
    cam = PinholeCamera.from_fov(W, H, 60.0)
    rows = []
    renderer = Renderer()
    tracker = Tracker(video=False)
    # odd rows only: the population prior of the photo fit (avatar/data/phenotype_prior.json) was built from even rows
    idx = rng.choice(np.arange(1, len(a["height_cm"]), 2), n, replace=False)
    for i in idx:
        sex = "female" if a["female"][i] > 0.5 else "male"
        gt_shape = ansur_subject_shape(int(i))
        gt_m = measure_mesh(body.rest(gt_shape), body)
        G = random_pose(body, rng)
        yaw = rotvec_to_matrix(np.array([0, np.radians(rng.uniform(-15, 15)), 0])).astype(np.float32)
        dist = rng.uniform(2.3, 2.8)
        gt = body.posed_body(gt_shape, G, np.array([0, -0.05, -dist], np.float32), yaw, cam)
        bg = np.zeros((H, W, 3), np.uint8)
        bg[:] = rng.integers(60, 160, 3)
        img = renderer.composite_ar(
            bg, Scene([Mesh("body", gt.vertices, gt.faces, base_color=(0.85, 0.66, 0.55))]), cam
        )
        tr = tracker.track(img)
        row = {"subject": int(i), "sex": sex, "tracked": bool(tr.present)}
        if tr.present:
            t0 = time.perf_counter()
            fit = shape_from_photo(tr, float(gt_m.height_cm), sex=sex if SEX_GIVEN else None)
            row["shape_fit_s"] = time.perf_counter() - t0
            posed = PoseSolver(fit, camera=cam, smoothing=0.0).solve(tr)
            pj, gj = posed.landmarks_cam[JOINTS], gt.landmarks_cam[JOINTS]
            hip_p, hip_g = pj[6:8].mean(0), gj[6:8].mean(0)
            row["mpjpe_mm"] = float(np.linalg.norm((pj - hip_p) - (gj - hip_g), axis=1).mean() * 1000)
            row["pa_mpjpe_mm"] = procrustes_error(pj, gj) * 1000
            row["abs_mpjpe_mm"] = float(np.linalg.norm(pj - gj, axis=1).mean() * 1000)
            fm = fit.measurements
            for k in ("height_cm", "chest_cm", "waist_cm", "hips_cm"):
                row[f"err_{k}"] = float(getattr(fm, k) - getattr(gt_m, k))
            # the differentiable silhouette fit (render/diff.py), side by side with the default
            t0 = time.perf_counter()
            sil = shape_from_photo(tr, float(gt_m.height_cm), sex=sex if SEX_GIVEN else None, method="silhouette")
            row["shape_fit_s_silhouette"] = time.perf_counter() - t0
            for k in ("height_cm", "chest_cm", "waist_cm", "hips_cm"):
                row[f"err_silhouette_{k}"] = float(getattr(sil.measurements, k) - getattr(gt_m, k))
            save_png(draw_overlay(img, posed, tr), OUT / f"synthetic_{i}.png")
        # typed height + weight + one girth of the same body (no photo): the typed values must come back within
        # 1 cm; the untyped girths are estimates (reported separately: three numbers cannot fix five phenotypes)
        typed = shape_from_measurements(gt_m.height_cm, gt_m.weight_kg, chest_cm=gt_m.chest_cm, sex=sex)
        for k in ("height_cm", "chest_cm", "waist_cm", "hips_cm"):
            row[f"err_typed_{k}"] = float(getattr(typed.measurements, k) - getattr(gt_m, k))
        rows.append(row)
    renderer.close()
    tracker.close()
    ok = [r for r in rows if r["tracked"]]
    summary = {"bodies": len(rows), "tracked": len(ok)}
    if ok:
        for k in ("mpjpe_mm", "pa_mpjpe_mm", "abs_mpjpe_mm", "shape_fit_s", "shape_fit_s_silhouette"):
            summary[k] = round(float(np.mean([r[k] for r in ok])), 1)
        for k in ("height_cm", "chest_cm", "waist_cm", "hips_cm"):
            summary[f"mae_{k}"] = round(float(np.mean([abs(r[f"err_{k}"]) for r in ok])), 2)
            summary[f"mae_silhouette_{k}"] = round(float(np.mean([abs(r[f"err_silhouette_{k}"]) for r in ok])), 2)
    for k in ("height_cm", "chest_cm", "waist_cm", "hips_cm"):
        summary[f"mae_typed_{k}"] = round(float(np.mean([abs(r[f"err_typed_{k}"]) for r in rows])), 2)
    return summary, rows


def bench_typed(n: int, rng) -> dict:
    """Girths from typed height+weight (and +chest) against ANSUR II measured girths."""
    from avatar.shape import ansur, girth_regression, shape_from_measurements

    a = ansur()
    # the regression alone, 5-fold style: fit on 80 %, test on 20 % (all subjects, fast)
    N = len(a["height_cm"])
    perm = rng.permutation(N)
    test = perm[: N // 5]
    reg = girth_regression(with_sex=False)  # note: fitted on all subjects (in-sample), reported as such
    x_reg = {}
    for k in ("chest_cm", "waist_cm", "hips_cm", "inseam_cm"):
        pred = np.array([reg.predict(a["height_cm"][i], a["weight_kg"][i])[k] for i in test])
        x_reg[k] = round(float(np.mean(np.abs(pred - a[k][test]))), 2)
    # the full solver (anny body measured with the tape) on a few subjects
    idx = rng.choice(N, n, replace=False)
    err_hw = {k: [] for k in ("chest_cm", "waist_cm", "hips_cm", "inseam_cm")}
    err_hwc = {k: [] for k in ("waist_cm", "hips_cm", "height_cm", "chest_cm")}
    err_mesh = {k: [] for k in err_hw}
    t_fit = []
    for i in idx:
        t0 = time.perf_counter()
        s = shape_from_measurements(a["height_cm"][i], a["weight_kg"][i])
        t_fit.append(time.perf_counter() - t0)
        for k in err_hw:
            err_hw[k].append(abs(getattr(s.measurements, k) - a[k][i]))
            err_mesh[k].append(abs(getattr(s.mesh_measurements or s.measurements, k) - a[k][i]))
        s2 = shape_from_measurements(a["height_cm"][i], a["weight_kg"][i], chest_cm=a["chest_cm"][i])
        for k in err_hwc:
            err_hwc[k].append(abs(getattr(s2.measurements, k) - a[k][i]))
    return {
        "regression_only_mae_cm": x_reg,
        "solver_height_weight_mae_cm": {k: round(float(np.mean(v)), 2) for k, v in err_hw.items()},
        "mesh_height_weight_mae_cm": {k: round(float(np.mean(v)), 2) for k, v in err_mesh.items()},
        "solver_height_weight_chest_mae_cm": {k: round(float(np.mean(v)), 2) for k, v in err_hwc.items()},
        "subjects": int(n),
        "fit_s": round(float(np.mean(t_fit)), 2),
    }


def bench_photos(limit: int | None) -> dict:
    from avatar.overlay import draw_overlay, save_png
    from avatar.pose import PoseSolver, reprojection_error_px
    from avatar.shape import shape_from_photo
    from avatar.tracking import Tracker, load_image

    photos = person_photos((".jpg", ".png"))
    tracker = Tracker(video=False)
    res = []
    for p in photos:
        rgb = load_image(p)
        tr = tracker.track(rgb)
        row = {"photo": p.name, "tracked": tr.present, "lower_body_visible": tr.lower_body_visible}
        if tr.present:
            posed = None
            if limit is None or len([r for r in res if "fit_s" in r]) < limit:
                t0 = time.perf_counter()
                shape = shape_from_photo(tr, 170.0)
                row["fit_s"] = round(time.perf_counter() - t0, 2)
                row["measurements"] = shape.measurements.as_dict()
                row["plausible"] = bool(
                    60 < shape.measurements.chest_cm < 150 and 50 < shape.measurements.waist_cm < 150
                )
            else:
                from avatar.types import BodyShape

                shape = BodyShape({"gender": 0.5, "age": 0.72})
            posed = PoseSolver(shape, smoothing=0.0).solve(tr)
            row["reprojection_px"] = round(reprojection_error_px(posed, tr), 1)
            save_png(draw_overlay(rgb, posed, tr), OUT / f"photo_{Path(p).stem}.png")
        res.append(row)
    tracker.close()
    return {
        "photos": len(res),
        "tracked": sum(r["tracked"] for r in res),
        "fitted": sum("fit_s" in r for r in res),
        "plausible": sum(bool(r.get("plausible")) for r in res),
        "mean_reprojection_px": round(float(np.mean([r["reprojection_px"] for r in res if "reprojection_px" in r])), 1),
        "rows": res,
    }


def bench_speed(reps: int) -> dict:
    import cv2

    from avatar.pose import PoseSolver
    from avatar.tracking import Tracker, load_image
    from avatar.types import BodyShape

    rgb = load_image(PERSON_PHOTOS / "ootd__model_4.png")
    frame = np.ascontiguousarray(cv2.resize(rgb, (360, 480)))
    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[:] = frame[:, :1].mean(0).astype(np.uint8)
    canvas[:, 140:500] = frame
    # two people: the same person plus a smaller one at the right edge (the tracker picks and follows one)
    two = canvas.copy()
    other = cv2.resize(rgb, (180, 240))
    two[240:, 455:635] = other
    t2s = []
    with Tracker(video=True) as t:
        for i in range(max(8, reps // 2)):
            t0 = time.perf_counter()
            t.track(two, timestamp_ms=i * 33.3)
            if i >= 3:
                t2s.append((time.perf_counter() - t0) * 1000)
    tt, tp, cp = [], [], []
    with Tracker(video=True) as t:
        solver = PoseSolver(BodyShape({"gender": 1.0, "age": 0.72}))
        for i in range(reps):
            t0 = time.perf_counter()
            tr = t.track(canvas, timestamp_ms=i * 33.3)
            t1 = time.perf_counter()
            c1 = time.thread_time()
            solver.solve(tr)
            c2 = time.thread_time()
            t2 = time.perf_counter()
            if i >= 3:
                tt.append((t1 - t0) * 1000)
                tp.append((t2 - t1) * 1000)
                cp.append((c2 - c1) * 1000)
    return {
        "tracking_ms_640x480_median": round(float(np.median(tt)), 1),
        "tracking_ms_640x480_two_people_median": round(float(np.median(t2s)), 1),
        "pose_solve_ms_median": round(float(np.median(tp)), 1),
        "pose_solve_ms_p90": round(float(np.percentile(tp, 90)), 1),
        "pose_solve_thread_cpu_ms_median": round(float(np.median(cp)), 1),
        "frames": len(tt),
    }


def run(quick: bool) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t0 = time.monotonic()
    res: dict = {"load_avg_at_start": load_avg()}
    synth, rows = bench_synthetic(4 if quick else 20, rng)
    res["synthetic"] = synth
    res["synthetic_rows"] = rows
    res["typed"] = bench_typed(1 if quick else 12, rng)
    res["photos"] = bench_photos(1 if quick else None)
    res["speed"] = bench_speed(20 if quick else 100)
    res["wall_s"] = round(time.monotonic() - t0, 1)
    s, ty, ph, sp = res["synthetic"], res["typed"], res["photos"], res["speed"]
    md = [
        "| metric | value | goal |",
        "|---|---|---|",
        f"| synthetic bodies tracked | {s['tracked']}/{s['bodies']} | all |",
    ]
    if s.get("tracked"):
        md += [
            f"| MPJPE (hip-centred, 12 joints) | {s['mpjpe_mm']} mm | |",
            f"| PA-MPJPE | {s['pa_mpjpe_mm']} mm | |",
            f"| MAE height / chest / waist / hips from photo+height ({s['tracked']} bodies held out from the prior; "
            f"row widths, default) | {s['mae_height_cm']} / "
            f"{s['mae_chest_cm']} / {s['mae_waist_cm']} / {s['mae_hips_cm']} cm | < 2 cm |",
            f"| same, differentiable silhouette fit (render/diff.py) | {s['mae_silhouette_height_cm']} / "
            f"{s['mae_silhouette_chest_cm']} / {s['mae_silhouette_waist_cm']} / {s['mae_silhouette_hips_cm']} cm "
            "| < 2 cm |",
        ]
    md.append(
        f"| synthetic bodies, typed height+weight+chest: typed height / chest MAE; untyped waist / hips "
        f"| {s['mae_typed_height_cm']} / {s['mae_typed_chest_cm']}; {s['mae_typed_waist_cm']} / "
        f"{s['mae_typed_hips_cm']} cm | < 1 cm (typed) |"
    )
    rh = ty["solver_height_weight_mae_cm"]
    rc = ty["solver_height_weight_chest_mae_cm"]
    rr = ty["regression_only_mae_cm"]
    md += [
        f"| ANSUR II, height+weight -> reported girth MAE ({ty['subjects']} subjects) chest/waist/hips/inseam | "
        f"{rh['chest_cm']} / {rh['waist_cm']} / {rh['hips_cm']} / {rh['inseam_cm']} cm | |",
        f"| same, the fitted anny mesh's own tape measurements | {ty['mesh_height_weight_mae_cm']['chest_cm']} / "
        f"{ty['mesh_height_weight_mae_cm']['waist_cm']} / {ty['mesh_height_weight_mae_cm']['hips_cm']} / "
        f"{ty['mesh_height_weight_mae_cm']['inseam_cm']} cm | |",
        f"| same, regression only (1/5 of ANSUR II, in-sample fit) | {rr['chest_cm']} / {rr['waist_cm']} / "
        f"{rr['hips_cm']} / {rr['inseam_cm']} cm | |",
        f"| height+weight+chest: chest / height MAE; waist / hips | {rc['chest_cm']} / {rc['height_cm']}; "
        f"{rc['waist_cm']} / {rc['hips_cm']} cm | < 1 cm (typed) |",
        f"| real photos tracked / fitted / plausible | {ph['tracked']}/{ph['photos']} / {ph['fitted']} / "
        f"{ph['plausible']} | all |",
        f"| real photos mean reprojection (body joints) | {ph['mean_reprojection_px']} px | |",
        f"| tracking 640x480 (median), one / two people | {sp['tracking_ms_640x480_median']} / "
        f"{sp['tracking_ms_640x480_two_people_median']} ms | < 33 ms |",
        f"| pose solve incl. anny skinning (wall median / p90; calling-thread CPU) | {sp['pose_solve_ms_median']} / "
        f"{sp['pose_solve_ms_p90']} ms; {sp['pose_solve_thread_cpu_ms_median']} ms | < 15 ms |",
        f"| shape fit per photo, row widths / silhouette | {s.get('shape_fit_s', '-')} / "
        f"{s.get('shape_fit_s_silhouette', '-')} s | seconds |",
        f"| shape fit from typed measurements | {ty['fit_s']} s | seconds |",
    ]
    md.append("")
    md.append(f"Overlays: {OUT.relative_to(REPO_ROOT)}/. Load average at start: {res['load_avg_at_start']}.")
    return {"title": "avatar: tracking, shape and pose", "results": res, "markdown": "\n".join(md)}


if __name__ == "__main__":
    raise SystemExit(cli(run))
