"""Body shape: (a) from typed measurements, (b) from a photo plus the person's height, (c) refined from live frames.

(a) Gauss-Newton on anny's six phenotype parameters, with a finite-difference Jacobian from one batched anny
call per iteration (7 rest meshes), so the tape-measured height, mass (mesh volume x density) and girths of the
model match the targets. Girths the user did not type are estimated from height and weight by a linear
regression fitted on ANSUR II (its residual spread is the stated uncertainty) and enter the fit with that
lower weight. Plausibility is checked against ANSUR II's observed ranges (with a margin: soldiers are a
narrower population than shoppers).

(b) From a photo, two methods (`shape_from_photo(method=...)`), measured side by side in avatar/bench.py:
- "widths" (default): with the whole body in the picture, the person's width is measured in the soft mask at 13
  torso rows (crotch to armpits; rows that end at an arm are left out), 3 shoulder rows (arms included) and two
  rows per thigh, at fractions of the body's image height, and Gauss-Newton moves the phenotypes until the posed
  model's widths at the same fractions of its own image height match, with the typed height as a target and a
  population prior (ANSUR II bodies in anny's space) for what a front view cannot see. Scaling by image height
  rather than by landmarks keeps the placement's depth error out. Without the whole body (a desk, a close-up),
  the girths are rescaled by person/model width ratios at the three girth rows instead. `fit_info["variant"]`
  says which ran;
- "silhouette": a differentiable silhouette fit through render/diff.py (`silhouette_fit`): the posed vertices
  are linearised in the phenotypes, and Adam matches the model's soft torso silhouette to the mask (arms cut out)
  while keeping the landmarks and the height. On synthetic bodies it was less accurate than "widths" (the waist
  especially: a frontal silhouette does not fix the body's depth, and pose errors leak into the shape), so it is
  not the default.
Clothing widens the silhouette, so girths from clothed photos are biased upwards (stated in the uncertainty).

(c) `LiveShapeEstimator` accumulates per-frame width ratios over the first seconds and solves once from their
medians, so one bad frame does not decide the shape."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.body import (
    CHEST_HEIGHT_FRAC,
    HIPS_HEIGHT_FRAC,
    WAIST_HEIGHT_FRAC,
    BodyModel,
    get_body_model,
    measure_mesh,
)
from avatar.types import LM, MEASUREMENT_KEYS, PHENOTYPE_KEYS, BodyShape, Measurements, PinholeCamera, Tracking
from fitmirror.config import SHARED_DATA
from fitmirror.errors import ImplausibleMeasurementError, InputError, ModelUnavailableError

ANSUR_DIR = SHARED_DATA / "ansur-ii"
ANSUR_COLUMNS = {  # our key -> ANSUR II column (mm)
    "height_cm": "stature",
    "chest_cm": "chestcircumference",
    "waist_cm": "waistcircumference",
    "hips_cm": "buttockcircumference",
    "inseam_cm": "crotchheight",
    "shoulder_width_cm": "biacromialbreadth",
}
GIRTHS = ("chest_cm", "waist_cm", "hips_cm", "inseam_cm")

# Built-in plausibility ranges (ANSUR II min/max widened by ~15%), used when ANSUR II is not on disk.
DEFAULT_RANGES = {
    "height_cm": (120.0, 230.0),
    "weight_kg": (30.0, 250.0),
    "chest_cm": (60.0, 170.0),
    "waist_cm": (50.0, 160.0),
    "hips_cm": (60.0, 160.0),
    "inseam_cm": (50.0, 115.0),
    "bmi": (13.0, 60.0),
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


@functools.cache
def plausible_ranges() -> dict[str, tuple[float, float]]:
    a = ansur()
    if a is None:
        return DEFAULT_RANGES
    r = {}
    for k in ("height_cm", "weight_kg", "chest_cm", "waist_cm", "hips_cm", "inseam_cm"):
        lo, hi = float(a[k].min()), float(a[k].max())
        r[k] = (round(lo * 0.85, 1), round(hi * 1.15, 1))
    bmi = a["weight_kg"] / (a["height_cm"] / 100) ** 2
    r["bmi"] = (round(float(bmi.min()) * 0.8, 1), round(float(bmi.max()) * 1.3, 1))
    return r


def check_plausible(height_cm: float, weight_kg: float | None = None, **girths: float | None) -> None:
    """Raise ImplausibleMeasurementError naming the first value outside human ranges."""
    r = plausible_ranges()
    vals = {"height_cm": height_cm, "weight_kg": weight_kg, **girths}
    for k, v in vals.items():
        if v is None:
            continue
        if not np.isfinite(v):
            raise ImplausibleMeasurementError(f"{k} is not a number")
        lo, hi = r.get(k, (0, 1e9))
        if not lo <= v <= hi:
            unit = "kg" if k.endswith("kg") else "cm"
            raise ImplausibleMeasurementError(
                f"{k.rsplit('_', 1)[0]} = {v:g} {unit} is outside the human range {lo:g}-{hi:g} {unit}",
                hint="check the units: heights and girths in centimetres, weight in kilograms",
            )
    if weight_kg is not None:
        bmi = weight_kg / (height_cm / 100) ** 2
        lo, hi = r["bmi"]
        if not lo <= bmi <= hi:
            raise ImplausibleMeasurementError(
                f"height {height_cm:g} cm with weight {weight_kg:g} kg gives a body-mass index of {bmi:.0f}, "
                f"outside the human range {lo:g}-{hi:g}",
                hint="check the units: height in centimetres, weight in kilograms",
            )
    c, w, h = girths.get("chest_cm"), girths.get("waist_cm"), girths.get("hips_cm")
    if c and h and not 0.6 < c / h < 1.6:
        raise ImplausibleMeasurementError(f"chest {c:g} cm and hips {h:g} cm are too different for one body")
    if w and h and not 0.5 < w / h < 1.5:
        raise ImplausibleMeasurementError(f"waist {w:g} cm and hips {h:g} cm are too different for one body")


# --- girths from height and weight (ANSUR II regression) ---------------------------------------------------


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
GIRTH_REGRESSION_PATH = Path(__file__).with_name("girth_regression.json")


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


# --- the solver --------------------------------------------------------------------------------------------

BOUNDS = {
    "gender": (0.0, 1.0),
    "age": (0.62, 1.0),  # adults only: anny's age anchors are newborn -1/3, baby 0, child 1/3, young 2/3, old 1
    "muscle": (0.0, 1.0),
    "weight": (0.0, 1.0),
    "height": (0.0, 1.0),
    "proportions": (0.0, 1.0),
}


# Population prior of the photo fit: mean and covariance of anny phenotypes fitted to ANSUR II subjects, per sex
# (scripts/fit_phenotype_prior.py). Along directions the front silhouette hardly sees (the torso's depth), it
# picks the likelier body instead of the middle of anny's range.
PRIOR_PATH = Path(__file__).with_name("phenotype_prior.json")
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


PRIOR_CENTRE = {"gender": 0.5, "age": 0.72, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5}


def _model_values(m: Measurements) -> dict[str, float]:
    d = {k: float(getattr(m, k)) for k in MEASUREMENT_KEYS}
    d["weight_kg"] = float(m.weight_kg or 0.0)
    return d


def _fd_batch(p: dict[str, float], free: list[str], eps: float) -> list[dict[str, float]]:
    """p, then p with each free phenotype stepped by eps (backwards at its upper bound): one batched body build
    gives every forward difference."""
    batch = [dict(p)]
    for k in free:
        q = dict(p)
        q[k] = p[k] + eps if p[k] + eps <= BOUNDS[k][1] else p[k] - eps
        batch.append(q)
    return batch


def solve_phenotype(
    targets: dict[str, float],
    sigmas: dict[str, float],
    fixed: dict[str, float] | None = None,
    init: dict[str, float] | None = None,
    iterations: int = 8,
    body: BodyModel | None = None,
) -> tuple[dict[str, float], Measurements]:
    """Gauss-Newton (Levenberg damping, box bounds) on the free phenotype parameters so the model's tape
    measurements match `targets` (keys of Measurements plus weight_kg) within `sigmas`."""
    body = body or get_body_model()
    fixed = fixed or {}
    free = [k for k in PHENOTYPE_KEYS if k not in fixed]
    p = dict(PRIOR_CENTRE)
    p.update(init or {})
    p.update(fixed)
    keys = [k for k in targets if k in sigmas]
    # a start height from a rough linear map of the height parameter
    eps = 0.02
    prior_sigma = 0.6  # weak pull to the middle: resolves directions the targets do not constrain

    def resid(vals: dict[str, float], ph: dict[str, float]) -> np.ndarray:
        r = [(vals[k] - targets[k]) / sigmas[k] for k in keys]
        r += [(ph[k] - PRIOR_CENTRE[k]) / prior_sigma for k in free]
        return np.array(r)

    lam = 1e-2
    best = None
    for _ in range(iterations):
        batch = _fd_batch(p, free, eps)
        rests = body.rest_batch(batch)
        ms = [measure_mesh(r, body) for r in rests]
        vals = [_model_values(m) for m in ms]
        r0 = resid(vals[0], batch[0])
        if best is None or r0 @ r0 < best[0]:
            best = (float(r0 @ r0), dict(p), ms[0])
        Jm = np.zeros((len(r0), len(free)))
        for i, k in enumerate(free):
            Jm[:, i] = (resid(vals[i + 1], batch[i + 1]) - r0) / (batch[i + 1][k] - p[k])
        # projected Gauss-Newton: parameters at a bound that the step pushes outward are held there
        active = np.ones(len(free), bool)
        step = np.zeros(len(free))
        for _ in range(3):
            Ja = Jm[:, active]
            H = Ja.T @ Ja
            sa = -np.linalg.solve(H + lam * (np.diag(np.diag(H)) + 1e-6 * np.eye(int(active.sum()))), Ja.T @ r0)
            step[:] = 0.0
            step[active] = sa
            out = [
                i
                for i, k in enumerate(free)
                if active[i]
                and ((p[k] <= BOUNDS[k][0] + 1e-6 and step[i] < 0) or (p[k] >= BOUNDS[k][1] - 1e-6 and step[i] > 0))
            ]
            if not out:
                break
            active[out] = False
        step = np.clip(step, -0.25, 0.25)
        for i, k in enumerate(free):
            p[k] = float(np.clip(p[k] + step[i], *BOUNDS[k]))
        if np.abs(step).max() < 2e-3:
            break
    rest = body.rest_batch([p])[0]
    m = measure_mesh(rest, body)
    r = resid(_model_values(m), p)
    if best is not None and best[0] < r @ r:
        _, p, m = best
    return p, m


def shape_from_measurements(
    height_cm: float,
    weight_kg: float | None = None,
    chest_cm: float | None = None,
    waist_cm: float | None = None,
    hips_cm: float | None = None,
    inseam_cm: float | None = None,
    sex: str | None = None,
    body: BodyModel | None = None,
) -> BodyShape:
    """Fit a body to typed measurements. Height is required; weight lets the other girths be estimated.
    Raises ImplausibleMeasurementError for values no human has."""
    if sex not in (None, "female", "male"):
        raise InputError(f"sex must be 'female', 'male' or omitted, not {sex!r}")
    given = {"chest_cm": chest_cm, "waist_cm": waist_cm, "hips_cm": hips_cm, "inseam_cm": inseam_cm}
    check_plausible(height_cm, weight_kg, **given)
    targets: dict[str, float] = {"height_cm": float(height_cm)}
    sigmas: dict[str, float] = {"height_cm": 0.1}
    unc: dict[str, float] = {"height_cm": 0.5}
    if weight_kg is not None:
        targets["weight_kg"] = float(weight_kg)
        # anny's mass from volume is the least certain target once girths are typed
        # (the ANSUR regression already turns weight into girths; anny's volume-based mass runs ~10 % light for
        # real girths, so a tight mass target would inflate every girth)
        sigmas["weight_kg"] = 8.0
        est, est_sig = estimate_from_height_weight(height_cm, weight_kg, sex)
        for k in GIRTHS:
            if given[k] is None:
                targets[k], sigmas[k] = est[k], est_sig[k]
                unc[k] = est_sig[k]
    for k, v in given.items():
        if v is not None:
            targets[k], sigmas[k] = float(v), 0.2
            unc[k] = 0.5
    fixed = {} if sex is None else {"gender": 1.0 if sex == "female" else 0.0}
    ph, m_mesh = solve_phenotype(targets, sigmas, fixed=fixed, body=body, iterations=10)
    # Reported measurements: typed values as typed, untyped girths from the ANSUR II regression (about 3 cm MAE,
    # better than the anny mesh, whose shape space cannot follow every combination: see docs/avatar.md);
    # the mesh's own tape measurements stay in `mesh_measurements`.
    m = Measurements(**{k: float(getattr(m_mesh, k)) for k in MEASUREMENT_KEYS}, weight_kg=m_mesh.weight_kg)
    if weight_kg is not None:
        m.weight_kg = float(weight_kg)
    for k in MEASUREMENT_KEYS:
        unc.setdefault(k, 3.0 if k not in ("shoulder_width_cm", "arm_length_cm") else 2.5)
        if k in targets:
            setattr(m, k, float(targets[k]) if k != "height_cm" else float(m_mesh.height_cm))
            if given.get(k) is not None or k == "height_cm":  # what the mesh could not reach adds uncertainty
                unc[k] = float(np.hypot(unc[k], getattr(m_mesh, k) - targets[k]))
    m.uncertainty_cm = {k: round(v, 2) for k, v in unc.items()}
    m_mesh.uncertainty_cm = {k: round(abs(getattr(m_mesh, k) - getattr(m, k)) + unc[k], 2) for k in MEASUREMENT_KEYS}
    rest = (body or get_body_model()).rest(ph)
    return BodyShape(
        phenotype=ph, rest_vertices=rest.vertices, measurements=m, source="measurements", mesh_measurements=m_mesh
    )


def ansur_subject_shape(i: int) -> BodyShape:
    """anny's body for ANSUR II subject i: fitted to their measured height, weight, chest, waist and hips (the
    synthetic ground truth of avatar/bench.py and the samples of the population prior)."""
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


# --- from silhouettes ---------------------------------------------------------------------------------------


def _row_width(mask: np.ndarray, y: float, x_lo: float, x_hi: float) -> float:
    """Width in pixels of the mask's run containing the body centre on row y (clipped to [x_lo, x_hi])."""
    h, w = mask.shape
    yi = int(np.clip(round(y), 0, h - 1))
    rows = mask[max(0, yi - 2) : min(h, yi + 3)].mean(0) > 0.5
    c = int(np.clip(round((x_lo + x_hi) / 2), 0, w - 1))
    if not rows[c]:
        return 0.0
    left = c
    while left > max(0, int(x_lo)) and rows[left - 1]:
        left -= 1
    right = c
    while right < min(w - 1, int(x_hi)) and rows[right + 1]:
        right += 1
    return float(right - left + 1)


