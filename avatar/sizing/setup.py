"""Set-up step `size-model`: train the demo fit model into settings.size_model_path (fast configuration).

Imported through fitmirror.assets.EXTRA_STEP_MODULES; the training data is the RentTheRunway table in
../shared/data/rtr-fit (evaluation data, never shipped), or FITMIRROR_SIZE_TRAIN_DATA.
"""

from __future__ import annotations

import json
import time

from fitmirror.assets import SetupSkipped, Step, register_step
from fitmirror.config import SHARED_DATA, Settings
from fitmirror.errors import SetupError


def train_data_path(s: Settings):
    return s.size_train_data or SHARED_DATA / "rtr-fit" / "train.parquet"


def _done(s: Settings) -> bool:
    from avatar.sizing.model import MODEL_VERSION

    meta = s.size_model_path / "meta.json"
    if not meta.exists() or not (s.size_model_path / "booster.txt").exists():
        return False
    try:
        return json.loads(meta.read_text()).get("version") == MODEL_VERSION
    except json.JSONDecodeError:
        return False


def _run(s: Settings) -> None:
    from avatar.sizing.cli import fast_config
    from avatar.sizing.features import read_table
    from avatar.sizing.model import train_model

    path = train_data_path(s)
    if not path.exists() and s.size_train_data:
        raise SetupError(f"FITMIRROR_SIZE_TRAIN_DATA={path} does not exist", hint="fix the path or unset it")
    if not path.exists():
        # Without fit-feedback data the learned model cannot be trained; chart-based advice still works and
        # `fitmirror doctor` reports size_model as missing.
        raise SetupSkipped(
            f"training data {path} not found; size advice will use size charts only",
            hint="point FITMIRROR_SIZE_TRAIN_DATA at a RentTheRunway-format train.parquet and re-run make setup",
        )
    t0 = time.monotonic()
    print(f"[setup] size-model: training on {path} (about 1-3 minutes on 2 cores) ...", flush=True)
    model, _ = train_model(read_table(path, need_label=True), None, fast_config(), log=lambda m: print(m))
    tmp = s.size_model_path.with_name(s.size_model_path.name + ".partial")
    model.save(tmp)
    if s.size_model_path.exists():
        import shutil

        shutil.rmtree(s.size_model_path)
    tmp.replace(s.size_model_path)
    print(f"[setup] size-model ready in {time.monotonic() - t0:.0f} s: {s.size_model_path}", flush=True)


register_step(Step("size-model", _done, _run))
