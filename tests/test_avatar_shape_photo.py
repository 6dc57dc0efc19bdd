"""Shape from a photo + height through the differentiable silhouette (render/diff.py), on a real photo."""

from __future__ import annotations

import pytest

from fitmirror.errors import InputError


@pytest.fixture(scope="module")
def tracked(shared_data):
    from avatar.tracking import load_image, track_image

    return track_image(load_image(shared_data / "tryon-photos" / "persons" / "ootd__model_4.png"))


def test_silhouette_fit_matches_the_mask_better_and_keeps_the_height(tracked):
    from avatar.shape import shape_from_photo

    shape = shape_from_photo(tracked, 170.0, sex="female", method="silhouette")
    m = shape.measurements
    assert shape.fit_info["method"] == "silhouette"
    rounds = shape.fit_info["rounds"]
    assert len(rounds) == 2
    # (silhouette, landmarks, height) terms: the first round pulls the silhouette onto the mask; every round
    # lowers the total (a later round may trade a little silhouette for the height again)
    assert rounds[0]["loss_last"][0] < 0.9 * rounds[0]["loss_first"][0], rounds
    for r in rounds:
        assert sum(r["loss_last"]) < sum(r["loss_first"]), rounds
    assert abs(m.height_cm - 170.0) < 1.5
    assert 70 < m.chest_cm < 115 and 55 < m.waist_cm < 105 and 80 < m.hips_cm < 125
    assert shape.rest_vertices is not None and shape.source == "photo"


def test_unknown_photo_method_is_refused(tracked):
    from avatar.shape import shape_from_photo

    with pytest.raises(InputError, match="method"):
        shape_from_photo(tracked, 170.0, method="guess")


@pytest.fixture(scope="module")
def rendered_body():
    """A body of known shape (an ANSUR II-like woman), arms a little lowered, rendered over a plain background
    through a 60-degree camera, as in benchmarks/avatar.py."""
    import numpy as np

    from avatar.body import get_body_model, measure_mesh
    from avatar.pose import rotvec_to_matrix
    from avatar.shape import shape_from_measurements
    from avatar.types import PinholeCamera
    from render.renderer import Renderer
    from render.scene import Mesh, Scene

    body = get_body_model()
    truth = shape_from_measurements(165.0, 68.0, chest_cm=96.0, waist_cm=80.0, hips_cm=104.0, sex="female")
    cam = PinholeCamera.from_fov(600, 800, 60.0)
    G = np.repeat(np.eye(3, dtype=np.float32)[None], len(body.bone_names), 0)
    yaw = rotvec_to_matrix(np.array([0.0, np.radians(8.0), 0.0])).astype(np.float32)
    posed = body.posed_body(truth, G, np.array([0, -0.05, -2.5], np.float32), yaw, cam)
    bg = np.full((800, 600, 3), 110, np.uint8)
    r = Renderer()
    try:
        img = r.composite_ar(bg, Scene([Mesh("body", posed.vertices, posed.faces, base_color=(0.85, 0.66, 0.55))]), cam)
    finally:
        r.close()
    return img, measure_mesh(body.rest(truth), body)


def test_whole_body_photo_fits_girths_from_row_widths(rendered_body):
    from avatar.shape import shape_from_photo
    from avatar.tracking import track_image

    img, truth = rendered_body
    shape = shape_from_photo(track_image(img), truth.height_cm, sex="female")
    info, m = shape.fit_info, shape.measurements
    assert info["method"] == "widths" and info["variant"] == "rows", info
    assert info["rows_used"] >= 6 and info["row_residual_px_median"] < 2.0, info
    assert abs(m.height_cm - truth.height_cm) < 0.5
    for k in ("chest_cm", "waist_cm", "hips_cm"):
        assert abs(getattr(m, k) - getattr(truth, k)) < 4.0, (k, getattr(m, k), getattr(truth, k))


def test_cut_off_body_falls_back_to_width_ratios_and_says_so(rendered_body):
    from avatar.shape import shape_from_photo
    from avatar.tracking import track_image

    img, truth = rendered_body
    tr = track_image(img[:480].copy())  # legs cut off: there is no body height in the picture to scale by
    shape = shape_from_photo(tr, truth.height_cm, sex="female")
    assert shape.fit_info["variant"] == "ratios", shape.fit_info
    assert 70 < shape.measurements.chest_cm < 125


def test_fit_pose_loses_its_pitch_above_the_elbows_only():
    """The row fit poses the model without lean towards/away from the camera (MediaPipe's depth): every bone
    above the elbows ends with its up axis in the image plane and keeps its tilt in the image; forearms keep
    their pitch."""
    import numpy as np

    from avatar.body import get_body_model
    from avatar.pose import rotvec_to_matrix
    from avatar.shape import _unpitched_bones, _without_pitch

    body = get_body_model()
    rng = np.random.default_rng(3)
    J = len(body.bone_names)
    G = np.stack([rotvec_to_matrix(rng.normal(0, 0.3, 3)) for _ in range(J)]).astype(np.float32)
    R_p = rotvec_to_matrix(np.array([0.0, 0.4, 0.0])).astype(np.float32)
    dR = rotvec_to_matrix(np.array([0.1, 0.0, 0.05]))
    out = _without_pitch(body, G, R_p, dR)
    A = dR @ R_p
    flat = set(_unpitched_bones(body).tolist())
    forearm = body.bone_index["lowerarm01.L"]
    assert forearm not in flat and body.bone_index["upperarm01.L"] in flat and body.bone_index["upperleg01.R"] in flat
    for j in range(J):
        u0, u1 = (A @ G[j])[:, 1], (A @ out[j])[:, 1]
        if j in flat and np.hypot(u0[0], u0[1]) >= 0.5:
            assert abs(u1[2]) < 1e-5
            assert abs(np.arctan2(u1[0], u1[1]) - np.arctan2(u0[0], u0[1])) < 1e-4  # same tilt in the image
        elif j not in flat:
            np.testing.assert_allclose(out[j], G[j], atol=1e-6)
