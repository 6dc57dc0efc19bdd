"""The learned fit model: trained on a subsample of RentTheRunway train, scored on valid through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from avatar.sizing import cli
from avatar.sizing.features import read_table
from fitmirror.errors import InputError, ModelUnavailableError, NotFoundError

EXPECTED_KEYS = {"macro_auc", "auc_small", "auc_fit", "auc_large", "macro_f1", "n"}


@pytest.fixture(scope="module")
def small_split(shared_data: Path, tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("rtr")
    train = pd.read_parquet(shared_data / "rtr-fit" / "train.parquet").sample(30_000, random_state=0)
    valid = pd.read_parquet(shared_data / "rtr-fit" / "valid.parquet").sample(6_000, random_state=0)
    train.to_parquet(d / "train.parquet")
    valid.to_parquet(d / "valid.parquet")
    return d / "train.parquet", d / "valid.parquet"


@pytest.fixture(scope="module")
def trained(small_split, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "size-model"
    assert (
        cli.main(
            [
                "train",
                "--data",
                str(small_split[0]),
                "--out",
                str(out),
                "--fast",
                "--rounds",
                "60",
                "--folds",
                "3",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    return out


def test_eval_cli_prints_misra_metrics_well_above_chance(trained, small_split, capsys):
    capsys.readouterr()
    assert cli.main(["eval", "--model", str(trained), "--data", str(small_split[1]), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert EXPECTED_KEYS <= set(res)
    assert res["n"] == 6_000
    # chance is 0.5; the published best (K-LF-ML, full data) is 0.719; a 30k-row subsample must be well above chance
    assert res["macro_auc"] > 0.70, res
    assert min(res["auc_small"], res["auc_large"]) > 0.70, res
    assert res["macro_f1"] > 0.40, res


def test_model_never_reads_post_rental_columns(trained):
    meta = json.loads((trained / "meta.json").read_text())
    used = " ".join(meta["features"])
    for banned in ("rating", "recommend", "review"):
        assert banned not in used


def test_model_reproduces_the_within_shopper_pattern(trained, small_split):
    """RTR shoppers who rent above their usual size mostly do it for items that run small, and still report
    "small" more often (34 % vs 7 % in train for >= 1 step above vs below); the model must have learned it."""
    from avatar.sizing.model import FitModel

    model = FitModel.load(trained)
    valid = read_table(small_split[1], need_label=True)
    p = model.predict_proba(valid)
    dev = model.features(valid)["size_vs_user"].to_numpy()
    up, down = dev >= 4, dev <= -4  # one RTR size step or more above / below her usual size
    assert up.sum() > 30 and down.sum() > 30
    assert p[up, 0].mean() > 1.5 * p[down, 0].mean()  # small
    assert p[down, 2].mean() > 1.5 * p[up, 2].mean()  # large


def test_clear_errors_for_missing_file_and_columns(tmp_path):
    with pytest.raises(NotFoundError):
        read_table(tmp_path / "nope.parquet", need_label=True)
    pd.DataFrame({"user_id": [1], "item_id": [2], "size": [8]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="category"):
        read_table(tmp_path / "bad.parquet", need_label=True)
    with pytest.raises(ModelUnavailableError, match="no trained size model"):
        cli.main(["eval", "--model", str(tmp_path), "--data", str(tmp_path / "bad.parquet")])


def test_item_id_advice_grows_with_the_body(trained):
    from avatar.sizing.model import FitModel
    from avatar.sizing.service import advise

    model = FitModel.load(trained)
    item = str(int(model.stats.item["n"].idxmax()))  # the most-rented item
    sizes = []
    for kg in (50, 62, 75, 90):
        out = advise({"measurements": {"height_cm": 165, "weight_kg": kg}, "product_id": item}, model_dir=trained)
        assert out["source"] == "model" and 0 < out["confidence"] <= 1
        assert "shoppers like you" in out["reason"]
        sizes.append(int(out["size"]))
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0], sizes
    zh = advise(
        {"measurements": {"height_cm": 165, "weight_kg": 60}, "product_id": item, "lang": "zh"}, model_dir=trained
    )
    assert "合身" in zh["reason"]
