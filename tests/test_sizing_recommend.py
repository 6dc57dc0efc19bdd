"""Chart-based size advice: sensible sizes for hand-made cases, preference shifts, feedback, Chinese reasons."""

from __future__ import annotations

import pytest

from avatar.sizing.charts import SIZES, demo_chart
from avatar.sizing.recommend import FitFeedback, recommend_size
from avatar.sizing.service import advise
from fitmirror.errors import ImplausibleMeasurementError, InputError, NotFoundError

AVERAGE_WOMAN = {"height_cm": 166, "weight_kg": 63, "chest_cm": 92, "waist_cm": 79, "hips_cm": 101}


def _idx(size: str) -> int:
    return SIZES.index(size)


def test_average_body_gets_the_matching_size_with_a_reason():
    a = recommend_size(AVERAGE_WOMAN, demo_chart("dress"), "dress")
    assert a.size == "M"
    assert 0.5 < a.confidence <= 1.0
    assert a.reason.startswith("M: chest fits with")
    assert set(a.ease_cm) == {"chest_cm", "waist_cm", "hips_cm"}
    assert all(r.verdict == "ok" for r in a.regions)


@pytest.mark.parametrize("category", ["dress", "tshirt", "trousers"])
def test_bigger_body_never_gets_a_smaller_size(category):
    prev = -1
    for grow in range(-12, 30, 3):
        body = {k: v + grow for k, v in AVERAGE_WOMAN.items() if k.endswith("_cm") and k != "height_cm"}
        body["inseam_cm"] = 79
        i = _idx(recommend_size(body, demo_chart(category), category).size)
        assert i >= prev, f"{category}: +{grow} cm got a smaller size"
        prev = i
    assert prev == len(SIZES) - 1  # the biggest bodies reach XXL


def test_snug_and_loose_preferences_shift_the_size():
    sizes = {
        p: _idx(recommend_size(AVERAGE_WOMAN, demo_chart("dress"), "dress", preference=p).size)
        for p in ("snug", "regular", "loose")
    }
    assert sizes["snug"] <= sizes["regular"] <= sizes["loose"]
    assert sizes["snug"] < sizes["loose"]


def test_stretch_lets_a_between_sizes_body_take_the_smaller_size():
    body = {"chest_cm": 95.5, "waist_cm": 82.5, "hips_cm": 104.5}
    rigid = recommend_size(body, demo_chart("dress"), "dress", stretch=0.0)
    stretchy = recommend_size(body, demo_chart("dress"), "dress", stretch=1.0)
    assert _idx(stretchy.size) <= _idx(rigid.size)


def test_runs_small_feedback_moves_up_and_says_why():
    fb = FitFeedback(p_small=0.40, p_large=0.05, n=200)
    a = recommend_size(AVERAGE_WOMAN, demo_chart("dress"), "dress", item_feedback=fb)
    assert a.chart_size == "M" and a.size == "L"
    assert "runs small according to other buyers, so L is safer" in a.reason
    runs_large = recommend_size(AVERAGE_WOMAN, demo_chart("dress"), "dress", item_feedback=FitFeedback(0.02, 0.45, 200))
    assert runs_large.size == "S" and "runs large" in runs_large.reason
    few = recommend_size(AVERAGE_WOMAN, demo_chart("dress"), "dress", item_feedback=FitFeedback(1.0, 0.0, 1))
    assert few.size == "M"  # one review is not enough to move a size


def test_chinese_reason():
    fb = FitFeedback(p_small=0.40, p_large=0.05, n=200)
    a = recommend_size(AVERAGE_WOMAN, demo_chart("dress"), "dress", lang="zh", item_feedback=fb)
    assert a.reason.startswith("M：胸围")
    assert "偏小" in a.reason and "所以选L更稳妥" in a.reason


def test_catalogue_product_chart_is_used():
    out = advise({"measurements": {"chest_cm": 94, "waist_cm": 84, "hips_cm": 98}, "product_id": "tee-classic"})
    assert out["size"] in {"S", "M"} and out["source"] == "chart"
    big = advise({"measurements": {"chest_cm": 118, "waist_cm": 108, "hips_cm": 112}, "product_id": "tee-classic"})
    assert _idx(big["size"]) > _idx(out["size"])


def test_bad_input_is_rejected_clearly():
    with pytest.raises(ImplausibleMeasurementError, match="chest_cm"):
        recommend_size({"chest_cm": 9}, demo_chart("dress"), "dress")
    with pytest.raises(InputError, match="preference"):
        recommend_size(AVERAGE_WOMAN, demo_chart("dress"), "dress", preference="baggy")
    with pytest.raises(InputError, match="no body measurement matches"):
        recommend_size({"height_cm": 170}, demo_chart("dress"), "dress")
    with pytest.raises(InputError, match="size_chart or product_id"):
        advise({"measurements": {"chest_cm": 90}})
    with pytest.raises(NotFoundError):
        advise({"measurements": {"chest_cm": 90}, "product_id": "no-such-thing"})