@functools.lru_cache(maxsize=1)
def _body_and_arm_faces(body: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    """(faces with no arm vertex: torso, legs, head; faces with only arm vertices): the silhouette methods draw,
    measure or cut out the two separately."""
    arm = body.vertex_is_arm[body.faces]
    return body.faces[(~arm).all(1)], body.faces[arm.all(1)]


def rasterize_silhouette(uv: np.ndarray, faces: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Binary silhouette (H, W) float32 of triangles given in pixel coordinates."""
    import cv2

    w, h = size
    im = np.zeros((h, w), np.uint8)
    tri = np.round(np.clip(uv[faces], -4 * max(w, h), 4 * max(w, h)) * 16).astype(np.int32)  # 4 bits subpixel
    for t in tri:  # fillConvexPoly per triangle: fillPoly on many would apply an even-odd rule across them
        cv2.fillConvexPoly(im, t, 255, lineType=cv2.LINE_8, shift=4)
    return im.astype(np.float32) / 255.0


def silhouette_ratios(posed, tracking: Tracking, arm_free: bool = True) -> dict[str, float]:
    """Person width / model width in the image at the chest, waist and hip rows (1.0 = the model matches).
    The model silhouette is drawn without the arms so that arms hanging at the sides are not counted; the
    person's run is clipped at the tracked elbows/wrists for the same reason."""
    body = get_body_model()
    cam = posed.camera
    assert cam is not None and tracking.mask is not None
    faces, arm_faces = _body_and_arm_faces(body)
    uv = cam.project(posed.vertices)
    sil = rasterize_silhouette(uv, faces, (cam.width, cam.height))
    # the person's mask without where the fitted arms are (dilated): arms hanging beside the torso merge with it
    import cv2

    arms = rasterize_silhouette(uv, arm_faces, (cam.width, cam.height)) > 0.5
    k = max(3, int(0.005 * cam.height))
    arms = cv2.dilate(arms.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    person = np.where(arms & (sil < 0.5), 0.0, tracking.mask)
    rest = body.rest(posed.shape)
    v = rest.vertices
    floor, height = float(v[:, 1].min()), float(np.ptp(v[:, 1]))
    # the body-frame rest heights of the three girths, mapped through the pelvis/spine: use landmarks instead
    lm = posed.landmarks_cam
    sh = (lm[LM["left_shoulder"]] + lm[LM["right_shoulder"]]) / 2
    hp = (lm[LM["left_hip"]] + lm[LM["right_hip"]]) / 2
    rest_lm = body.landmarks(v)
    y_sh = float((rest_lm[LM["left_shoulder"], 1] - floor) / height)
    y_hp = float((rest_lm[LM["left_hip"], 1] - floor) / height)
    out = {}
    px = tracking.landmarks_px
    for key, frac in (("chest_cm", CHEST_HEIGHT_FRAC), ("waist_cm", WAIST_HEIGHT_FRAC), ("hips_cm", HIPS_HEIGHT_FRAC)):
        a = (frac - y_hp) / (y_sh - y_hp)
        p3 = hp + a * (sh - hp)
        u, vv = cam.project(p3[None])[0]
        # limits: between the arms when they hang down (elbow/wrist x), else the frame
        xs = [px[i, 0] for i in (LM["left_elbow"], LM["right_elbow"], LM["left_wrist"], LM["right_wrist"])]
        lo = max([x for x in xs if x < u] or [0.0])
        hi = min([x for x in xs if x > u] or [cam.width - 1.0])
        wp = _row_width(person, vv, lo, hi)
        wm = _row_width(sil, vv, 0, cam.width - 1)
        if wp > 4 and wm > 4:
            out[key] = wp / wm
    return out


SIL_SIDE_PX = 256  # the silhouette fit renders the person's box at this longest side
SIL_STEPS = 40  # Adam steps per round
SIL_SIGMA_PX = 1.5  # blur of both silhouettes: widens the loss's basin by a few pixels
SIL_ARM_BAND = 0.45  # the tracked arms are cut out of the person mask this thick (x shoulder width)
SIL_BELOW_HIPS = 0.3  # rows counted: shoulders down to the hips + this x the shoulder-hip distance
SIL_LANDMARKS = [
    LM[n]
    for n in (
        "nose",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    )
]


def silhouette_fit(
    shape: BodyShape,
    tracking: Tracking,
    height_cm: float,
    fixed: dict[str, float] | None = None,
    steps: int = SIL_STEPS,
    side_px: int = SIL_SIDE_PX,
    weight_kg: float | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """One round of the differentiable silhouette fit (render/diff.py): pose `shape` on the photo, linearise the
    posed vertices in the free phenotypes (one batched anny call, finite differences, the pose held fixed), then
    Adam on (phenotype step, translation) so that the soft silhouette of the model without its arms matches the
    person mask (arms cut out of both), its projected landmarks stay on the 2D landmarks and its height stays
    `height_cm`. Returns (phenotype, diagnostics)."""
    import cv2
    import torch

    from avatar.pose import PoseSolver
    from render import diff

    body = get_body_model()
    fixed = fixed or {}
    solver = PoseSolver(shape, smoothing=0.0)
    posed = solver.solve(tracking)
    assert posed is not None and solver.last_pose is not None and tracking.mask is not None
    G, R_p, dR, t_place = solver.last_pose
    p0 = {k: float(shape.phenotype.get(k, PRIOR_CENTRE[k])) for k in PHENOTYPE_KEYS} | fixed
    free = [k for k in PHENOTYPE_KEYS if k not in fixed]
    eps = 0.02
    batch = _fd_batch(p0, free, eps)
    rests = body.rest_batch(batch)
    zero = np.zeros(3, np.float32)
    verts = [body.pose_world_orient(r, G, zero, R_p)[0] @ dR.T + t_place for r in rests]
    ms = [measure_mesh(r, body) for r in rests]
    steps_k = np.array([batch[i + 1][k] - p0[k] for i, k in enumerate(free)])
    Jv = np.stack([(verts[i + 1] - verts[0]) / steps_k[i] for i in range(len(free))])  # (K, N, 3)
    keys = ["height_cm", "chest_cm", "waist_cm", "hips_cm", "weight_kg"]
    m0 = np.array([float(getattr(ms[0], k) or 0.0) for k in keys])
    Jm = np.stack(
        [(np.array([float(getattr(ms[i + 1], k) or 0.0) for k in keys]) - m0) / steps_k[i] for i in range(len(free))], 1
    )

    # a low-resolution camera on the person's box (person and model, plus a margin) and the mask cut to it
    cam = posed.camera
    assert cam is not None
    ys, xs = np.nonzero(tracking.mask > 0.5)
    uv_full = cam.project(verts[0])
    x0 = min(float(xs.min()), float(uv_full[:, 0].min())) if len(xs) else float(uv_full[:, 0].min())
    x1 = max(float(xs.max()), float(uv_full[:, 0].max())) if len(xs) else float(uv_full[:, 0].max())
    y0 = min(float(ys.min()), float(uv_full[:, 1].min())) if len(ys) else float(uv_full[:, 1].min())
    y1 = max(float(ys.max()), float(uv_full[:, 1].max())) if len(ys) else float(uv_full[:, 1].max())
    pad = 0.06 * max(x1 - x0, y1 - y0)
    x0, y0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
    x1, y1 = int(min(cam.width, x1 + pad + 1)), int(min(cam.height, y1 + pad + 1))
    s = side_px / max(x1 - x0, y1 - y0)
    w, h = max(8, round((x1 - x0) * s)), max(8, round((y1 - y0) * s))
    sx, sy = w / (x1 - x0), h / (y1 - y0)
    small = PinholeCamera(cam.fx * sx, cam.fy * sy, (cam.cx - x0) * sx, (cam.cy - y0) * sy, w, h)
    crop = tracking.mask[y0:y1, x0:x1].astype(np.float32)
    person = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)

    def to_small(p: np.ndarray) -> np.ndarray:
        return (p - np.array([x0, y0])) * np.array([sx, sy])

    torso_faces, arm_faces = _body_and_arm_faces(body)
    uv = small.project(verts[0])
    arms = rasterize_silhouette(uv, arm_faces, (w, h)) > 0.5
    torso = rasterize_silhouette(uv, torso_faces, (w, h)) > 0.5
    k = max(3, int(0.02 * h) | 1)
    arms = cv2.dilate(arms.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    # where the fitted arms are (and the torso is not), neither silhouette counts: arms are posed, not shaped
    skip = arms & ~torso
    # the tracked arms drawn thick (SIL_ARM_BAND x shoulder width): arms touching the torso are not torso
    px = to_small(tracking.landmarks_px)
    band = np.zeros((h, w), np.uint8)
    th = max(2, int(SIL_ARM_BAND * float(np.linalg.norm(px[LM["left_shoulder"]] - px[LM["right_shoulder"]]))))
    for side in ("left", "right"):
        a, b, c = (LM[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist"))
        if min(tracking.visibility[[a, b, c]]) > 0.5:
            mid = px[a] + 0.25 * (px[b] - px[a])
            cv2.line(band, tuple(int(v) for v in mid), tuple(int(v) for v in px[b]), 1, th)
            cv2.line(band, tuple(int(v) for v in px[b]), tuple(int(v) for v in px[c]), 1, th)
    skip |= (band > 0) & ~torso
    # only the torso's rows count, shoulders to below the hips: legs and head carry pose errors, not girths
    ys = (px[LM["left_shoulder"], 1] + px[LM["right_shoulder"], 1]) / 2
    yh = (px[LM["left_hip"], 1] + px[LM["right_hip"], 1]) / 2
    rows = np.zeros((h, w), bool)
    rows[int(np.clip(ys, 0, h)) : int(np.clip(yh + SIL_BELOW_HIPS * (yh - ys), 0, h))] = True
    skip |= ~rows
    care = torch.from_numpy((~skip).astype(np.float32))
    target = diff.blur(np.where(skip, 0.0, person).astype(np.float32), SIL_SIGMA_PX)
    norm = float(target.sum()) + 1.0

    lm_idx, lm_w = body._landmark_matrix
    sel = [i for i in SIL_LANDMARKS if tracking.visibility[i] > 0.5]
    if not tracking.lower_body_visible:
        sel = [i for i in sel if i < LM["left_knee"]]
    lm_target = torch.tensor(to_small(tracking.landmarks_px[sel]), dtype=torch.float32)
    lm_i = torch.from_numpy(lm_idx[sel])
    lm_wt = torch.from_numpy(lm_w[sel])
    lm_scale = 0.02 * h  # landmark misses in units of 2 % of the box height

    V0 = torch.from_numpy(verts[0].astype(np.float32))
    J = torch.from_numpy(Jv.astype(np.float32))
    Jm_t = torch.from_numpy(Jm.astype(np.float32))
    m0_t = torch.from_numpy(m0.astype(np.float32))
    lo = torch.tensor([BOUNDS[k][0] - p0[k] for k in free])
    hi = torch.tensor([BOUNDS[k][1] - p0[k] for k in free])
    centre = torch.tensor([PRIOR_CENTRE[k] - p0[k] for k in free])
    dp = torch.zeros(len(free), requires_grad=True)
    dt = torch.zeros(3, requires_grad=True)
    tmask = torch.tensor([1.0, 1.0, 0.0])  # in-plane shift only: the distance trades off against girths
    params, lrs = [dp, dt], [0.02, 0.004]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    faces_t = torch.from_numpy(torso_faces.astype(np.int64))
    fx, fy, cx, cy = small.fx, small.fy, small.cx, small.cy
    # small tensors: one intra-op thread is several times faster than two on a busy 2-core machine (render tests)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hist = []
        for it in range(steps):
            V = V0 + torch.einsum("k,knc->nc", dp, J) + dt * tmask
            sil = diff.soft_silhouette(V, faces_t, small, sigma_px=SIL_SIGMA_PX)
            l_sil = (((sil - target) ** 2) * care).sum() / norm
            L = (V[lm_i] * lm_wt[..., None]).sum(1)
            uvl = torch.stack([cx + fx * L[:, 0] / -L[:, 2], cy - fy * L[:, 1] / -L[:, 2]], -1)
            l_lm = (((uvl - lm_target) / lm_scale) ** 2).sum(-1).mean() * 0.05 if sel else torch.zeros(())
            m = m0_t + Jm_t @ dp
            l_h = ((m[0] - height_cm) / 0.3) ** 2 * 0.01
            l_w = ((m[4] - weight_kg) / 4.0) ** 2 * 0.01 if weight_kg is not None else torch.zeros(())
            l_prior = (((dp - centre) / 0.6) ** 2).sum() * 0.002
            loss = l_sil + l_lm + l_h + l_w + l_prior
            for p in params:
                p.grad = None
            loss.backward()
            _adam_step(params, moments, it + 1, lrs)
            with torch.no_grad():
                dp.copy_(torch.maximum(torch.minimum(dp, hi), lo))
            hist.append((round(l_sil.item(), 5), round(l_lm.item(), 5), round(l_h.item(), 5)))
    finally:
        torch.set_num_threads(threads)
    ph = dict(p0)
    step = dp.detach().numpy()
    for i, k in enumerate(free):
        ph[k] = float(np.clip(p0[k] + float(step[i]), *BOUNDS[k]))
    # loss terms (silhouette, landmarks, height) at the first and last step
    return ph, {"loss_first": hist[0], "loss_last": hist[-1], "translation_m": dt.detach().tolist()}


def _adam_step(params, moments, step: int, lrs, b1: float = 0.9, b2: float = 0.999) -> None:
    """Adam by hand (torch.optim's first import pulls in torch._dynamo: seconds)."""
    import torch

    with torch.no_grad():
        for p, (m, v), lr in zip(params, moments, lrs, strict=True):
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p -= lr * (m / (1 - b1**step)) / ((v / (1 - b2**step)).sqrt() + 1e-8)


PHOTO_METHODS = ("widths", "silhouette")


def shape_from_photo(
    tracking: Tracking,
    height_cm: float,
    weight_kg: float | None = None,
    sex: str | None = None,
    rounds: int = 2,
    method: str = "widths",
) -> BodyShape:
    """Fit shape to one photo's mask and landmarks, given the person's height (which fixes the scale).
    `method`: "widths" (row widths, the default: measured more accurate, see docs/avatar.md) or "silhouette"
    (differentiable silhouette + landmarks through render/diff.py)."""
    if not tracking.present or tracking.mask is None:
        raise InputError("shape from a photo needs a tracked person with a segmentation mask")
    if method not in PHOTO_METHODS:
        raise InputError(f"unknown shape-from-photo method {method!r}", hint=f"one of {', '.join(PHOTO_METHODS)}")
    check_plausible(height_cm, weight_kg)
    t0 = time.perf_counter()
    fixed = {} if sex is None else {"gender": 1.0 if sex == "female" else 0.0}
    if weight_kg is not None:
        shape = shape_from_measurements(height_cm, weight_kg, sex=sex)
    else:
        ph, m = solve_phenotype({"height_cm": height_cm}, {"height_cm": 0.2}, fixed=fixed, iterations=5)
        shape = BodyShape(ph, measurements=m, source="photo")
    info: dict = {"method": method}
    if method == "silhouette":
        info["rounds"] = []
        for _ in range(rounds):
            ph, fit = silhouette_fit(shape, tracking, height_cm, fixed=fixed, weight_kg=weight_kg)
            info["rounds"].append(fit)
            shape = BodyShape(ph, source="photo")
        shape.measurements = measure_mesh(get_body_model().rest(shape))
    else:
        shape, widths_info = _widths_fit(shape, tracking, height_cm, weight_kg, fixed, rounds)
        info.update(widths_info)
    m = shape.measurements
    assert m is not None
    unc = {k: 4.0 for k in MEASUREMENT_KEYS}
    unc["height_cm"] = 0.5
    m.uncertainty_cm = unc
    shape.rest_vertices = get_body_model().rest(shape).vertices
    shape.source = "photo"
    info["seconds"] = time.perf_counter() - t0
    shape.fit_info = info  # type: ignore[attr-defined]
    return shape


def _widths_fit(shape, tracking, height_cm, weight_kg, fixed, rounds) -> tuple[BodyShape, dict]:
    """The row-width method. With the whole body in the picture, `_rows_fit` (widths at fractions of the body's
    image height, matched directly); with part of it (a desk, a close-up) there is no image height to scale by, so
    the girths are rescaled by person/model width ratios at the three girth rows (`_ratios_fit`). The variant used
    is named in the result."""
    if _full_body_in_view(tracking):
        shape, rows = _rows_fit(shape, tracking, height_cm, weight_kg, fixed, rounds)
        return shape, {"variant": "rows", **rows}
    shape, ratios = _ratios_fit(shape, tracking, height_cm, weight_kg, fixed, rounds)
    return shape, {"variant": "ratios", "ratios": ratios}


def _full_body_in_view(tracking: Tracking) -> bool:
    assert tracking.mask is not None
    rows = np.nonzero((tracking.mask > 0.5).any(1))[0]
    return bool(tracking.lower_body_visible and len(rows) and rows[0] > 1 and rows[-1] < tracking.mask.shape[0] - 2)


# Rows where the torso's width is measured: fractions of the body's height in the image, from just above the
# crotch (0.51; lower rows cut across both thighs, which the person's mask run does not) up to the armpits
# (0.745; higher rows run into the arms). Scaling by the body's image height instead of the landmarks makes the
# widths independent of the placement's depth: MediaPipe's shoulder-hip distance is ~5 % shorter than the model's,
# which put the model ~5 % too far away and every width ~5 % short (measured on rendered bodies).
ROW_FRACS = np.linspace(0.51, 0.745, 13)
# ... and across the shoulders and arms, where the arms always touch the torso: these rows are measured on the
# whole body (arms included) as the run of the silhouette through the body's centre, for person and model alike
FULL_ROW_FRACS = np.array([0.77, 0.79, 0.81])
# ... and each thigh on its own (the run through the middle of the thigh), below the crotch
THIGH_FRACS = np.array([0.40, 0.43])
ROW_SIGMA_PX = 2.5  # width error at the true shape, ~2 px median (pose error 1-2 px, mask ~1 px; rendered bodies)
ROW_HUBER_PX = 3.0  # rows off by more (an arm, a hand, a fold the model cannot make) count less
ROW_ITERATIONS = 8
# extra starting points of the first round (the typed-height solution is always one): bodies whose proportions
# sit at either end of anny's range are otherwise missed from the middle
ROW_STARTS = ({"proportions": 0.0}, {"proportions": 1.0})


@functools.lru_cache(maxsize=1)
def _torso_edges(body: BodyModel) -> np.ndarray:
    """Unique edges of the mesh without the arms (their row crossings give the torso's width in the image)."""
    f = _body_and_arm_faces(body)[0]
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    return np.unique(np.sort(e, 1), axis=0)


def model_row_widths(uv: np.ndarray, edges: np.ndarray, fracs: np.ndarray) -> tuple[float, np.ndarray]:
    """(image height of the body, torso width at each fraction of it), in pixels, from the projected vertices:
    edge crossings give widths that change smoothly with the shape (a Gauss-Newton Jacobian needs that)."""
    top, bottom = float(uv[:, 1].min()), float(uv[:, 1].max())
    a0, a1 = uv[edges[:, 0]], uv[edges[:, 1]]
    out = np.zeros(len(fracs))
    for i, f in enumerate(fracs):
        y = bottom - f * (bottom - top)
        c = (a0[:, 1] - y) * (a1[:, 1] - y) < 0
        if c.any():
            t = (y - a0[c, 1]) / (a1[c, 1] - a0[c, 1])
            u = a0[c, 0] + t * (a1[c, 0] - a0[c, 0])
            out[i] = float(u.max() - u.min())
    return bottom - top, out


def model_run_widths(uv: np.ndarray, faces: np.ndarray, fracs: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Width of the model's silhouette run through column cols[i] at each fraction fracs[i] of its image height:
    the union of the row spans of the triangles crossing the row, merged, and the interval containing the column."""
    top, bottom = float(uv[:, 1].min()), float(uv[:, 1].max())
    tri = uv[faces]  # (F, 3, 2)
    ty = tri[:, :, 1]
    out = np.zeros(len(fracs))
    for i, (f, cx) in enumerate(zip(fracs, cols, strict=True)):
        y = bottom - f * (bottom - top)
        hit = (ty.min(1) < y) & (ty.max(1) > y)
        t = tri[hit]
        if not len(t):
            continue
        # the triangle's span on the row: crossings of its three edges
        a, b = t, np.roll(t, -1, axis=1)
        c = (a[:, :, 1] - y) * (b[:, :, 1] - y) < 0
        w = np.where(c, (y - a[:, :, 1]) / np.where(c, b[:, :, 1] - a[:, :, 1], 1.0), np.nan)
        u = a[:, :, 0] + w * (b[:, :, 0] - a[:, :, 0])
        lo, hi = np.nanmin(u, 1), np.nanmax(u, 1)
        order = np.argsort(lo)
        lo, hi = lo[order], hi[order]
        reach = np.maximum.accumulate(hi)
        starts = np.r_[True, lo[1:] > reach[:-1]]  # a new interval where a span starts past all before it
        g_lo = lo[starts]
        g_hi = np.maximum.reduceat(hi, np.nonzero(starts)[0])
        k = np.nonzero((g_lo <= cx) & (g_hi >= cx))[0]
        if len(k):
            out[i] = float(g_hi[k[0]] - g_lo[k[0]])
    return out


def _mask_run(inside: np.ndarray, soft: np.ndarray, col: int, blocked: np.ndarray | None) -> float:
    """Soft width of the run of `inside` through column `col` of one row; NaN when `col` is outside the mask or
    the run ends at the frame edge or (within 3 px) at a `blocked` pixel: then it is not the body part's own width."""
    n = len(inside)
    if not 0 <= col < n or not inside[col]:
        return float("nan")
    left = col
    while left > 0 and inside[left - 1]:
        left -= 1
    right = col
    while right < n - 1 and inside[right + 1]:
        right += 1
    if left == 0 or right == n - 1:
        return float("nan")
    if blocked is not None and (blocked[max(0, left - 3) : left].any() or blocked[right + 1 : right + 4].any()):
        return float("nan")
    return float(soft[max(0, left - 3) : right + 4].sum())


def person_row_widths(posed, tracking: Tracking) -> tuple[float, np.ndarray, tuple[float, float]]:
    """(image height of the person, widths at ROW_FRACS + FULL_ROW_FRACS + THIGH_FRACS (left, right) with NaN where
    they cannot be seen, the thighs' columns). For the torso and thigh rows, the arms of the posed model (dilated)
    are cut out of the mask, and a run that ends at an arm is left out; the shoulder rows keep the arms. Widths are
    sums of the soft mask over the run (sub-pixel)."""
    import cv2

    body = get_body_model()
    cam = posed.camera
    assert cam is not None and tracking.mask is not None
    uv = cam.project(posed.vertices)
    size = (cam.width, cam.height)
    torso_faces, arm_faces = _body_and_arm_faces(body)
    arms = rasterize_silhouette(uv, arm_faces, size) > 0.5
    torso = rasterize_silhouette(uv, torso_faces, size) > 0.5
    k = max(3, int(0.006 * cam.height))
    arms = cv2.dilate((arms & ~torso).astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    mask = tracking.mask.astype(np.float32)
    soft = np.where(arms, 0.0, mask)
    person, whole = soft > 0.5, mask > 0.5
    rows = np.nonzero(whole.any(1))[0]
    top, bottom = float(rows[0]), float(rows[-1]) + 1.0

    def row(f: float) -> int:
        return int(np.clip(round(bottom - f * (bottom - top)), 0, cam.height - 1))

    cx = round(float(uv[:, 0].mean()))
    thighs = _thigh_columns(cam.project(posed.landmarks_cam))
    out = [_mask_run(person[row(f)], soft[row(f)], cx, arms[row(f)]) for f in ROW_FRACS]
    out += [_mask_run(whole[row(f)], mask[row(f)], cx, None) for f in FULL_ROW_FRACS]
    out += [_mask_run(person[row(f)], soft[row(f)], round(c), arms[row(f)]) for f in THIGH_FRACS for c in thighs]
    return bottom - top, np.array(out), thighs


def _thigh_columns(lm_px: np.ndarray) -> tuple[float, float]:
    """Image columns through the middle of the left and right thigh (hip and knee landmarks, averaged)."""
    return tuple(float((lm_px[LM[f"{s}_hip"], 0] + lm_px[LM[f"{s}_knee"], 0]) / 2) for s in ("left", "right"))


@functools.lru_cache(maxsize=1)
def _unpitched_bones(body: BodyModel) -> np.ndarray:
    """Bones whose pitch the photo fit takes out: all but the forearms and hands (elbows down)."""
    parents = body.parents
    arm_roots = {body.bone_index["lowerarm01.L"], body.bone_index["lowerarm01.R"]}
    keep = []
    for j in range(len(parents)):
        k = j
        while k >= 0 and k not in arm_roots:
            k = int(parents[k])
        if k < 0:
            keep.append(j)
    return np.array(keep, np.int64)


def _without_pitch(body: BodyModel, G: np.ndarray, R_p: np.ndarray, dR: np.ndarray) -> np.ndarray:
    """The pose G (anny world-orient, posed as pose_world_orient(rest, G, 0, R_p) @ dR.T) with the pitch taken out
    of every bone above the elbows: each bone's rotation from rest is turned, by the smallest rotation of its up
    axis into the image plane (the camera's x-y plane), so that head, torso, legs and upper arms keep their yaw
    and their tilt in the image and lose their lean towards or away from the camera (the rest posture's own
    curves stay). That lean comes from MediaPipe's depth: on rendered bodies it put the pelvis and torso ~8
    degrees forward (the truth: pelvis 0, chest -5 to +8), the head ~12 back and, through the 2D leg refinement's ray-sphere
    intersections (the model is placed ~4 % too far: MediaPipe's shoulder-hip distance is short), the thighs ~18
    forward. A front view cannot see it, but it changes the model's image height (the fit's scale) and where its
    rows fall: the hips came out ~2 cm wide. Forearms and hands keep theirs (bent elbows point at the camera)."""
    from avatar.pose import min_rotation

    A = (dR @ R_p).astype(np.float64)
    out = G.copy()
    for j in _unpitched_bones(body):
        R = A @ G[j].astype(np.float64)
        u = R[:, 1]
        f = np.array([u[0], u[1], 0.0])
        if np.linalg.norm(f) < 0.5:  # pointing at the camera: leave it
            continue
        out[j] = (A.T @ min_rotation(u, f) @ R).astype(G.dtype)
    return out


def _rows_fit(shape, tracking, height_cm, weight_kg, fixed, rounds) -> tuple[BodyShape, dict]:
    """Gauss-Newton on the phenotypes so that the posed model's torso widths, at the same fractions of its image
    height, match the person's (scaled by the two image heights), with the typed height (and weight) as targets.
    The pose of each round is solved for the current shape and held while the shape moves. The widths are not
    convex in the phenotypes (proportions against muscle and weight), so the first round starts from several
    points (ROW_STARTS) and keeps the best."""
    from avatar.pose import PoseSolver

    body = get_body_model()
    edges = _torso_edges(body)
    no_arm_faces = _body_and_arm_faces(body)[0]
    free = [k for k in PHENOTYPE_KEYS if k not in fixed]
    zero = np.zeros(3, np.float32)
    g = fixed.get("gender")
    prior_mu, prior_w = population_prior()["any" if g is None else "female" if g > 0.5 else "male"]

    def residuals(batch, pose, h_person, w_person, ok) -> list[np.ndarray]:
        G, R_p, dR, t, cam, thighs = pose
        thigh_fracs, thigh_cols = np.repeat(THIGH_FRACS, len(thighs)), np.tile(thighs, len(THIGH_FRACS))
        out = []
        for q, rest in zip(batch, body.rest_batch(batch), strict=True):
            m = measure_mesh(rest, body)
            v = body.pose_world_orient(rest, G, zero, R_p)[0] @ dR.T + t
            uv = cam.project(v.astype(np.float32))
            h_model, w_model = model_row_widths(uv, edges, ROW_FRACS)
            centre = np.full(len(FULL_ROW_FRACS), float(uv[:, 0].mean()))
            w_model = np.r_[
                w_model,
                model_run_widths(uv, body.faces, FULL_ROW_FRACS, centre),
                model_run_widths(uv, no_arm_faces, thigh_fracs, thigh_cols),
            ]
            r = list((w_model[ok] * h_person / h_model - w_person[ok]) / ROW_SIGMA_PX)
            r.append((m.height_cm - height_cm) / 0.2)
            if weight_kg is not None:
                r.append((float(m.weight_kg or 0.0) - weight_kg) / 3.0)
            r += [(q[k] - PRIOR_CENTRE[k]) / 0.6 for k in free if k not in PRIOR_KEYS]
            r += list(prior_w @ (np.array([q[k] for k in PRIOR_KEYS]) - prior_mu))
            out.append(np.array(r))
        return out

    def gauss_newton(p, iterations, *meas) -> tuple[dict, float, np.ndarray]:
        n = int(meas[-1].sum())
        best: tuple[float, dict, np.ndarray] | None = None
        for it in range(iterations + 1):
            batch = _fd_batch(p, free, 0.02) if it < iterations else [p]
            res = residuals(batch, *meas)
            a = np.abs(res[0][:n]) * ROW_SIGMA_PX  # Huber weights on the width rows
            wts = np.ones(len(res[0]))
            wts[:n] = np.where(a > ROW_HUBER_PX, np.sqrt(ROW_HUBER_PX / np.maximum(a, 1e-9)), 1.0)
            r0 = res[0] * wts
            if best is None or r0 @ r0 < best[0]:
                best = (float(r0 @ r0), dict(p), a)
            if it == iterations:
                break
            J = np.stack([(res[j + 1] * wts - r0) / (batch[j + 1][k] - p[k]) for j, k in enumerate(free)], 1)
            H = J.T @ J
            step = -np.linalg.solve(H + 1e-2 * np.diag(np.diag(H)) + 1e-6 * np.eye(len(free)), J.T @ r0)
            step = np.clip(step, -0.25, 0.25)
            p = dict(p)
            for j, k in enumerate(free):
                p[k] = float(np.clip(p[k] + step[j], *BOUNDS[k]))
            if np.abs(step).max() < 2e-3:
                iterations = it + 1  # converged: one more evaluation of the final point
        assert best is not None
        return best[1], best[0], best[2]

    p = dict(shape.phenotype) | fixed
    info: dict = {}
    for rnd in range(rounds):
        solver = PoseSolver(BodyShape(dict(p)), smoothing=0.0)
        posed = solver.solve(tracking)
        G, R_p, dR, t = solver.last_pose
        G = _without_pitch(body, G, R_p, dR)  # the model's widths are taken from this pose; the person's mask
        # (arm cut-out, thigh columns) from the solved one, whose limbs were refined onto the 2D landmarks
        h_person, w_person, thighs = person_row_widths(posed, tracking)
        ok = np.isfinite(w_person)
        info["rows_used"] = int(ok.sum())
        if ok.sum() < 3:  # arms over the whole torso: nothing to measure
            break
        meas = ((G, R_p, dR, t, posed.camera, thighs), h_person, w_person, ok)
        starts = [p] + ([p | {k: v for k, v in s.items() if k not in fixed} for s in ROW_STARTS] if rnd == 0 else [])
        fits = [gauss_newton(s, ROW_ITERATIONS, *meas) for s in starts]
        p, cost, a = min(fits, key=lambda f: f[1])
        info["row_residual_px_median"] = round(float(np.median(a)), 2)
        info["fit_pose"] = "pitch removed above the elbows"
        info["cost"] = round(cost, 1)
    m = measure_mesh(body.rest_batch([p])[0], body)
    return BodyShape(p, measurements=m, source="photo"), info


def _ratios_fit(shape, tracking, height_cm, weight_kg, fixed, rounds) -> tuple[BodyShape, dict[str, float]]:
    """Girths rescaled by person/model silhouette widths at the three girth rows (needs no image height)."""
    from avatar.pose import PoseSolver

    ratios_seen: dict[str, float] = {}
    for _ in range(rounds):
        solver = PoseSolver(shape, smoothing=0.0)
        posed = solver.solve(tracking)
        ratios = silhouette_ratios(posed, tracking)
        if not ratios:
            break
        ratios_seen = ratios
        m = shape.measurements or measure_mesh(get_body_model().rest(shape))
        targets = {"height_cm": float(height_cm)}
        sigmas = {"height_cm": 0.2}
        for k, r in ratios.items():
            if k == "hips_cm" and not tracking.lower_body_visible and tracking.visibility[LM["left_hip"]] < 0.5:
                continue
            targets[k] = float(getattr(m, k)) * float(np.clip(r, 0.7, 1.4))
            sigmas[k] = 1.0
        if weight_kg is not None:
            targets["weight_kg"], sigmas["weight_kg"] = float(weight_kg), 3.0
        ph, m = solve_phenotype(targets, sigmas, fixed=fixed, init=shape.phenotype, iterations=5)
        shape = BodyShape(ph, measurements=m, source="photo")
    return shape, ratios_seen


class LiveShapeEstimator:
    """Accumulates silhouette-width ratios from live frames (every `every`-th confident frame) for the first
    `seconds`, then solves once from the medians. `update()` returns the refined shape once, else None."""

    def __init__(
        self, shape: BodyShape, height_cm: float, seconds: float = 3.0, every: int = 5, max_samples: int = 30
    ) -> None:
        self.shape, self.height_cm = shape, height_cm
        self.seconds, self.every, self.max_samples = seconds, every, max_samples
        self.samples: dict[str, list[float]] = {"chest_cm": [], "waist_cm": [], "hips_cm": []}
        self.t_start: float | None = None
        self.n = 0
        self.done = False

    def update(self, tracking: Tracking, posed) -> BodyShape | None:
        if self.done or not tracking.present or tracking.mask is None or tracking.confidence < 0.6:
            return None
        t = tracking.timestamp_ms / 1000.0
        self.t_start = t if self.t_start is None else self.t_start
        self.n += 1
        if self.n % self.every == 0 and posed is not None:
            for k, r in silhouette_ratios(posed, tracking).items():
                if len(self.samples[k]) < self.max_samples:
                    self.samples[k].append(r)
        if t - self.t_start < self.seconds:
            return None
        self.done = True
        m = self.shape.measurements or measure_mesh(get_body_model().rest(self.shape))
        targets = {"height_cm": self.height_cm}
        sigmas = {"height_cm": 0.2}
        for k, rs in self.samples.items():
            if len(rs) >= 3:
                targets[k] = float(getattr(m, k)) * float(np.clip(np.median(rs), 0.7, 1.4))
                sigmas[k] = 1.0
        if len(targets) == 1:
            return None
        ph, m2 = solve_phenotype(targets, sigmas, init=self.shape.phenotype, iterations=5)
        m2.uncertainty_cm = {k: 3.0 for k in MEASUREMENT_KEYS} | {"height_cm": 0.5}
        self.shape = BodyShape(ph, rest_vertices=get_body_model().rest(ph).vertices, measurements=m2, source="live")
        return self.shape
