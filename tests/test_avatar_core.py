"""Avatar stage: tracking on real photos, shape from measurements, pose over a photo, filtering, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avatar.types import LM, MEASUREMENT_KEYS
from fitmirror.errors import ImplausibleMeasurementError, InputError, NoPersonError

PHOTOS = ["ootd__model_4.png", "ootd__model_1.png", "idmvton__00034_00.jpg"]


@pytest.fixture(scope="module")
def persons(shared_data):
    return shared_data / "tryon-photos" / "persons"


@pytest.fixture(scope="module")
def tracked(persons):
    from avatar.tracking import Tracker, load_image

    out = {}
    with Tracker(video=False) as t:
        for name in PHOTOS:
            rgb = load_image(persons / name)
            out[name] = (rgb, t.track(rgb))
    return out


def test_tracking_finds_landmarks_and_mask_on_real_photos(tracked):
    for name, (rgb, tr) in tracked.items():
        h, w = rgb.shape[:2]
        assert tr.present, name
        assert tr.confidence > 0.8, name
        assert tr.landmarks_px.shape == (33, 2) and tr.landmarks_world.shape == (33, 3)
        # shoulders inside the image, left shoulder (person's left) on the image right for a frontal photo
        ls, rs = tr.landmarks_px[LM["left_shoulder"]], tr.landmarks_px[LM["right_shoulder"]]
        assert 0 < rs[0] < ls[0] < w and 0 < ls[1] < h
        assert tr.mask is not None and tr.mask.shape == (h, w)
        # the mask covers the torso centre and not the top corners
        c = ((ls + rs) / 2 + (tr.landmarks_px[LM["left_hip"]] + tr.landmarks_px[LM["right_hip"]]) / 2) / 2
        assert tr.mask[int(c[1]), int(c[0])] > 0.5
        assert tr.mask[:20, :20].mean() < 0.2
    # model_4 is full body, the VITON-HD photo is upper body only
    assert tracked["ootd__model_4.png"][1].lower_body_visible
    assert not tracked["idmvton__00034_00.jpg"][1].lower_body_visible


def test_no_person_and_bad_images(tmp_path):
    from avatar.tracking import load_image, track_image

    rng = np.random.default_rng(0)
    empty = (rng.random((480, 640, 3)) * 40 + 100).astype(np.uint8)
    with pytest.raises(NoPersonError):
        track_image(empty)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(InputError):
        load_image(bad)
    with pytest.raises(InputError):
        load_image(tmp_path / "missing.png")


def test_video_tracker_recovers_when_person_reenters(tracked):
    from avatar.tracking import Tracker

    rgb, _ = tracked["ootd__model_4.png"]
    blank = np.full_like(rgb, 180)
    seq = [rgb, rgb, blank, blank, rgb, rgb]
    with Tracker(video=True) as t:
        present = [t.track(f, timestamp_ms=i * 33.0).present for i, f in enumerate(seq)]
    assert present == [True, True, False, False, True, True]


def test_shape_from_measurements_matches_height_and_chest():
    from avatar.shape import shape_from_measurements

    s = shape_from_measurements(height_cm=178, weight_kg=82, chest_cm=104)
    m = s.measurements
    assert abs(m.height_cm - 178) < 1.0
    assert abs(m.chest_cm - 104) < 1.0
    assert abs(m.weight_kg - 82) < 5.0
    for k in MEASUREMENT_KEYS:
        assert k in m.uncertainty_cm
    # a girth that was typed is more certain than one estimated from height and weight
    assert m.uncertainty_cm["chest_cm"] < m.uncertainty_cm["waist_cm"]
    assert all(0.0 <= v <= 1.0 for v in s.phenotype.values())


def test_typed_measurements_need_no_ansur_files(monkeypatch):
    """The girth regression ships with the package (avatar/girth_regression.json): a server without
    ../shared/data (the Docker image, a Kubernetes pod) fits height + weight; the shipped coefficients are the
    ones a fresh fit on ANSUR II gives."""
    import subprocess
    import sys

    from avatar import shape

    a = shape.ansur()
    if a is not None:  # the shipped file is what scripts/fit_girth_regression.py makes from ANSUR II
        doc = json.loads(shape.GIRTH_REGRESSION_PATH.read_text())
        x = shape.GirthRegression.features(a["height_cm"], a["weight_kg"], a["female"])
        fresh = np.linalg.lstsq(x, a["hips_cm"], rcond=None)[0]
        assert np.allclose(doc["with_sex"]["coef"]["hips_cm"], fresh, rtol=1e-6, atol=1e-6)
    code = (
        "import avatar.shape as s, avatar.shape.ansur_data as raw; from pathlib import Path; "
        "raw.ANSUR_DIR = Path('/nonexistent'); "
        "assert s.ansur() is None; g, sd = s.estimate_from_height_weight(176, 80); "
        "assert 90 < g['chest_cm'] < 115 and 80 < g['waist_cm'] < 105 and 1 < sd['hips_cm'] < 6, (g, sd); "
        "r = s.shape_from_measurements(176, weight_kg=80); print(round(r.measurements.height_cm, 1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert abs(float(out.stdout.split()[-1]) - 176) < 1.0


@pytest.mark.parametrize(
    "kw",
    [
        dict(height_cm=400),
        dict(height_cm=17.5, weight_kg=70),  # metres typed as decimetres
        dict(height_cm=175, weight_kg=7),
        dict(height_cm=175, weight_kg=80, waist_cm=300),
        dict(height_cm=160, weight_kg=250),
    ],
)
def test_implausible_measurements_are_rejected(kw):
    from avatar.shape import shape_from_measurements

    with pytest.raises(ImplausibleMeasurementError) as e:
        shape_from_measurements(**kw)
    assert "range" in e.value.message or "different" in e.value.message


def test_pose_lines_up_with_photo(tracked, artifacts):
    from avatar.overlay import draw_overlay, save_png
    from avatar.pose import PoseSolver, reprojection_error_px
    from avatar.types import BodyShape

    for name in ("ootd__model_4.png", "idmvton__00034_00.jpg"):
        rgb, tr = tracked[name]
        solver = PoseSolver(BodyShape({"gender": 1.0, "height": 0.6}), smoothing=0.0)
        posed = solver.solve(tr)
        assert posed is not None
        assert posed.vertices.shape == (13718, 3) and posed.faces.dtype == np.int32
        assert (posed.vertices[:, 2] < 0).all()  # in front of the camera
        err = reprojection_error_px(posed, tr)
        assert err < 0.06 * rgb.shape[0], f"{name}: landmarks off by {err:.0f} px"
        # skinning transforms reproduce the vertices from the rest mesh
        body = solver.body
        rest = body.rest(posed.shape).vertices
        vr = np.c_[rest, np.ones(len(rest))]
        T = posed.bone_transforms[body.vertex_bone_indices]
        vs = np.einsum("nk,nkij,nj->ni", body.vertex_bone_weights, T, vr)[:, :3]
        assert np.abs(vs - posed.vertices).max() < 1e-3
        # the limb refinement turns the first pass's bone transforms; a full forward-kinematics pass over the
        # refined rotations (last_pose) gives the same body
        G, R_p, dR, t = solver.last_pose
        v_fk, _, _ = body.pose_world_orient(body.rest(posed.shape), G, np.zeros(3, np.float32), R_p)
        assert np.abs(v_fk @ dR.T + t - posed.vertices).max() < 1e-4
        save_png(draw_overlay(rgb, posed, tr), artifacts / f"avatar_pose_{name.split('.')[0]}.png")


def test_rotvec_derivatives_match_finite_differences():
    from avatar.pose import rotvec_derivatives, rotvec_to_matrix

    for r in (np.zeros(3), np.array([0.3, -0.2, 0.5]), np.array([1e-9, 0.0, 2e-9]), np.array([0.0, 3.0, 0.0])):
        for k, d in enumerate(rotvec_derivatives(r)):
            e = np.zeros(3)
            e[k] = 1e-6
            num = (rotvec_to_matrix(r + e) - rotvec_to_matrix(r - e)) / 2e-6
            assert np.abs(num - d).max() < 1e-5, (r, k)


def test_one_euro_filter_removes_jitter_at_rest_and_follows_motion():
    from avatar.pose import OneEuroFilter

    rng = np.random.default_rng(1)
    truth = np.tile(np.array([[320.0, 240.0]]), (33, 1))
    f = OneEuroFilter(min_cutoff_hz=0.6, beta=0.01)
    out = [f(truth + rng.normal(0, 3.0, truth.shape), i / 30) for i in range(90)]
    raw_jitter = 3.0
    filt = np.std(np.array(out[30:]) - truth, axis=0).mean()
    assert filt < raw_jitter / 3
    # a step of 100 px is followed within a sixth of a second
    for i in range(90, 95):
        y = f(truth + 100.0, i / 30)
    assert np.abs(y - (truth + 100)).mean() < 5


def test_cli_measure_json(capsys):
    from avatar.cli import main

    assert main(["measure", "--height-cm", "165", "--weight-kg", "58", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(MEASUREMENT_KEYS) <= set(d["measurements"])
    assert abs(d["measurements"]["height_cm"] - 165) < 1
    assert set(d["shape"]["phenotype"]) == {"gender", "age", "muscle", "weight", "height", "proportions"}


def test_cli_fit_json_and_errors(persons, tmp_path, capsys, artifacts):
    from avatar.cli import main

    rc = main(
        [
            "fit",
            "--image",
            str(persons / "ootd__model_4.png"),
            "--height-cm",
            "170",
            "--json",
            "--overlay",
            str(artifacts / "avatar_fit_model_4.png"),
        ]
    )
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["landmarks"]) == 33
    m = d["measurements"]
    assert set(MEASUREMENT_KEYS) <= set(m)
    assert abs(m["height_cm"] - 170) < 3
    assert 70 < m["chest_cm"] < 115 and 55 < m["waist_cm"] < 105 and 80 < m["hips_cm"] < 125
    blank = tmp_path / "wall.png"
    from PIL import Image

    Image.new("RGB", (640, 480), (200, 190, 180)).save(blank)
    with pytest.raises(NoPersonError):
        main(["fit", "--image", str(blank), "--height-cm", "170"])
    with pytest.raises(ImplausibleMeasurementError):
        main(["fit", "--image", str(persons / "ootd__model_4.png"), "--height-cm", "17"])


def test_shipped_ansur_ranges_are_a_fresh_build(shared_data):
    """avatar/data/ansur_ranges.json (what typed measurements are checked against on every server) is what
    scripts/build_ansur_ranges.py makes from ANSUR II today."""
    import subprocess
    import sys

    from fitmirror.config import REPO_ROOT

    out = subprocess.run(
        [sys.executable, "scripts/build_ansur_ranges.py", "--check"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
