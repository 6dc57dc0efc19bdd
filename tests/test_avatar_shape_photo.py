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
